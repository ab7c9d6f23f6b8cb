import type { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../api/audit-record.js';
import { CaIssuer } from '../../issuers/index.js';
import { makeIntermediate, makeRoot } from '../../issuers/testing/fixtures.js';
import {
  buildCsr,
  generatePrivateKey,
  parseCertificates,
  verifyChain,
  type CsrOptions,
} from '../../pki/index.js';
import type { SignRequest } from '../istio-certificate-service.js';
import { SigningWorkerPool } from './signing-worker-pool.js';
import { DEFAULT_KEY_POLICY } from './workload-csr-policy.js';
import { createWorkloadSigner, type SigningAuthority } from './workload-signer.js';

const now = new Date('2026-11-22T12:00:00Z');
const HOUR = 3_600_000;
const ID = 'spiffe://cluster.local/ns/default/sa/web';

/** The pool of the describe block running now; undefined signs on the main thread. */
let pool: SigningWorkerPool | undefined;

function setup(caLifetimeMs = 720 * HOUR) {
  const root = makeRoot(now);
  const int = makeIntermediate(root, now, caLifetimeMs);
  const keyPair = { certChainPem: int.certificate.pem, keyPem: int.keyPem, caPem: root.certificate.pem };
  const issuer = CaIssuer.fromKeyPair(keyPair);
  const audit: AuditRecord[] = [];
  let authority: SigningAuthority = {
    ready: true,
    issuer,
    keyPair,
    name: 'Issuer/istio-system/istio-ca-issuer',
  };
  const sign = createWorkloadSigner({
    ...(pool !== undefined && { pool }),
    authority: () => authority,
    trustDomain: 'cluster.local',
    maxLifetimeMs: 24 * HOUR,
    audit: (r) => audit.push(r),
  });
  return {
    root,
    int,
    audit,
    sign,
    setAuthority: (a: SigningAuthority) => {
      authority = a;
    },
  };
}

function request(csrPem: string, over: Partial<SignRequest> = {}): SignRequest {
  return {
    csrPem,
    validitySeconds: 3600,
    identity: { namespace: 'default', serviceAccount: 'web' },
    caller: 'jwt:system:serviceaccount:default:web@127.0.0.1:5000',
    clusterId: 'Kubernetes',
    metadata: undefined,
    now: now.getTime(),
    ...over,
  };
}

function csr(options: Partial<CsrOptions> = {}): string {
  return buildCsr({ key: generatePrivateKey(), sans: { uris: [ID] }, ...options });
}

describe.each([0, 1])('the workload signer with %i signing workers', (workers) => {
  beforeAll(() => {
    pool = workers === 0 ? undefined : new SigningWorkerPool({ workers, policy: DEFAULT_KEY_POLICY });
  });
  afterAll(async () => {
    await pool?.close();
    pool = undefined;
  });

  it("answers leaf, intermediate and root, and the chain verifies for the caller's SPIFFE ID", async () => {
    const { sign, root, audit } = setup();
    const chain = await sign(request(csr()));
    expect(chain).toHaveLength(3);
    const [leaf, ...rest] = chain.map((p) => parseCertificates(p)[0]!);
    expect(leaf!.sans.uris).toEqual([ID]);
    expect(leaf!.sans.dnsNames).toEqual([]);
    expect(leaf!.isCA).toBe(false);
    expect(leaf!.extKeyUsages).toEqual(['serverAuth', 'clientAuth']);
    expect(rest[1]!.fingerprintSha256).toBe(root.certificate.fingerprintSha256);
    expect(verifyChain(leaf!, { intermediates: [rest[0]!], roots: [rest[1]!], at: now }).ok).toBe(true);
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      identity: ID,
      serialNumber: leaf!.serialNumber,
      clusterId: 'Kubernetes',
      caller: 'jwt:system:serviceaccount:default:web@127.0.0.1:5000',
      fingerprintSha256: leaf!.fingerprintSha256,
      issuer: 'Issuer/istio-system/istio-ca-issuer',
      notAfter: '2026-11-22T13:00:00.000Z',
    });
  });

  it("signs min(requested, max) and never past the CA's notAfter", async () => {
    const { sign } = setup();
    const long = await sign(request(csr(), { validitySeconds: 7 * 24 * 3600 }));
    expect(parseCertificates(long[0]!)[0]!.notAfter.toISOString()).toBe('2026-11-23T12:00:00.000Z');
    const short = setup(2 * HOUR);
    const clamped = await short.sign(request(csr(), { validitySeconds: 12 * 3600 }));
    expect(parseCertificates(clamped[0]!)[0]!.notAfter.getTime()).toBe(
      short.int.certificate.notAfter.getTime(),
    );
  });

  it.each<[string, () => string, Partial<SignRequest>, string, string]>([
    [
      'a CSR for another identity',
      () => csr({ sans: { uris: ['spiffe://cluster.local/ns/default/sa/admin'] } }),
      {},
      'PERMISSION_DENIED',
      'but the caller is spiffe://cluster.local/ns/default/sa/web',
    ],
    [
      'a CSR with a DNS name',
      () => csr({ sans: { uris: [ID], dnsNames: ['evil.example'] } }),
      {},
      'CSR_INVALID',
      'DNS names (evil.example)',
    ],
    [
      'a CSR with an IP address',
      () => csr({ sans: { uris: [ID], ipAddresses: ['10.0.0.1'] } }),
      {},
      'CSR_INVALID',
      'IP addresses (10.0.0.1)',
    ],
    [
      'a CSR with an e-mail address',
      () => csr({ sans: { uris: [ID], emailAddresses: ['a@b.c'] } }),
      {},
      'CSR_INVALID',
      'e-mail addresses (a@b.c)',
    ],
    [
      'a CSR with a common name',
      () => csr({ subject: { commonName: 'web' } }),
      {},
      'CSR_INVALID',
      'the CSR has a subject',
    ],
    [
      'a CSR with two URIs',
      () => csr({ sans: { uris: [ID, 'spiffe://cluster.local/ns/x/sa/y'] } }),
      {},
      'CSR_INVALID',
      'has 2 URI SANs',
    ],
    ['a CSR with no SAN', () => csr({ sans: {} }), {}, 'CSR_INVALID', 'the CSR has no URI SAN'],
    ['a CSR asking to be a CA', () => csr({ isCA: true }), {}, 'CSR_INVALID', 'asks to be a CA'],
    [
      'a CSR asking for keyCertSign',
      () => csr({ keyUsages: ['digitalSignature', 'keyCertSign'] }),
      {},
      'CSR_INVALID',
      'key usages keyCertSign',
    ],
    [
      'a CSR asking for codeSigning',
      () => csr({ extKeyUsages: ['serverAuth', 'codeSigning'] }),
      {},
      'CSR_INVALID',
      'extended key usages codeSigning',
    ],
    [
      'an Ed25519 key',
      () => buildCsr({ key: generatePrivateKey({ algorithm: 'Ed25519' }), sans: { uris: [ID] } }),
      {},
      'KEY_UNSUPPORTED',
      "the CSR's key is Ed25519",
    ],
    ['garbage instead of a CSR', () => 'hello', {}, 'PEM_INVALID', ''],
    [
      'a CSR of the wrong trust domain caller',
      () => csr(),
      { identity: { namespace: 'default', serviceAccount: 'web', trustDomain: 'other.org' } },
      'PERMISSION_DENIED',
      'trust domain other.org',
    ],
  ])('refuses %s with %s', async (_name, makeCsr, over, code, message) => {
    const { sign, audit } = setup();
    await expect(sign(request(makeCsr(), over))).rejects.toMatchObject({
      name: 'MeshcaError',
      code: expect.stringMatching(code) as unknown,
      message: expect.stringContaining(message) as unknown,
    });
    expect(audit).toEqual([]);
  });

  it('refuses a CSR whose signature does not verify', async () => {
    const { sign } = setup();
    const good = csr();
    const der = Buffer.from(good.replace(/-----[^-]+-----/g, '').replace(/\s/g, ''), 'base64');
    der[der.length - 5] = der[der.length - 5]! ^ 0xff;
    const bad = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    await expect(sign(request(bad))).rejects.toMatchObject({
      code: expect.stringMatching(/CSR_SIGNATURE_INVALID|DER_INVALID|CSR_INVALID/) as unknown,
    });
  });

  it('answers ISSUER_NOT_READY with the reason when no CA is loaded', async () => {
    const s = setup();
    s.setAuthority({ ready: false, reason: 'Issuer istio-system/istio-ca-issuer does not exist' });
    await expect(s.sign(request(csr()))).rejects.toMatchObject({
      code: 'ISSUER_NOT_READY',
      message: 'no signing CA is ready: Issuer istio-system/istio-ca-issuer does not exist',
    });
  });

  it('accepts RSA 2048 keys and gives them keyEncipherment', async () => {
    const { sign } = setup();
    const chain = await sign(
      request(buildCsr({ key: generatePrivateKey({ algorithm: 'RSA', size: 2048 }), sans: { uris: [ID] } })),
    );
    expect(parseCertificates(chain[0]!)[0]!.keyUsages).toEqual(['digitalSignature', 'keyEncipherment']);
  });
});

describe('the workload signer when its signing workers keep stopping', () => {
  it('signs on the main thread once the pool gave up restarting them, instead of refusing every CSR', async () => {
    const started: Worker[] = [];
    let gaveUp = 0;
    pool = new SigningWorkerPool({
      workers: 1,
      policy: DEFAULT_KEY_POLICY,
      onWorkerStart: (w) => started.push(w),
      onGaveUp: () => gaveUp++,
    });
    try {
      for (let i = 0; i < 6; i++) await started[i]!.terminate();
      expect(pool.size).toBe(0);
      expect(gaveUp).toBe(1);
      const { sign, root, audit } = setup();
      const chain = await sign(request(csr()));
      const [leaf, int, last] = chain.map((p) => parseCertificates(p)[0]!);
      expect(leaf!.sans.uris).toEqual([ID]);
      expect(verifyChain(leaf!, { intermediates: [int!], roots: [last!], at: now }).ok).toBe(true);
      expect(last!.fingerprintSha256).toBe(root.certificate.fingerprintSha256);
      expect(audit).toHaveLength(1);
    } finally {
      await pool.close();
      pool = undefined;
    }
  });
});
