/**
 * Job leases and trigger claims, written once against the {@link DocumentStore} interface so
 * SQLite and the MongoDB wire (FerretDB included) share them. They are what keeps one run of a
 * job at a time across every replica of a deployment.
 *
 * Why insert-if-absent and not compare-and-set on one lease document: FerretDB's conditional
 * updates are not atomic under concurrency (README.md), so two replicas could both "win" a CAS.
 * Its inserts of an existing id fail reliably, on every backend. So a lease is a chain of
 * documents, one per tenure: `<job>#<epoch>`. Taking the lease means inserting the next epoch
 * after reading that the newest one is released or expired; of two replicas racing for the same
 * epoch exactly one insert succeeds. Only the holder ever writes its own epoch document
 * (heartbeats and the release), so those single-writer updates need no atomicity either.
 *
 * A heartbeat refuses to renew a lease it finds already expired (someone may have read it as
 * expired and taken the next epoch), and after writing it checks that no next epoch exists: a
 * holder that was paused past its expiry learns at its next heartbeat that it lost the lease.
 * As with every lease, this assumes the replicas' clocks agree to well within the TTL.
 *
 * `job_triggers` holds claims on trigger keys (a cron slot, an event id): insert-only, so of
 * several replicas firing the same cron slot or handling the same event, one runs it.
 */
import { canonicalJson, contentHash, type JsonValue } from './canonical-json.ts';
import type { DocumentCollection } from './document-store.ts';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';

/** The collections of leases and trigger claims and the fields each one is queried by. */
export const JOB_LEASE_COLLECTIONS = {
  leases: { name: 'job_leases', indexes: [['job', 'epoch']] },
  triggers: { name: 'job_triggers', indexes: [['job', 'claimedAt']] },
} as const;

/** One tenure of a job's lease. */
export interface JobLease {
  readonly job: string;
  /** 1, 2, …: one per tenure; the document id is `<job>#<epoch, 10 digits>`. */
  readonly epoch: number;
  /** Who holds it (a replica id). */
  readonly holder: string;
  /** The run the lease was taken for. */
  readonly runId: string;
  /** Epoch milliseconds. */
  readonly acquiredAt: number;
  readonly expiresAt: number;
  /** Set by the holder when it let go; null while held. */
  readonly releasedAt: number | null;
}

/** The result of {@link JobLeaseRepository.acquire}. */
export type AcquireResult =
  | { readonly acquired: true; readonly lease: JobLease; readonly previous: JobLease | null }
  | { readonly acquired: false; readonly heldBy: JobLease | null };

/** A claim on a trigger key. */
export interface TriggerClaim {
  readonly job: string;
  readonly key: string;
  readonly holder: string;
  readonly runId: string;
  /** Epoch milliseconds. */
  readonly claimedAt: number;
}

/** Leases (one holder per job at a time, with expiry) and trigger claims (each key runs once). */
export interface JobLeaseRepository {
  /**
   * Take `job`'s lease for `ttlMs` from `now` unless a live lease exists (or another replica took
   * the same epoch first). `previous` is the tenure taken over (released or expired).
   */
  acquire(job: string, holder: string, runId: string, ttlMs: number, now: number): Promise<AcquireResult>;
  /**
   * Extend a held lease to `now + ttlMs`: the renewed lease, or null when it was lost (it had
   * expired, or a later epoch exists). Only the holder calls this.
   */
  renew(lease: JobLease, ttlMs: number, now: number): Promise<JobLease | null>;
  /** Let go of a held lease (no-op when it was lost meanwhile). */
  release(lease: JobLease, now: number): Promise<void>;
  /** The newest tenure of `job`, held or not. */
  current(job: string): Promise<JobLease | null>;
  /** Claim trigger `key` of `job`; false when it was claimed before (by anyone). */
  claim(claim: TriggerClaim): Promise<boolean>;
  /** Claims of `job`, newest first. */
  claims(job: string, limit?: number): Promise<TriggerClaim[]>;
}

/** Leases and claims over their two collections. */
export interface JobLeaseCollections {
  readonly leases: DocumentCollection;
  readonly triggers: DocumentCollection;
}

const JOB_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

