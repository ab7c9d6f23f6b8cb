import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Resource } from '../../../src/api/resource.js';
import { CRASH_POINTS, type CrashPointName } from '../../../src/controller/runtime/crash-points.js';
import {
  key,
  keyMatchesCertificate,
  meshca,
  readiness,
  startServe,
  until,
  withStore,
  type ServeProcess,
} from './serve-process.js';

// Issue 4 §5: a SIGKILL at any point of an issuance, then a restart: the Certificate converges,
// with no duplicated revision and no Secret whose key does not match its certificate. The built
// program kills itself at each named point (MESHCA_CRASH_AT) of one issuance after another.

const NS = 'crash';
const MANIFEST = `
apiVersion: cert-manager.io/v1
kind: Issuer
metadata: { name: selfsigned, namespace: ${NS} }
spec: { selfSigned: {} }
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: { name: root, namespace: ${NS} }
spec:
  isCA: true
  commonName: crash test root
  secretName: root
  duration: 87600h
  privateKey: { algorithm: ECDSA, size: 256, rotationPolicy: Never }
  issuerRef: { name: selfsigned, kind: Issuer }
---
apiVersion: cert-manager.io/v1
kind: Issuer
metadata: { name: ca, namespace: ${NS} }
spec: { ca: { secretName: root } }
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: { name: web, namespace: ${NS} }
spec:
  secretName: web-tls
  dnsNames: [web.example.com]
  duration: 1h
  revisionHistoryLimit: 20
  privateKey: { algorithm: ECDSA, size: 256, rotationPolicy: Always }
  issuerRef: { name: ca, kind: Issuer }
`;

// A killed leader's lease must expire before the restarted process acts: keep that short here.
const FAST_LEASE = ['--leader-election-lease-duration', '2s'];
const CERT = key('cert-manager.io/v1', 'Certificate', NS, 'web');
const SECRET = key('v1', 'Secret', NS, 'web-tls');

describe('a SIGKILL at any point of an issuance', () => {
  let dir: string;
  let home: string;
  const running: ServeProcess[] = [];
  /** Every observation of the Secret, after each kill and each convergence. */
  const observations: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'meshca-crash-'));
    home = path.join(dir, 'home');
    writeFileSync(path.join(dir, 'manifest.yaml'), MANIFEST);
    // The root first, without crashes, so that every crash below hits the "web" issuance.
    meshca(home, 'apply', '-f', path.join(dir, 'manifest.yaml'));
    const serve = startServe(home, FAST_LEASE);
    running.push(serve);
    await until(
      () => withStore(home, async (s) => readiness(await s.tryGet(CERT)).ready),
      'the first issuance of web to be Ready',
      30_000,
    );
    await serve.stop();
  }, 60_000);

  afterAll(async () => {
    for (const s of running) await s.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The Secret now: absent, or its tls.key must match its tls.crt. */
  const observeSecret = async (when: string): Promise<void> => {
    const secret = await withStore(home, (s) => s.tryGet<Resource>(SECRET));
    observations.push(
      `${when}: ${secret === undefined ? 'absent' : keyMatchesCertificate(secret) ? 'matching' : 'MISMATCH'}`,
    );
    if (secret !== undefined)
      expect(keyMatchesCertificate(secret), `the Secret's key matches its certificate ${when}`).toBe(true);
  };

  const points = Object.keys(CRASH_POINTS) as CrashPointName[];

  it.each(points.map((p, i) => [p, i + 2] as const))(
    'converges after a kill at %s, to revision %i exactly, with one request per revision and a matching key',
    async (point, revision) => {
      meshca(home, 'renew', '-n', NS, 'web');
      const doomed = startServe(home, FAST_LEASE, { MESHCA_CRASH_AT: point });
      running.push(doomed);
      const end = await Promise.race([
        doomed.exited,
        new Promise<undefined>((r) => setTimeout(() => r(undefined), 30_000)),
      ]);
      expect(end, `meshca serve reached the crash point ${point}: ${doomed.logs().slice(-2000)}`).toEqual({
        code: null,
        signal: 'SIGKILL',
      });
      await observeSecret(`after the kill at ${point}`);

      const serve = startServe(home, FAST_LEASE);
      running.push(serve);
      await until(
        () =>
          withStore(home, async (s) => {
            const r = readiness(await s.tryGet(CERT));
            return r.ready && r.revision === revision;
          }),
        `web to be Ready at revision ${revision} after the restart`,
        30_000,
      );
      // Give a duplicate issuance the chance to show itself before looking.
      await new Promise((r) => setTimeout(r, 1500));
      await serve.stop();
      await observeSecret(`after convergence from ${point}`);

      const { status, requests } = await withStore(home, async (s) => ({
        status: readiness(await s.get(CERT)),
        requests: (
          await s.list<Resource>(
            { apiVersion: 'cert-manager.io/v1', kind: 'CertificateRequest' },
            { namespace: NS },
          )
        ).items,
      }));
      expect(status).toEqual({ ready: true, revision });
      const revisions = requests
        .filter((r) => r.metadata.annotations?.['cert-manager.io/certificate-name'] === 'web')
        .map((r) => Number(r.metadata.annotations?.['cert-manager.io/certificate-revision']));
      // Revisions 1..n, each requested exactly once.
      expect([...revisions].sort((a, b) => a - b)).toEqual(Array.from({ length: revision }, (_, i) => i + 1));
    },
    90_000,
  );

  it('never observed a Secret whose key did not match its certificate', () => {
    expect(observations.length).toBe(2 * points.length);
    expect(observations.filter((o) => o.includes('MISMATCH'))).toEqual([]);
  });
});
