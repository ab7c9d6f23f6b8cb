import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** Why FIFOs cannot be made on this machine (no `mkfifo` command), or undefined when they can. */
export const fifoUnavailable: string | undefined = (() => {
  const dir = mkdtempSync(path.join(tmpdir(), 'meshca-fifo-probe-'));
  try {
    execFileSync('mkfifo', [path.join(dir, 'probe')], { stdio: 'ignore' });
    return undefined;
  } catch (err) {
    const why = `cannot make a FIFO here: mkfifo failed (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
    // As with the real peers (test/integration/peer.ts): CI runs every test or fails.
    if (process.env.CI === 'true') throw new Error(`${why}; CI=true requires it (Debian coreutils)`, { cause: err });
    return why;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
})();

/** Makes a named pipe at `file` with the `mkfifo` command. */
export function makeFifo(file: string): void {
  execFileSync('mkfifo', ['-m', '600', file], { stdio: 'ignore' });
}

/**
 * Starts a process that writes `bytes` zero bytes into the FIFO `file` once a reader opens it,
 * so a reader that does read it ends (a bounded stand-in for /dev/zero). Kill it when done: with
 * no reader it waits forever.
 */
export function feedFifo(file: string, bytes: number): ChildProcess {
  return spawn('sh', ['-c', 'head -c "$1" /dev/zero > "$2"', 'sh', String(bytes), file], { stdio: 'ignore' });
}

/** Makes a sparse file of `bytes` bytes: a huge size that takes no disk and no time. */
export function makeSparseFile(file: string, bytes: number): void {
  const fd = openSync(file, 'w');
  try {
    ftruncateSync(fd, bytes);
  } finally {
    closeSync(fd);
  }
}
