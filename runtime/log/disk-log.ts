import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import type { Headers } from '../ports.ts';
import type { AppendRecord, LocalLogOptions, LogStorage, StoredRecord } from './local-log.ts';
import { LocalEventLog } from './local-log.ts';

/**
 * When the embedded log forces data to disk.
 * - `always`: every append and commit is fsynced before it is acknowledged (survives power loss).
 * - `batch`: WAL without per-transaction fsync; the OS holds acknowledged writes, so they survive a
 *   process crash (kill -9) but the last moments may be lost on power loss. Checkpoints fsync.
 */
export type FsyncPolicy = 'always' | 'batch';

/** Options of the disk log. */
export interface DiskLogOptions extends LocalLogOptions {
  /** Directory holding `log.sqlite` (created if missing). */
  readonly dir: string;
  readonly fsync?: FsyncPolicy;
  /** Records older than this are deleted by `compact()` (segments of the log); undefined keeps all. */
  readonly retentionMs?: number;
}

interface RecordRow {
  offset: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: string;
  ts: number;
}

/**
 * The embedded default's durable log: SQLite in WAL mode (better-sqlite3). Chosen over a
 * hand-rolled segment file format because SQLite's WAL gives atomic multi-record appends,
 * crash recovery and offsets in the same transaction for free; `tests/bench/disk-log.ts`
 * measures it.
 */
class SqliteStorage implements LogStorage {
  private readonly db: Database.Database;
  private readonly partitions = new Map<string, number>();
  private readonly ends = new Map<string, number>();
  private readonly stmts;

