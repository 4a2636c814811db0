/**
 * The end-of-run summary for people: one table of what the main job did. Scripts get JSON
 * (`--json`, or whenever stdout is not a terminal).
 */

/** What the main job reports (PipelineJobSummary plus the training outcome), as printed. */
export interface PipelineResult {
  readonly imported: number;
  readonly alreadyInLake: number;
  readonly skippedEarlier: number;
  readonly importFailed: number;
  readonly statuses: Readonly<Record<string, number>>;
  readonly splits: Readonly<Record<string, number>>;
  readonly deadLetters: number;
  readonly dataset: { readonly id: string; readonly created: boolean; readonly counts: Readonly<Record<string, number>> };
  readonly training?: {
    readonly status: string;
    readonly reason?: string | undefined;
    readonly candidate?: string | undefined;
    readonly champion?: string | null | undefined;
    readonly trainSeconds?: number | undefined;
    readonly candidateTest?: Readonly<Record<string, number>> | undefined;
  };
}

/** Rows of `label  value`, aligned. */
function table(title: string, rows: readonly (readonly [string, string])[]): string {
  const width = Math.max(...rows.map(([k]) => k.length));
  return [`${title}`, ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`)].join('\n');
}

const fmt = (n: number | undefined, digits = 3): string => (n === undefined ? '–' : n.toFixed(digits));

/** The summary table of a main-job run. */
export function pipelineSummaryTable(r: PipelineResult): string {
  const rows: [string, string][] = [
    ['imported', `${r.imported} new, ${r.alreadyInLake + r.skippedEarlier} already in the lake, ${r.importFailed} failed`],
    ['lake', Object.entries(r.statuses).map(([k, v]) => `${k} ${v}`).join(', ')],
    ['splits', Object.entries(r.splits).map(([k, v]) => `${k} ${v}`).join(', ')],
    ['dead letters', String(r.deadLetters)],
    ['dataset', `${r.dataset.id} (${r.dataset.created ? 'new' : 'unchanged'}; ${r.dataset.counts.total ?? 0} items, ${r.dataset.counts.captions ?? 0} captions)`],
  ];
  if (r.training !== undefined) {
    const t = r.training;
    const m = t.candidateTest;
    rows.push(['training', `${t.status}${t.reason === undefined ? '' : ` — ${t.reason}`}`]);
    if (t.candidate !== undefined) rows.push(['candidate', `${t.candidate}${t.trainSeconds === undefined ? '' : ` (trained in ${Math.round(t.trainSeconds)} s)`}`]);
    if (m !== undefined) rows.push(['test metrics', `BLEU-4 ${fmt(m.bleu4)}  CIDEr-D ${fmt(m.ciderD)}  ROUGE-L ${fmt(m.rougeL)}  (n=${m.n ?? '?'})`]);
    if (t.champion !== undefined && t.champion !== null) rows.push(['champion', t.champion]);
  }
  return `${table('captionflow pipeline', rows)}\n`;
}

/** What a person can do once `npm start` keeps running: the URLs and three things to try. */
export function whatToTry(url: string, apiKeyFile: string | null): string {
  const key = apiKeyFile === null ? '$CAPTIONFLOW_API_KEY' : `$(cat ${apiKeyFile})`;
  return [
    '',
    `captionflow is running at ${url} — Ctrl-C drains and stops; the next start resumes where it stopped.`,
    apiKeyFile === null ? '' : `  API key: in ${apiKeyFile} (generated for this data directory; set CAPTIONFLOW_API_KEYS to use your own)`,
    '',
    'Try:',
    `  1. caption an image:              curl -H "x-api-key: ${key}" -F image=@photo.jpg ${url}/v1/captions`,
    `  2. send a mobile capture:         curl -H "x-api-key: ${key}" -F image=@photo.jpg -F 'metadata={"deviceId":"phone-1","clientCaptureId":"c1","capturedAt":"2026-12-03T10:00:00Z"}' ${url}/v1/captures`,
    `  3. open the lake dashboard:       ${url}/#key=<the API key>   (the lake over HTTP: ${url}/v1/lake/summary; Prometheus: ${url}/metrics)`,
    `  and print the whole pipeline:     npx captionflow describe`,
    '',
  ]
    .filter((line, i, all) => !(line === '' && all[i - 1] === ''))
    .join('\n');
}
