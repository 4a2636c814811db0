/**
 * The smallest Trino client: POST the statement to `/v1/statement`, follow `nextUri` until the
 * query ends, collect columns and rows. Our own because that protocol is two requests in a loop
 * and the tests need nothing else (no auth, no sessions); a failed query throws its message.
 */

/** The answer of one statement. */
export interface TrinoResult {
  readonly columns: string[];
  readonly rows: unknown[][];
}

interface Page {
  nextUri?: string;
  columns?: { name: string }[];
  data?: unknown[][];
  error?: { message: string; errorName?: string };
}

/** Run `sql` on the Trino server at `url` as user `captionflow`. */
export async function trinoQuery(url: string, sql: string, timeoutMs = 120_000): Promise<TrinoResult> {
  const deadline = AbortSignal.timeout(timeoutMs);
  const headers = { 'X-Trino-User': 'captionflow', 'X-Trino-Source': 'captionflow-tests' };
  let res = await fetch(`${url}/v1/statement`, { method: 'POST', body: sql, headers, signal: deadline });
  const out: TrinoResult = { columns: [], rows: [] };
  for (;;) {
    if (!res.ok) throw new Error(`trino: HTTP ${res.status}: ${await res.text()}`);
    const page = (await res.json()) as Page;
    if (page.error !== undefined)
      throw new Error(`trino: ${page.error.errorName ?? 'error'}: ${page.error.message}\n${sql}`);
    if (page.columns !== undefined && out.columns.length === 0)
      out.columns.push(...page.columns.map((c) => c.name));
    if (page.data !== undefined) out.rows.push(...page.data);
    if (page.nextUri === undefined) return out;
    res = await fetch(page.nextUri, { headers, signal: deadline });
  }
}
