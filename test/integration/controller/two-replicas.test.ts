import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { key, meshca, readiness, startServe, until, withStore, type ServeProcess } from './serve-process.js';

// Issue 4 §2: with two `meshca serve` on one store, only one controller acts; when the leader
// dies, the other takes over. Two real processes of the built program share one SQLite file.

const NS = 'replicas';
const MANIFEST = `
apiVersion: cert-manager.io/v1
kind: Issuer
metadata: { name: selfsigned, namespace: ${NS} }
spec: { selfSigned: {} }
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: { name: web, namespace: ${NS} }
spec:
  secretName: web-tls
  dnsNames: [web.example.com]
  duration: 1h
  privateKey: { algorithm: ECDSA, size: 256 }
  issuerRef: { name: selfsigned, kind: Issuer }
`;
const CERT = key('cert-manager.io/v1', 'Certificate', NS, 'web');
const FLAGS = [
  '--leader-election-lease-duration',
  '3s',
  '--log-level',
  'debug',
  '--certificate-namespace',
  NS,
];

/** The identity a process logged when it became leader, if it did. */
const leaderIdentity = (p: ServeProcess): string | undefined =>
  /"msg":"became the controller leader"[^\n]*"identity":"([^"]+)"/.exec(p.logs())?.[1];

/** How many reconciles a process logged. */
const reconciles = (p: ServeProcess): number =>
  p
    .logs()
    .split('\n')
    .filter((l) => l.includes('"msg":"reconciled"')).length;

const holder = (home: string): Promise<string | undefined> =>
  withStore(home, async (s) => (await s.getLease('meshca-controller', NS))?.holderIdentity);

describe('two meshca serve processes on one store', () => {
  let dir: string;
  let home: string;
  let a: ServeProcess;
  let b: ServeProcess;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'meshca-replicas-'));
    home = path.join(dir, 'home');
    writeFileSync(path.join(dir, 'manifest.yaml'), MANIFEST);
    meshca(home, 'apply', '-f', path.join(dir, 'manifest.yaml'));
    a = startServe(home, FLAGS);
    await until(() => leaderIdentity(a) !== undefined, 'the first process to lead', 20_000);
    b = startServe(home, FLAGS);
    await until(() => b.logs().includes('"msg":"listening"'), 'the second process to listen', 20_000);
  }, 60_000);

  afterAll(async () => {
    await a.stop();
    await b.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lets only the lease holder reconcile', async () => {
    await until(
      () => withStore(home, async (s) => readiness(await s.tryGet(CERT)).ready),
      'web to be Ready',
      30_000,
    );
    // Several renewals of the lease pass while both run.
    await new Promise((r) => setTimeout(r, 4000));
    expect(await holder(home)).toBe(leaderIdentity(a));
    expect(reconciles(a)).toBeGreaterThan(0);
    expect(leaderIdentity(b)).toBeUndefined();
    expect(reconciles(b)).toBe(0);
  }, 60_000);

  it('hands over to the other process when the leader is killed, which then does the work', async () => {
    a.child.kill('SIGKILL');
    await a.exited;
    await until(
      () => leaderIdentity(b) !== undefined,
      'the second process to lead after the first died',
      20_000,
    );
    expect(await holder(home)).toBe(leaderIdentity(b));
    meshca(home, 'renew', '-n', NS, 'web');
    await until(
      () => withStore(home, async (s) => readiness(await s.tryGet(CERT)).revision === 2),
      'the new leader to re-issue web',
      30_000,
    );
    expect(reconciles(b)).toBeGreaterThan(0);
  }, 60_000);
});
