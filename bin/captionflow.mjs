#!/usr/bin/env node
// The `captionflow` command of the package: runs the built CLI (dist/, made by `npm run build`,
// which `npm pack` runs first). Plain JS so it starts on Node alone; development runs the
// TypeScript directly with `npm run captionflow -- <command>`.
import { existsSync } from 'node:fs';
import process from 'node:process';
import { fileURLToPath, URL } from 'node:url';

const main = new URL('../dist/app/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write(
    `captionflow: ${fileURLToPath(main)} is missing: this is a source checkout that has not been built.\n` +
      'Run `npm run build` first (or use `npm run captionflow -- <command>` to run the TypeScript with tsx).\n',
  );
  process.exit(1);
}
await import(main.href);
