/** Small process helpers for the benchmark: free ports, running a command, waiting, openssl, peak RSS. */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** A TCP port nothing listens on now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Runs a command to its end; resolves with stdout, rejects with stderr when it exits non-zero. */
export function runToEnd(cmd: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${path.basename(cmd)} ${args.slice(0, 3).join(' ')} exited with ${code}: ${err.trim().slice(0, 800)}`)),
    );
  });
}

/** Polls `ready` every 100 ms until it resolves true; throws after `timeoutMs`. */
export async function waitFor(what: string, ready: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await ready().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

/** Checks a leaf against its intermediates and roots with `openssl verify -x509_strict`. */
export async function opensslVerify(
  dir: string,
  chain: { leaf: string; intermediates: readonly string[]; roots: readonly string[] },
): Promise<void> {
  const leaf = path.join(dir, 'check-leaf.pem');
  const untrusted = path.join(dir, 'check-intermediates.pem');
  const roots = path.join(dir, 'check-roots.pem');
  writeFileSync(leaf, chain.leaf);
  writeFileSync(untrusted, chain.intermediates.join(''));
  writeFileSync(roots, chain.roots.join(''));
  await runToEnd('openssl', [
    'verify', '-x509_strict', '-CAfile', roots,
    ...(chain.intermediates.length > 0 ? ['-untrusted', untrusted] : []),
    leaf,
  ]);
}

/** Peak resident set size of a live process, MiB (VmHWM in /proc/<pid>/status). */
export function peakRssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmHWM:\s+(\d+) kB$/m.exec(status);
  if (m === null) throw new Error(`no VmHWM line in /proc/${pid}/status`);
  return Number(m[1]) / 1024;
}
