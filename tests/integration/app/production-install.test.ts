/**
 * The package as a user gets it: `npm pack` (which builds dist/), unpacked into a temp folder,
 * installed with `npm ci --omit=dev` beside the repo's lockfile (npm's cache keeps it offline),
 * then `captionflow run` started through the package's bin on plain Node. An image uploaded
 * through the HTTP door must reach gold, and SIGTERM must stop the process cleanly. This is
 * the one test that would notice code needing tsx, a devDependency or a file left out of the
 * package at run time.
 *
 * Gold is read from the data directory with the project's own SQLite catalog adapter (there is
 * no HTTP route for an image's status): the same code the installed process writes it with.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { openSqliteCatalog } from '../../../runtime/catalog/sqlite-catalog.ts';
import type { Catalog } from '../../../runtime/catalog/catalog.ts';
import { generateScene } from '../../../processors/synthetic/index.ts';
import { deferrer } from '../../fixtures/defer.ts';
import { REPO_ROOT } from '../../fixtures/run-command.ts';
import { freePort, outputTail } from '../../fixtures/child-process.ts';

const MINUTE = 60_000;

/**
 * The environment of the commands this test starts: without what an outer `npm test` or tsx
 * put there about *this* checkout (lifecycle and package variables, loader flags), so the
 * installed package runs on nothing but its own files.
 */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^npm_(lifecycle|package)_/.test(k) || k === 'NODE_OPTIONS' || k.startsWith('CAPTIONFLOW_')) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

/** Run a command to completion; a failure names the command and shows its output's tail. */
async function sh(command: string, args: readonly string[], cwd: string, timeoutMs: number): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)(command, [...args], {
      cwd,
      env: cleanEnv(),
      timeout: timeoutMs,
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout;
  } catch (err) {
    const e = err as { message: string; stdout?: string; stderr?: string };
    throw new Error(
      `${command} ${args.join(' ')} (in ${cwd}) failed: ${e.message}\n--- stdout tail ---\n${(e.stdout ?? '').slice(-3000)}\n--- stderr tail ---\n${(e.stderr ?? '').slice(-3000)}`,
    );
  }
}


/** Poll `check` until it returns a value; fail with `what`, the child's state and its output otherwise. */
async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  options: { timeoutMs: number; child: ChildProcess; tail: () => string },
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    if (options.child.exitCode !== null || options.child.signalCode !== null) {
      throw new Error(
        `captionflow exited (code ${String(options.child.exitCode)}, signal ${String(options.child.signalCode)}) while waiting for ${what}\n--- output tail ---\n${options.tail()}`,
      );
    }
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const lastError = last === undefined ? '' : ` (last error: ${(last as Error).message})`;
  throw new Error(
    `timed out after ${options.timeoutMs / 1000}s waiting for ${what}${lastError}\n--- output tail ---\n${options.tail()}`,
  );
}

