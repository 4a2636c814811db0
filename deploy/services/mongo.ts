/**
 * The MongoDB wire protocol through FerretDB 1.x (Apache-2.0), built from the small wrapper
 * module in ./ferretdb (see its main.go for why a wrapper). The binary is cached under a key made
 * of the FerretDB version and a hash of the wrapper's sources, so that an edit of the wrapper
 * rebuilds it.
 *
 * Backend: PostgreSQL by default (Debian's server, started by the wrapper as a child in the run
 * folder, durability off: test data), where FerretDB pushes equality filters and indexes down to
 * SQL; on its SQLite backend every statement scans its collection, which made a 2,000-image
 * replica run crawl (a micro-benchmark at 3,000 documents: inserts 9/s on SQLite against ≈900/s
 * on PostgreSQL, lookups by an indexed field 13/s against ≈130/s, on a loaded machine).
 * `CF_FERRETDB_BACKEND=sqlite` selects the SQLite backend (no PostgreSQL needed).
 *
 * Known gaps of FerretDB 1.24, seen with the mongodb 6 driver (do not rely on them in
 * integration tests; the MongoDB adapter must not need them):
 * - multi-document transactions (`insert: unknown field "autocommit"`), change streams
 *   (`$changeStream` not implemented);
 * - aggregation stages `$lookup`, `$facet`, `$sortByCount`; accumulators `$avg`, `$max`,
 *   `$min`, `$push`; expression operators such as `$multiply` in `$project`;
 * - a `$group` with several `$sum` accumulators computes only the first, the others are 0
 *   (one accumulator per `$group` is right).
 * Works: CRUD, filters, projection, sort, unique indexes (duplicate key 11000), `$match`,
 * `$group` with one `$sum` (1 or a field), `$count`, `$addFields`, `$unwind`, `$sort`.
 */
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { MongoClient } from 'mongodb';
import { ensureDebianPackage } from './apt.ts';
import { goBuild } from './go-build.ts';
import { cacheDir, servicesSourceDir } from './paths.ts';
import { spawnLogged } from './processes.ts';
import { withLock } from './run-command.ts';
import type { RunContext, ServiceDriver, ServiceEnv, Started } from './service.ts';
import { DEBIAN, HEALTH_TIMEOUT_MS, MONGO } from './versions.ts';

const URL = `mongodb://127.0.0.1:${MONGO.port}/`;

function wrapperDir(): string {
  return join(servicesSourceDir(), 'ferretdb');
}

function binary(): string {
  const hash = createHash('sha256');
  for (const f of ['go.mod', 'go.sum', 'main.go', 'postgres.go']) hash.update(readFileSync(join(wrapperDir(), f)));
  return join(
    cacheDir(),
    'ferretdb',
    `${MONGO.version}-${hash.digest('hex').slice(0, 12)}`,
    'captionflow-ferretdb',
  );
}

/** FerretDB's storage: PostgreSQL unless `CF_FERRETDB_BACKEND=sqlite`. */
function backend(): 'postgresql' | 'sqlite' {
  const chosen = process.env['CF_FERRETDB_BACKEND'] ?? 'postgresql';
  if (chosen !== 'postgresql' && chosen !== 'sqlite')
    throw new Error(`CF_FERRETDB_BACKEND must be postgresql or sqlite, not ${chosen}`);
  return chosen;
}

/** The FerretDB driver. */
export const mongoDriver: ServiceDriver = {
  name: 'mongo',
  ports: [MONGO.port, MONGO.postgresPort],
  healthTimeoutMs: HEALTH_TIMEOUT_MS.mongo,
  stopGraceMs: 5_000,

  installs: 'FerretDB, built from the Go module proxy (≈3–5 min on 2 cores), and PostgreSQL from Debian when missing',
  installed: () => existsSync(binary()) && (backend() === 'sqlite' || existsSync(DEBIAN.postgresql.binary)),

  async install(ctx: RunContext): Promise<void> {
    if (backend() === 'postgresql') await ensureDebianPackage(DEBIAN.postgresql.pkg, DEBIAN.postgresql.binary);
    const bin = binary();
    if (existsSync(bin)) return;
    await withLock(join(cacheDir(), 'go.lock'), async () => {
      if (existsSync(bin)) return;
      await goBuild(wrapperDir(), '.', bin, ctx.installLog);
    });
  },

  start(ctx: RunContext): Promise<Started> {
    const data = join(ctx.runDir, 'data');
    mkdirSync(data, { recursive: true });
    // The PostgreSQL server drops root for the `postgres` user, which must reach its data folder.
    chmodSync(ctx.runDir, 0o755);
    chmodSync(data, 0o755);
    const storage =
      backend() === 'sqlite'
        ? [`-sqlite-dir=${data}/`]
        : [
            `-postgres-bin=${dirname(DEBIAN.postgresql.binary)}`,
            `-postgres-data=${join(data, 'postgresql')}`,
            `-postgres-port=${MONGO.postgresPort}`,
          ];
    const pid = spawnLogged({
      cmd: binary(),
      args: [`-listen-addr=127.0.0.1:${MONGO.port}`, ...storage, '-log-level=warn'],
      cwd: ctx.runDir,
      logFile: ctx.logFile,
      detached: true,
    });
    return Promise.resolve({ pid });
  },

  async healthy(): Promise<boolean> {
    const client = new MongoClient(URL, { serverSelectionTimeoutMS: 2_000, directConnection: true });
    try {
      await client.connect();
      const res = await client.db('admin').command({ ping: 1 });
      return res['ok'] === 1;
    } finally {
      await client.close();
    }
  },

  env(): ServiceEnv {
    return { CF_MONGO_URL: URL };
  },
};
