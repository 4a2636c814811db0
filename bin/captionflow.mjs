#!/usr/bin/env node
// The `captionflow` command of the package: runs the built CLI (dist/, made by `npm run build`,
// which `npm pack` runs first). Plain JS so it starts on Node alone. In a source checkout that
// was not built (`npx captionflow` right after `npm ci`), it runs the TypeScript with tsx — a
// devDependency a checkout has and a production install does not.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import process from 'node:process';
import { fileURLToPath, URL } from 'node:url';

const main = new URL('../dist/app/cli/main.js', import.meta.url);
const source = new URL('../app/cli/main.ts', import.meta.url);
const tsx = new URL('../node_modules/tsx/dist/esm/index.mjs', import.meta.url);
if (existsSync(main)) {
  await import(main.href);
} else if (existsSync(source) && existsSync(tsx)) {
  const child = spawn(process.execPath, ['--import', tsx.href, fileURLToPath(source), ...process.argv.slice(2)], { stdio: 'inherit' });
  // Ctrl-C reaches the whole process group; a SIGTERM sent to this process is passed on.
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', () => child.kill('SIGTERM'));
  child.on('exit', (code, signal) => process.exit(code ?? (signal === null ? 1 : 128)));
} else {
  process.stderr.write(
    `captionflow: ${fileURLToPath(main)} is missing: this is a source checkout that has not been built.\n` +
      'Run `npm run build` first (or use `npm run captionflow -- <command>` to run the TypeScript with tsx).\n',
  );
  process.exit(1);
}
