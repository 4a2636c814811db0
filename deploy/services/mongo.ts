/**
 * The MongoDB wire protocol through FerretDB 1.x (Apache-2.0) on its SQLite backend, built
 * from the small wrapper module in ./ferretdb (see its main.go for why a wrapper). The binary
 * is cached under a key made of the FerretDB version and a hash of the wrapper's sources, so
 * that an edit of the wrapper rebuilds it.
 *
 * Known gaps of FerretDB 1.24 on SQLite, seen with the mongodb 6 driver (do not rely on them in
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
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { goBuild } from './go-build.ts';
import { cacheDir, servicesSourceDir } from './paths.ts';
import { spawnLogged } from './processes.ts';
import { withLock } from './run-command.ts';
import type { RunContext, ServiceDriver, ServiceEnv, Started } from './service.ts';
import { HEALTH_TIMEOUT_MS, MONGO } from './versions.ts';

const URL = `mongodb://127.0.0.1:${MONGO.port}/`;

function wrapperDir(): string {
  return join(servicesSourceDir(), 'ferretdb');
}

function binary(): string {
  const hash = createHash('sha256');
  for (const f of ['go.mod', 'go.sum', 'main.go']) hash.update(readFileSync(join(wrapperDir(), f)));
  return join(
    cacheDir(),
    'ferretdb',
    `${MONGO.version}-${hash.digest('hex').slice(0, 12)}`,
    'captionflow-ferretdb',
  );
}

/** The FerretDB driver. */
export const mongoDriver: ServiceDriver = {
  name: 'mongo',
  ports: [MONGO.port],
  healthTimeoutMs: HEALTH_TIMEOUT_MS.mongo,
  stopGraceMs: 5_000,

  installs: 'FerretDB, built from the Go module proxy (≈3–5 min on 2 cores)',
  installed: () => existsSync(binary()),

  async install(ctx: RunContext): Promise<void> {
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
    const pid = spawnLogged({
      cmd: binary(),
      args: [`-listen-addr=127.0.0.1:${MONGO.port}`, `-sqlite-dir=${data}/`, '-log-level=warn'],
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
