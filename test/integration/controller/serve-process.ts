import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Resource, ResourceKey } from '../../../src/api/resource.js';
import { parseCertificates, parsePrivateKey, publicKeysEqual } from '../../../src/pki/index.js';
import { openSqliteStore } from '../../../src/store/sqlite/sqlite-store.js';
import type { Store } from '../../../src/store/store.js';

/** The built program, as a user runs it. */
export const BIN = fileURLToPath(new URL('../../../bin/meshca.js', import.meta.url));

/** Runs `meshca --home HOME <args>` to completion; throws with its stderr when it fails. */
export function meshca(home: string, ...args: string[]): string {
  const r = spawnSync(process.execPath, [BIN, '--home', home, ...args], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (r.status !== 0)
    throw new Error(`meshca ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr}`);
  return r.stdout;
}

/** A running `meshca serve`. */
export interface ServeProcess {
  readonly child: ChildProcess;
  /** Everything it logged so far (JSON lines on stderr). */
  logs(): string;
  /** Resolves when it exits, with its exit code or the signal that ended it. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then waits for the exit. */
  stop(): Promise<void>;
}

/** Starts `meshca serve` on free loopback ports with `extra` flags and environment. */
export function startServe(
  home: string,
  extra: string[] = [],
  env: Record<string, string> = {},
): ServeProcess {
  const child = spawn(
    process.execPath,
    [
      BIN,
      '--home',
      home,
      'serve',
      '--grpc-address',
      '127.0.0.1:0',
      '--http-address',
      '127.0.0.1:0',
      ...extra,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } },
  );
  let buf = '';
  child.stderr?.on('data', (d: Buffer) => (buf += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    logs: () => buf,
    exited,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Polls `check` every 100 ms until it is true; fails naming `what` after `timeoutMs`. */
export async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs: number,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** Opens the home's store file (another connection, as a second process would), runs `read`, closes. */
export async function withStore<T>(home: string, read: (store: Store) => Promise<T>): Promise<T> {
  const store = openSqliteStore({ path: path.join(home, 'store.db') });
  try {
    return await read(store);
  } finally {
    await store.close();
  }
}

/** Key of a namespaced cert-manager or core resource. */
export const key = (apiVersion: string, kind: string, namespace: string, name: string): ResourceKey => ({
  apiVersion,
  kind,
  namespace,
  name,
});

/** The text of a Secret data value. */
export function secretText(secret: Resource, field: string): string | undefined {
  const value = (secret.data as Record<string, string> | undefined)?.[field];
  return value === undefined ? undefined : Buffer.from(value, 'base64').toString('utf8');
}

/** Whether a Secret's tls.key is the private key of the first certificate of its tls.crt. */
export function keyMatchesCertificate(secret: Resource): boolean {
  const crt = secretText(secret, 'tls.crt');
  const pem = secretText(secret, 'tls.key');
  if (crt === undefined || pem === undefined) return false;
  const leaf = parseCertificates(crt)[0];
  if (leaf === undefined) return false;
  return publicKeysEqual(createPublicKey(parsePrivateKey(pem)), leaf.publicKey);
}

/** The Ready condition's status of a Certificate, and its revision. */
export function readiness(certificate: Resource | undefined): {
  ready: boolean;
  revision: number | undefined;
} {
  const status = certificate?.status as
    { conditions?: { type: string; status: string }[]; revision?: number } | undefined;
  return {
    ready: status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true,
    revision: status?.revision,
  };
}