  constructor(options: DiskLogOptions) {
    mkdirSync(options.dir, { recursive: true });
    this.db = new Database(join(options.dir, 'log.sqlite'));
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${options.fsync === 'always' ? 'FULL' : 'NORMAL'}`);
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS topics (name TEXT PRIMARY KEY, partitions INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS records (
        topic TEXT NOT NULL, partition INTEGER NOT NULL, offset INTEGER NOT NULL,
        key BLOB, value BLOB, headers TEXT NOT NULL, ts INTEGER NOT NULL,
        PRIMARY KEY (topic, partition, offset)) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS offsets (
        grp TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL, offset INTEGER NOT NULL,
        PRIMARY KEY (grp, topic, partition));
    `);
    this.stmts = {
      insert: this.db.prepare(
        'INSERT INTO records (topic, partition, offset, key, value, headers, ts) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      read: this.db.prepare(
        'SELECT offset, key, value, headers, ts FROM records WHERE topic = ? AND partition = ? AND offset >= ? ORDER BY offset LIMIT ?',
      ),
      end: this.db.prepare('SELECT MAX(offset) AS o FROM records WHERE topic = ? AND partition = ?'),
      start: this.db.prepare('SELECT MIN(offset) AS o FROM records WHERE topic = ? AND partition = ?'),
      committed: this.db.prepare('SELECT offset FROM offsets WHERE grp = ? AND topic = ? AND partition = ?'),
      commit: this.db.prepare(
        'INSERT INTO offsets (grp, topic, partition, offset) VALUES (?, ?, ?, ?) ON CONFLICT (grp, topic, partition) DO UPDATE SET offset = excluded.offset',
      ),
    };
    for (const row of this.db.prepare('SELECT name, partitions FROM topics').all() as { name: string; partitions: number }[]) {
      this.partitions.set(row.name, row.partitions);
    }
  }

  topicPartitions(topic: string): number | undefined {
    return this.partitions.get(topic);
  }

  createTopic(topic: string, partitions: number): void {
    this.db.prepare('INSERT OR IGNORE INTO topics (name, partitions) VALUES (?, ?)').run(topic, partitions);
    const row = this.db.prepare('SELECT partitions FROM topics WHERE name = ?').get(topic) as { partitions: number };
    this.partitions.set(topic, row.partitions);
  }

  appendBatch(entries: readonly { topic: string; partition: number; records: readonly AppendRecord[] }[]): number[][] {
    const tx = this.db.transaction(() =>
      entries.map((e) => {
        let next = this.endOffset(e.topic, e.partition);
        const offsets = e.records.map((r) => {
          const offset = next++;
          this.stmts.insert.run(e.topic, e.partition, offset, r.key, r.value, JSON.stringify(r.headers), r.timestamp);
          return offset;
        });
        return { e, next, offsets };
      }),
    );
    try {
      const results = tx();
      // Cached ends are updated only once the transaction committed.
      for (const r of results) this.ends.set(`${r.e.topic}\u0000${r.e.partition}`, r.next);
      return results.map((r) => r.offsets);
    } catch (err) {
      this.ends.clear();
      throw new PipelineError(ErrorCodes.STORAGE_UNAVAILABLE, 'disk log append failed', { retriable: true, cause: err });
    }
  }

  read(topic: string, partition: number, fromOffset: number, max: number): StoredRecord[] {
    const rows = this.stmts.read.all(topic, partition, fromOffset, Math.min(max, 1_000_000)) as RecordRow[];
    return rows.map((r) => ({
      offset: r.offset,
      key: r.key,
      value: r.value,
      headers: JSON.parse(r.headers) as Headers,
      timestamp: r.ts,
    }));
  }

  endOffset(topic: string, partition: number): number {
    const id = `${topic}\u0000${partition}`;
    const cached = this.ends.get(id);
    if (cached !== undefined) return cached;
    const row = this.stmts.end.get(topic, partition) as { o: number | null };
    // An empty partition whose records were all compacted away keeps its end in `offsets` of the
    // special group '' so offsets never go backwards.
    const floor = this.committed('', topic, partition) ?? 0;
    const end = Math.max(row.o === null ? 0 : row.o + 1, floor);
    this.ends.set(id, end);
    return end;
  }

  startOffset(topic: string, partition: number): number {
    const row = this.stmts.start.get(topic, partition) as { o: number | null };
    return row.o ?? this.endOffset(topic, partition);
  }

  committed(group: string, topic: string, partition: number): number | undefined {
    const row = this.stmts.committed.get(group, topic, partition) as { offset: number } | undefined;
    return row?.offset;
  }

  commit(group: string, topic: string, partition: number, offset: number): void {
    this.stmts.commit.run(group, topic, partition, offset);
  }

  /** Delete records older than `before` (ms), keeping each partition's last record so offsets never reset. */
  compact(before: number): number {
    let deleted = 0;
    const tx = this.db.transaction(() => {
      for (const [topic, partitions] of this.partitions) {
        for (let p = 0; p < partitions; p++) {
          const end = this.endOffset(topic, p);
          this.commit('', topic, p, end);
          deleted += this.db
            .prepare('DELETE FROM records WHERE topic = ? AND partition = ? AND ts < ? AND offset < ?')
            .run(topic, p, before, end - 1).changes;
        }
      }
    });
    tx();
    return deleted;
  }

  close(): void {
    if (this.db.open) {
      this.db.pragma('wal_checkpoint(TRUNCATE)');
      this.db.close();
    }
  }
}

/** The embedded durable log (disk backend) with its retention. */
export class DiskEventLog extends LocalEventLog {
  constructor(private readonly diskOptions: DiskLogOptions) {
    super('disk', new SqliteStorage(diskOptions), diskOptions);
  }

  /** Apply retention now: delete records older than `retentionMs`. Returns how many were deleted. */
  compact(now = Date.now()): number {
    if (this.diskOptions.retentionMs === undefined) return 0;
    return (this.storage as SqliteStorage).compact(now - this.diskOptions.retentionMs);
  }
}

/** Open (or create) the embedded durable log in `options.dir`. */
export function createDiskLog(options: DiskLogOptions): DiskEventLog {
  return new DiskEventLog(options);
}
