import type { EventLog } from '../ports.ts';

/** Records of `topic` the group has not committed yet, summed over partitions. */
export async function groupLag(log: EventLog, group: string, topic: string): Promise<number> {
  const [ends, committed] = await Promise.all([log.endOffsets(topic), log.committedOffsets(group, topic)]);
  let lag = 0;
  for (const [p, end] of ends) lag += Number(BigInt(end) - BigInt(committed.get(p) ?? '0'));
  return lag;
}

/**
 * Wait until every (group, topic) pair has no lag, checking again after `settleMs` so a stage
 * that is still producing into the next one is not mistaken for done. Resolves with the time
 * waited; rejects after `timeoutMs`.
 */
export async function waitForCatchUp(
  log: EventLog,
  pairs: readonly { group: string; topic: string }[],
  options: { timeoutMs?: number; pollMs?: number; settleMs?: number; onPoll?: (lag: number) => void } = {},
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 600_000);
  const poll = options.pollMs ?? 200;
  let quietSince: number | undefined;
  for (;;) {
    let total = 0;
    for (const { group, topic } of pairs) total += await groupLag(log, group, topic);
    options.onPoll?.(total);
    if (total === 0) {
      quietSince ??= Date.now();
      if (Date.now() - quietSince >= (options.settleMs ?? 500)) return;
    } else quietSince = undefined;
    if (Date.now() > deadline) throw new Error(`pipeline did not catch up in time (lag ${total})`);
    await new Promise((r) => setTimeout(r, poll));
  }
}
