import { afterEach, describe, expect, it } from 'vitest';
import { getCondition } from '../../api/conditions.js';
import type { Resource } from '../../api/resource.js';
import { MeshcaError } from '../../errors/index.js';
import { CaNotYetValidError } from '../../issuers/ca/ca-issuer.js';
import { encodePrivateKey, generatePrivateKey, issueCertificate } from '../../pki/index.js';
import { LifecycleHarness, NS, certificate, issuer } from '../testing/lifecycle-harness.js';
import type { CertificateObject, RequestObject } from './certificate-resources.js';
import { classifySignFailure } from './request-signer-controller.js';

const HOUR = 3_600_000;
const SIGNER = 'certificaterequests-signer CertificateRequest istio-system/web-1';

let h: LifecycleHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** A kubernetes.io/tls Secret holding a root CA whose notBefore is `aheadMs` after `now`. */
function caSecretAhead(name: string, now: Date, aheadMs: number): { secret: Resource; notBefore: Date } {
  const key = generatePrivateKey({ algorithm: 'ECDSA', size: 256 });
  const ca = issueCertificate(
    { publicKey: key, subject: { commonName: 'ahead' }, isCA: true, lifetimeMs: 1000 * HOUR },
    { selfSigned: key },
    { now: new Date(now.getTime() + aheadMs) },
  );
  return {
    notBefore: ca.notBefore,
    secret: {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name, namespace: NS },
      type: 'kubernetes.io/tls',
      data: {
        'tls.crt': Buffer.from(ca.pem).toString('base64'),
        'tls.key': Buffer.from(encodePrivateKey(key, 'PKCS8')).toString('base64'),
      },
    },
  };
}

describe('the request signer and a CA not valid yet', () => {
  it('keeps the request Pending, naming the notBefore, retries at that notBefore and then issues', async () => {
    const harness = (h = new LifecycleHarness());
    // A CA made on a host whose clock runs 30 s ahead of this one.
    const { secret, notBefore } = caSecretAhead('ahead-ca', harness.now, 30_000);
    await harness.apply(
      secret,
      issuer('ahead', { ca: { secretName: 'ahead-ca' } }),
      certificate('web', { dnsNames: ['web.local'], issuerRef: { name: 'ahead' } }),
    );
    const pending = await harness.settle();
    const cr = await harness.get<RequestObject>('CertificateRequest', 'web-1');
    const ready = getCondition(cr?.status?.conditions, 'Ready');
    expect(ready).toMatchObject({ status: 'False', reason: 'Pending' });
    expect(ready?.message).toContain(
      `the signing CA "CN=ahead" is not valid until ${notBefore.toISOString()}`,
    );
    expect(cr?.status?.failureTime).toBeUndefined();
    // Not at the 5 s backoff (another failure), not minutes late: at the CA's notBefore.
    expect(pending.wakeUps.get(SIGNER)).toEqual(notBefore);

    await harness.advanceTo(new Date(notBefore.getTime() - 1000));
    expect(
      getCondition(
        (await harness.get<RequestObject>('CertificateRequest', 'web-1'))?.status?.conditions,
        'Ready',
      )?.reason,
    ).toBe('Pending');

    await harness.advanceTo(notBefore);
    const web = await harness.get<CertificateObject>('Certificate', 'web');
    expect(getCondition(web?.status?.conditions, 'Ready')?.status).toBe('True');
    expect(web?.status?.failedIssuanceAttempts).toBeUndefined();
  });
});

describe('classifySignFailure', () => {
  it('gives a CA not valid yet as retryable with the instant a retry can succeed', () => {
    const key = generatePrivateKey();
    const at = new Date('2030-01-01T00:00:30Z');
    const ca = issueCertificate(
      { publicKey: key, subject: { commonName: 'ahead' }, isCA: true, lifetimeMs: HOUR },
      { selfSigned: key },
      { now: at },
    );
    const verdict = classifySignFailure(new CaNotYetValidError(ca));
    expect(verdict.final).toBe(false);
    expect(verdict.error.code).toBe('ISSUER_NOT_READY');
    expect(verdict.notBefore).toEqual(at);
    expect(classifySignFailure(new MeshcaError('ISSUER_NOT_READY', 'x')).notBefore).toBeUndefined();
  });
});