test(
  'the packed package, installed without devDependencies, runs `captionflow run` and takes an upload to gold',
  { timeout: 30 * MINUTE },
  async (t) => {
    const defer = deferrer(t);
    const work = mkdtempSync(join(tmpdir(), 'cf-production-install-'));
    defer(() => rmSync(work, { recursive: true, force: true }));

    // Pack: prepack builds dist/ first, so this is what `npm publish` would ship.
    await sh('npm', ['pack', '--pack-destination', work, '--silent'], REPO_ROOT, 10 * MINUTE);
    const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
    assert.ok(tarball !== undefined, `npm pack wrote no .tgz into ${work}: ${readdirSync(work).join(', ')}`);
    const unpacked = join(work, 'unpacked');
    mkdirSync(unpacked);
    await sh('tar', ['-xzf', join(work, tarball), '-C', unpacked], work, MINUTE);
    const pkg = join(unpacked, 'package');
    for (const source of ['app', 'runtime', 'tests', 'scripts', 'deploy', 'trainer/tests']) {
      assert.equal(existsSync(join(pkg, source)), false, `the package must not ship ${source}/`);
    }

    // Install as production does; the lockfile is not in the package, so it is copied beside it.
    copyFileSync(join(REPO_ROOT, 'package-lock.json'), join(pkg, 'package-lock.json'));
    await sh('npm', ['ci', '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund'], pkg, 20 * MINUTE);
    assert.equal(
      existsSync(join(pkg, 'node_modules', 'tsx')),
      false,
      'tsx must not be installed by npm ci --omit=dev',
    );
    // What the lockfile marks dev-only (devDependencies and what only they need; @types/node, say,
    // is also a production dependency of protobufjs, so it may stay).
    const lock = JSON.parse(readFileSync(join(pkg, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { dev?: boolean }>;
    };
    const presentDev = Object.entries(lock.packages)
      .filter(([path, entry]) => entry.dev === true && existsSync(join(pkg, path)))
      .map(([path]) => path);
    assert.deepEqual(presentDev, [], 'no dev-only package may be installed');

    // Run: embedded mode under a fresh data dir, the HTTP edge on a free port, one worker thread.
    const dataDir = join(work, 'data');
    const port = await freePort();
    const apiKey = randomUUID();
    const child = spawn(process.execPath, ['bin/captionflow.mjs', 'run'], {
      cwd: pkg,
      env: cleanEnv({
        CAPTIONFLOW_DATA_DIR: dataDir,
        CAPTIONFLOW_HTTP_HOST: '127.0.0.1',
        CAPTIONFLOW_HTTP_PORT: String(port),
        CAPTIONFLOW_API_KEYS: apiKey,
        CAPTIONFLOW_WORKERS: '1',
        CAPTIONFLOW_SHUTDOWN_DEADLINE_MS: '20000',
      }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const tail = outputTail(child);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    defer(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    const base = `http://127.0.0.1:${port}`;
    const waits = { child, tail };

    await waitFor(
      'GET /readyz to answer 200',
      async () => ((await fetch(`${base}/readyz`)).status === 200 ? true : undefined),
      { timeoutMs: 2 * MINUTE, ...waits },
    );

    const scene = await generateScene(3, { size: 128 });
    const form = new FormData();
    form.append('file', new Blob([scene.image], { type: 'image/png' }), `${scene.id}.png`);
    form.append('captions', JSON.stringify(scene.captions));
    const res = await fetch(`${base}/v1/images`, {
      method: 'POST',
      headers: { 'x-api-key': apiKey },
      body: form,
    });
    const body = await res.text();
    assert.equal(res.status, 202, `upload answered ${res.status}: ${body}\n--- output tail ---\n${tail()}`);
    const imageId = (JSON.parse(body) as { images: { imageId: string }[] }).images[0]?.imageId;
    assert.ok(imageId !== undefined, `upload answered no imageId: ${body}`);

    let catalog: Catalog | undefined;
    defer(() => catalog?.close());
    const gold = await waitFor(
      `image ${imageId} to reach gold (status curated)`,
      async () => {
        catalog ??= await openSqliteCatalog({ path: join(dataDir, 'catalog.sqlite') });
        const image = await catalog.images.get(imageId);
        return image?.status === 'curated' ? image : undefined;
      },
      { timeoutMs: 3 * MINUTE, ...waits },
    );
    assert.ok(gold.objects.gold !== undefined, 'a curated image points at its gold object');

    child.kill('SIGTERM');
    const stop = await Promise.race([
      exited,
      new Promise<undefined>((r) => setTimeout(() => r(undefined), 2 * MINUTE).unref()),
    ]);
    assert.ok(
      stop !== undefined,
      `captionflow did not exit within 120s of SIGTERM\n--- output tail ---\n${tail()}`,
    );
    assert.deepEqual(
      stop,
      { code: 0, signal: null },
      `captionflow should exit 0 on SIGTERM\n--- output tail ---\n${tail()}`,
    );
  },
);
