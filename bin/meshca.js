#!/usr/bin/env -S node --max-semi-space-size=4 --heap-growing-percent=100
// The meshca command: runs the compiled program (npm ci builds it through the prepare script).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('error: meshca is not built\nhint: run `npm ci` (or `npm run build`) in the meshca folder\n');
  process.exit(1);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
