/* global process, console */
// npm's install step for meshca's own native code (binding.gyp, native/ecdsa.cc): the narrow
// ECDSA fast path of src/pki/native. meshca works without it (signing then goes through
// node:crypto at about half the speed), so a machine with no compiler gets a warning, not a
// failed install. MESHCA_NATIVE=off skips the build.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
if (process.env.MESHCA_NATIVE === 'off') {
  console.log('meshca: MESHCA_NATIVE=off, the native ECDSA fast path is not built');
  process.exit(0);
}

// npm runs install scripts with npm_config_node_gyp pointing at the node-gyp it bundles.
const candidates = [
  process.env.npm_config_node_gyp,
  join(
    dirname(process.execPath),
    '..',
    'lib',
    'node_modules',
    'npm',
    'node_modules',
    'node-gyp',
    'bin',
    'node-gyp.js',
  ),
].filter((p) => p !== undefined && p !== '' && existsSync(p));
const nodeGyp = candidates[0];
const result =
  nodeGyp === undefined
    ? { status: null, error: new Error('node-gyp was not found') }
    : spawnSync(process.execPath, [nodeGyp, 'rebuild'], { cwd: root, stdio: 'inherit' });
if (result.status !== 0) {
  const why = result.error?.message ?? `node-gyp exited with ${result.status ?? 'a signal'}`;
  console.warn(
    `meshca: the native ECDSA fast path was not built (${why}); meshca works without it, ` +
      'signing CSRs through node:crypto at about half the speed. It needs a C++ compiler, make, ' +
      "python3 and Node's headers (npm's nodedir).",
  );
}
