import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** True when `binary` is an executable file on PATH. */
function onPath(binary: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, binary), constants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

/**
 * Whether a real-peer integration test can run: true when `binary` is on PATH. When it is
 * missing, prints the install command and returns false (the caller skips), except under
 * CI=true, where a missing peer is a failure and this throws.
 *
 *   describe.runIf(requirePeer('openssl', 'openssl'))('…', () => { … });
 */
export function requirePeer(binary: string, debianPackage: string): boolean {
  if (onPath(binary)) return true;
  const install = `sudo apt-get install -y ${debianPackage}`;
  if (process.env.CI === 'true') {
    throw new Error(
      `the peer binary "${binary}" is not installed, and CI=true requires every peer; install it with: ${install}`,
    );
  }
  console.warn(`skipping tests that need "${binary}": it is not on PATH; install it with: ${install}`);
  return false;
}
