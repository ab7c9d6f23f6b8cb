import type { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { makeIntermediate, makeRoot } from '../../issuers/testing/fixtures.js';
import { CaIssuer, type CaKeyPair } from '../../issuers/index.js';
import { buildCsr, generatePrivateKey, parseCertificates } from '../../pki/index.js';
import type { SignRequest } from '../istio-certificate-service.js';
import type { SigningJob } from './signing-job.js';
import { SigningWorkerPool } from './signing-worker-pool.js';
import { DEFAULT_KEY_POLICY } from './workload-csr-policy.js';
import { createWorkloadSigner, type SigningAuthority } from './workload-signer.js';

const now = new Date('2026-11-22T12:00:00Z');
const HOUR = 3_600_000;
const ID = 'spiffe://cluster.local/ns/default/sa/web';

/** A CA key pair (an intermediate under its own root) and the issuer loaded from it. */
function ca(name: string): { keyPair: CaKeyPair; issuer: CaIssuer } {
  const root = makeRoot(now, 10 * 8760 * HOUR, `${name} Root`);
  const int = makeIntermediate(root, now, 720 * HOUR);
  const keyPair = { certChainPem: int.certificate.pem, keyPem: int.keyPem, caPem: root.certificate.pem };
  return { keyPair, issuer: CaIssuer.fromKeyPair(keyPair) };
}

function job(over: Partial<SigningJob> = {}): SigningJob {
  return {
    csrPem: buildCsr({ key: generatePrivateKey(), sans: { uris: [ID] } }),
    expected: ID,
    lifetimeMs: HOUR,
    now: now.getTime(),
    ...over,
  };
}

function request(): SignRequest {
  return {
    csrPem: buildCsr({ key: generatePrivateKey(), sans: { uris: [ID] } }),
    validitySeconds: 3600,
    identity: { namespace: 'default', serviceAccount: 'web' },
    caller: 'test',
    clusterId: 'Kubernetes',
    metadata: undefined,
    now: now.getTime(),
  };
}

/** Pools made by a test, closed after it even when it fails. */
const pools: SigningWorkerPool[] = [];
function pool(options: { workers?: number; maxQueued?: number; started?: Worker[] } = {}): SigningWorkerPool {
  const p = new SigningWorkerPool({
    workers: options.workers ?? 1,
    policy: DEFAULT_KEY_POLICY,
    ...(options.maxQueued !== undefined && { maxQueued: options.maxQueued }),
    ...(options.started !== undefined && { onWorkerStart: (w: Worker) => options.started!.push(w) }),
  });
  pools.push(p);
  return p;
}

afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

describe('the signing worker pool', () => {
  it('signs on a worker with the CA sent to it and answers the leaf as plain data', async () => {
    const { keyPair, issuer } = ca('A');
    const leaf = await pool().sign(job(), { keyPair });
    expect(leaf).toBeDefined();
    // The leaf alone: the CA's own certificates are added by the caller.
    const certs = parseCertificates(leaf!.leafPem);
    expect(certs).toHaveLength(1);
    const cert = certs[0]!;
    expect(cert.issuerString).toBe(issuer.certificate.subjectString);
    expect(cert.sans.uris).toEqual([ID]);
    expect(cert.serialNumber).toBe(leaf!.serialNumber);
    expect(cert.fingerprintSha256).toBe(leaf!.fingerprintSha256);
  });

  it('sends the CSRs of one event-loop turn to a worker in one message', async () => {
    const { keyPair } = ca('A');
    const started: Worker[] = [];
    const p = pool({ started });
    const worker = started[0]!;
    const posted: unknown[] = [];
    const post = worker.postMessage.bind(worker);
    worker.postMessage = (message: unknown) => {
      posted.push(message);
      post(message);
    };
    const jobs = [job(), job(), job({ csrPem: 'hello' }), job(), job()];
    const results = await Promise.allSettled(jobs.map((j) => p.sign(j, { keyPair })));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    const serials = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value!.serialNumber] : []));
    expect(new Set(serials).size).toBe(4);
    // One message: the CA first, then the five jobs in order.
    expect(posted).toHaveLength(1);
    const batch = posted[0] as { type: string }[];
    expect(batch.map((m) => m.type)).toEqual(['authority', 'sign', 'sign', 'sign', 'sign', 'sign']);
    // A later turn is a message of its own.
    await p.sign(job(), { keyPair });
    expect(posted).toHaveLength(2);
  });

  it('checks the CSR and answers undefined when no CA is given', async () => {
    await expect(pool().sign(job(), undefined)).resolves.toBeUndefined();
  });

  it.each<[string, Partial<SigningJob>, Record<string, unknown>]>([
    [
      'garbage instead of a CSR',
      { csrPem: 'hello' },
      { code: 'PEM_INVALID', retryable: false, hint: 'pass PEM text, not DER bytes or a file path' },
    ],
    [
      'a CSR for another identity',
      { expected: 'spiffe://cluster.local/ns/default/sa/admin' },
      { code: 'PERMISSION_DENIED', retryable: false },
    ],
    [
      'an oversized CSR',
      {
        csrPem: `-----BEGIN CERTIFICATE REQUEST-----\n${'A'.repeat(200_000)}\n-----END CERTIFICATE REQUEST-----\n`,
      },
      { retryable: false },
    ],
  ])('carries the MeshcaError of %s across the thread boundary', async (_name, over, expected) => {
    const err = (await pool()
      .sign(job(over), undefined)
      .catch((e: unknown) => e)) as Error;
    expect(err.name).toBe('MeshcaError');
    expect(err).toMatchObject(expected);
    expect(err.message.length).toBeGreaterThan(0);
  });

  it('answers the same error code and message on a worker as on the main thread', async () => {
    const bad = {
      ...request(),
      csrPem: buildCsr({ key: generatePrivateKey(), sans: { uris: [ID], dnsNames: ['evil.example'] } }),
    };
    const { keyPair, issuer } = ca('A');
    const authority: SigningAuthority = { ready: true, issuer, keyPair, name: 'Issuer/a' };
    const base = { authority: () => authority, trustDomain: 'cluster.local', maxLifetimeMs: HOUR };
    const onMain = (await createWorkloadSigner(base)(bad).catch((e: unknown) => e)) as Error;
    const onWorker = (await createWorkloadSigner({ ...base, pool: pool() })(bad).catch(
      (e: unknown) => e,
    )) as Error;
    expect(onWorker).toMatchObject({ code: 'CSR_INVALID', message: onMain.message });
  });

  it('signs a request with the CA it started with when the CA is swapped while it is in flight', async () => {
    const a = ca('A');
    const b = ca('B');
    let authority: SigningAuthority = { ready: true, issuer: a.issuer, keyPair: a.keyPair, name: 'Issuer/a' };
    const audit: string[] = [];
    const sign = createWorkloadSigner({
      authority: () => authority,
      trustDomain: 'cluster.local',
      maxLifetimeMs: HOUR,
      pool: pool(),
      audit: (r) => audit.push(r.issuer),
    });
    const first = sign(request());
    authority = { ready: true, issuer: b.issuer, keyPair: b.keyPair, name: 'Issuer/b' };
    const second = sign(request());
    const issuerOf = (chain: string[]): string => parseCertificates(chain[0]!)[0]!.issuerString;
    const chainA = await first;
    const chainB = await second;
    expect(issuerOf(chainA)).toBe(a.issuer.certificate.subjectString);
    expect(issuerOf(chainB)).toBe(b.issuer.certificate.subjectString);
    // Each answer ends with the intermediate and root of the CA that signed its leaf.
    const fingerprints = (chain: string[]): string[] =>
      chain.map((p) => parseCertificates(p)[0]!.fingerprintSha256);
    expect(fingerprints(chainA).slice(1)).toEqual([...a.issuer.chain, ...a.issuer.ca].map((c) => c.fingerprintSha256));
    expect(fingerprints(chainB).slice(1)).toEqual([...b.issuer.chain, ...b.issuer.ca].map((c) => c.fingerprintSha256));
    expect(audit.sort()).toEqual(['Issuer/a', 'Issuer/b']);
  });

  it('keeps signing with each CA after many swaps, sending a worker only the CAs it lacks', async () => {
    const p = pool();
    const cas = Array.from({ length: 6 }, (_, i) => ca(`CA${i}`));
    const answers = await Promise.all(cas.map((c) => p.sign(job(), { keyPair: c.keyPair })));
    answers.forEach((leaf, i) => {
      expect(parseCertificates(leaf!.leafPem)[0]!.issuerString).toBe(
        cas[i]!.issuer.certificate.subjectString,
      );
    });
    // The first CA was forgotten by the worker; asking again sends it once more.
    const again = await p.sign(job(), { keyPair: cas[0]!.keyPair });
    expect(parseCertificates(again!.leafPem)[0]!.issuerString).toBe(
      cas[0]!.issuer.certificate.subjectString,
    );
  });

  it('fails a CA that does not load on the worker with its reason', async () => {
    const { keyPair } = ca('A');
    const broken = { ...keyPair, keyPem: ca('B').keyPair.keyPem };
    await expect(pool().sign(job(), { keyPair: broken })).rejects.toMatchObject({
      code: 'ISSUER_NOT_READY',
      message: 'the CA key pair: tls.key is not the key of the certificate in tls.crt',
    });
  });

  it('fails the CSRs of a worker that dies with a retryable error and starts another worker', async () => {
    const started: Worker[] = [];
    const p = pool({ started });
    const { keyPair } = ca('A');
    const dying = started[0]!;
    void dying.terminate();
    // Posted to the dying worker in the same tick: it can never be answered, only failed.
    await expect(p.sign(job(), { keyPair })).rejects.toMatchObject({
      code: 'SIGNING_FAILED',
      retryable: true,
      message: expect.stringContaining('a signing worker stopped') as unknown,
    });
    expect(started).toHaveLength(2);
    expect(p.size).toBe(1);
    await expect(p.sign(job(), { keyPair })).resolves.toBeDefined();
  });

  it('stops starting workers that keep dying and then refuses CSRs instead of hanging', async () => {
    const started: Worker[] = [];
    const p = pool({ started });
    for (let i = 0; i < 6; i++) await started[i]!.terminate();
    expect(started).toHaveLength(6);
    expect(p.size).toBe(0);
    await expect(p.sign(job(), undefined)).rejects.toMatchObject({
      code: 'SIGNING_FAILED',
      retryable: true,
      message: 'no signing worker is running: they kept stopping at start; retry later',
    });
  });

  it('refuses a CSR with RATE_LIMITED when the workers have the most CSRs queued', async () => {
    const p = pool({ maxQueued: 1 });
    const { keyPair } = ca('A');
    const first = p.sign(job(), { keyPair });
    await expect(p.sign(job(), { keyPair })).rejects.toMatchObject({
      code: 'RATE_LIMITED',
      retryable: true,
      message: 'all 1 signing workers are busy (1 CSRs queued); retry shortly',
    });
    await expect(first).resolves.toBeDefined();
    await expect(p.sign(job(), { keyPair })).resolves.toBeDefined();
  });

  it('spreads CSRs over several workers', async () => {
    const started: Worker[] = [];
    const p = pool({ workers: 2, started });
    const { keyPair } = ca('A');
    const leaves = await Promise.all(Array.from({ length: 4 }, () => p.sign(job(), { keyPair })));
    expect(started).toHaveLength(2);
    expect(new Set(leaves.map((l) => l!.serialNumber)).size).toBe(4);
  });

  it('fails the CSRs in flight when closed, and refuses new ones', async () => {
    const p = pool();
    const { keyPair } = ca('A');
    const inFlight = p.sign(job(), { keyPair }).catch((e: unknown) => e);
    await p.close();
    expect(await inFlight).toMatchObject({ code: 'SIGNING_FAILED', retryable: true });
    await expect(p.sign(job(), { keyPair })).rejects.toMatchObject({
      code: 'SIGNING_FAILED',
      message: 'the CA server is shutting down; retry on another replica',
    });
    await expect(p.close()).resolves.toBeUndefined();
  });

  it.each([0, -1, 1.5])('refuses %s workers', (workers) => {
    expect(() => new SigningWorkerPool({ workers, policy: DEFAULT_KEY_POLICY })).toThrow(
      `a signing worker pool needs at least 1 worker, not ${workers}`,
    );
  });
});
