/** Small process helpers for the benchmark: free ports, running a command, waiting, openssl, peak RSS. */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
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
      server.close(() =>
        typeof address === 'object' && address !== null
          ? resolve(address.port)
          : reject(new Error('no port')),
      );
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
      code === 0
        ? resolve(out)
        : reject(
            new Error(
              `${path.basename(cmd)} ${args.slice(0, 3).join(' ')} exited with ${code}: ${err.trim().slice(0, 800)}`,
            ),
          ),
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
    'verify',
    '-x509_strict',
    '-CAfile',
    roots,
    ...(chain.intermediates.length > 0 ? ['-untrusted', untrusted] : []),
    leaf,
  ]);
}

/** A live process and its descendants (a server that forks workers counts as all of them). */
export function processTree(pid: number): number[] {
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) {
    const tasks = readdirSync(`/proc/${tree[i]}/task`);
    for (const tid of tasks) {
      const children = readFileSync(`/proc/${tree[i]}/task/${tid}/children`, 'utf8').trim();
      if (children !== '') tree.push(...children.split(' ').map(Number));
    }
  }
  return tree;
}

/** Peak resident set size of a live process and its descendants, MiB (the sum of each one's VmHWM). */
export function peakRssMiB(pid: number): number {
  return processTree(pid).reduce((sum, p) => {
    const status = readFileSync(`/proc/${p}/status`, 'utf8');
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(status);
    if (m === null) throw new Error(`no VmHWM line in /proc/${p}/status`);
    return sum + Number(m[1]) / 1024;
  }, 0);
}

/** CPU time (user + system) a live process and its descendants have used, seconds (/proc/<pid>/stat, 100 ticks/s). */
export function cpuSeconds(pid: number): number {
  return processTree(pid).reduce((sum, p) => {
    const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return sum + (Number(fields[11]) + Number(fields[12])) / 100;
  }, 0);
}
