import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { launcherNodeFlags } from '../../../bench/csr-server/meshca-target.js';

const BIN = fileURLToPath(new URL('../../../bin/meshca.js', import.meta.url));
const run = promisify(execFile);

describe('bin/meshca.js as an executable', () => {
  it('runs through its own #! line, with the V8 flags it sets for the main thread', async () => {
    // Executed directly, as `npx meshca`, a package's bin link or a container entrypoint do.
    const { stdout } = await run(BIN, ['version']);
    expect(stdout).toMatch(/^meshca \d+\.\d+\.\d+ \(node v?\d+/);
    expect(readFileSync(BIN, 'utf8').split('\n', 1)[0]).toBe(
      '#!/usr/bin/env -S node --max-semi-space-size=4 --heap-growing-percent=100',
    );
    // The benchmark starts `meshca serve` with the same flags.
    expect(launcherNodeFlags(BIN)).toEqual(['--max-semi-space-size=4', '--heap-growing-percent=100']);
  });
});