function checkJob(job: string): void {
  if (!JOB_NAME.test(job)) {
    throw new PipelineError(ErrorCodes.CATALOG_RECORD_INVALID, `invalid job name ${JSON.stringify(job)}`, { context: { field: 'job', value: job } });
  }
}

function checkTtl(ttlMs: number): void {
  if (!Number.isInteger(ttlMs) || ttlMs < 1) {
    throw new PipelineError(ErrorCodes.CATALOG_RECORD_INVALID, `lease ttl must be a positive integer of ms, got ${ttlMs}`, { context: { field: 'ttlMs', value: ttlMs } });
  }
}

function leaseId(job: string, epoch: number): string {
  return `${job}#${String(epoch).padStart(10, '0')}`;
}

function toDoc(record: object): Record<string, JsonValue> {
  return JSON.parse(canonicalJson(record)) as Record<string, JsonValue>;
}

function leaseOf(doc: Record<string, JsonValue>): JobLease {
  const d = doc as unknown as JobLease;
  return { job: d.job, epoch: d.epoch, holder: d.holder, runId: d.runId, acquiredAt: d.acquiredAt, expiresAt: d.expiresAt, releasedAt: d.releasedAt ?? null };
}

function live(lease: JobLease, now: number): boolean {
  return lease.releasedAt === null && lease.expiresAt > now;
}

/** The repository over its collections. */
export function jobLeaseRepository(colls: JobLeaseCollections): JobLeaseRepository {
  const { leases, triggers } = colls;

  async function current(job: string): Promise<JobLease | null> {
    const rows = await leases.find({ where: { job }, orderBy: [{ field: 'epoch', dir: 'desc' }], limit: 1 });
    const head = rows[0];
    return head === undefined ? null : leaseOf(head.doc);
  }

  async function write(lease: JobLease): Promise<boolean> {
    const id = leaseId(lease.job, lease.epoch);
    const stored = await leases.get(id);
    if (stored === null) return false;
    const doc = toDoc({ id, ...lease });
    // Single writer (the holder): the CAS only guards against a stale read of our own document.
    return leases.replace(id, doc, contentHash(doc), stored.rev);
  }

  return {
    current(job) {
      checkJob(job);
      return current(job);
    },
    async acquire(job, holder, runId, ttlMs, now) {
      checkJob(job);
      checkTtl(ttlMs);
      const head = await current(job);
      if (head !== null && live(head, now)) return { acquired: false, heldBy: head };
      const lease: JobLease = { job, epoch: (head?.epoch ?? 0) + 1, holder, runId, acquiredAt: now, expiresAt: now + ttlMs, releasedAt: null };
      const id = leaseId(job, lease.epoch);
      const doc = toDoc({ id, ...lease });
      if (await leases.insert(id, doc, contentHash(doc))) return { acquired: true, lease, previous: head };
      // Another replica inserted this epoch first.
      return { acquired: false, heldBy: await current(job) };
    },
    async renew(lease, ttlMs, now) {
      checkTtl(ttlMs);
      if (lease.expiresAt <= now) return null;
      if ((await leases.get(leaseId(lease.job, lease.epoch + 1))) !== null) return null;
      const renewed: JobLease = { ...lease, expiresAt: now + ttlMs };
      if (!(await write(renewed))) return null;
      // A replica that read the old expiry just before our write may have taken the next epoch.
      return (await leases.get(leaseId(lease.job, lease.epoch + 1))) === null ? renewed : null;
    },
    async release(lease, now) {
      if ((await leases.get(leaseId(lease.job, lease.epoch + 1))) !== null) return;
      await write({ ...lease, releasedAt: now });
    },
    async claim(c) {
      checkJob(c.job);
      const id = `${c.job}@${c.key}`;
      const doc = toDoc({ id, ...c });
      return triggers.insert(id, doc, contentHash(doc));
    },
    async claims(job, limit = 100) {
      checkJob(job);
      const rows = await triggers.find({ where: { job }, orderBy: [{ field: 'claimedAt', dir: 'desc' }], limit });
      return rows.map((r) => {
        const d = r.doc as unknown as TriggerClaim;
        return { job: d.job, key: d.key, holder: d.holder, runId: d.runId, claimedAt: d.claimedAt };
      });
    },
  };
}
