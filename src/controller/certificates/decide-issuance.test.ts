import { describe, expect, it } from 'vitest';
import type { Resource } from '../../api/resource.js';
import { SelfSignedIssuer } from '../../issuers/self-signed/self-signed-issuer.js';
import { buildCsr, generatePrivateKey, parseCsr } from '../../pki/index.js';
import type { CertificateObject } from './certificate-resources.js';
import { buildCertificateSecret } from './certificate-secret.js';
import { backoffDelay, decideIssuance, lastRetryBeforeExpiry, MAX_BACKOFF_MS } from './decide-issuance.js';

const HOUR = 3_600_000;
const T0 = new Date('2030-01-01T00:00:00Z');
const KEY = generatePrivateKey({ algorithm: 'ECDSA', size: 256 });
const OTHER_KEY = generatePrivateKey({ algorithm: 'ECDSA', size: 256 });

function cert(spec: Record<string, unknown> = {}, status: Record<string, unknown> = {}): CertificateObject {
  return {
    apiVersion: 'cert-manager.io/v1',
    kind: 'Certificate',
    metadata: { name: 'web', namespace: 'ns' },
    spec: {
      secretName: 'web',
      commonName: 'web',
      dnsNames: ['web.local'],
      duration: '3h',
      privateKey: { algorithm: 'ECDSA', size: 256 },
      issuerRef: { name: 'selfsigned', kind: 'Issuer', group: 'cert-manager.io' },
      ...spec,
    },
    status,
  };
}

/** A Secret issued for `cert()` at T0 (3h unless `durationMs` says otherwise: renewal at T0+2h), its certificate naming `names`. */
async function issuedSecret(
  certificate = cert(),
  names: { commonName: string; dnsNames: string[] } = { commonName: 'web', dnsNames: ['web.local'] },
  durationMs = 3 * HOUR,
): Promise<Resource> {
  const csr = parseCsr(
    buildCsr({ key: KEY, subject: { commonName: names.commonName }, sans: { dnsNames: names.dnsNames } }),
  );
  const signed = await new SelfSignedIssuer().sign({
    csr,
    durationMs,
    keyUsages: ['digitalSignature', 'keyEncipherment'],
    extKeyUsages: [],
    privateKey: KEY,
    now: T0,
  });
  return buildCertificateSecret({
    certificate,
    leaf: signed.certificate,
    chain: [],
    ca: signed.ca,
    key: KEY,
  });
}

const withData = (secret: Resource, patch: Record<string, string | undefined>): Resource => {
  const data = { ...(secret['data'] as Record<string, string>) };
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) delete data[k];
    else data[k] = v;
  }
  return { ...secret, data };
};
const b64 = (s: string): string => Buffer.from(s).toString('base64');

describe('decideIssuance', () => {
  const cases: {
    name: string;
    certificate?: CertificateObject;
    secret: (s: Resource) => Resource | undefined;
    now?: Date;
    expected: unknown;
  }[] = [
    {
      name: 'issues with DoesNotExist when the Secret is missing',
      secret: () => undefined,
      expected: { issue: { reason: 'DoesNotExist' } },
    },
    {
      name: 'issues with MissingData when tls.key is missing',
      secret: (s) => withData(s, { 'tls.key': undefined }),
      expected: {
        issue: { reason: 'MissingData', message: expect.stringContaining('lacks tls.key') as unknown },
      },
    },
    {
      name: 'issues with MissingData when tls.crt is empty',
      secret: (s) => withData(s, { 'tls.crt': '' }),
      expected: { issue: { reason: 'MissingData' } },
    },
    {
      name: "issues with InvalidKeyPair when the key is not the certificate's",
      secret: (s) =>
        withData(s, { 'tls.key': b64(OTHER_KEY.export({ type: 'pkcs8', format: 'pem' }) as string) }),
      expected: {
        issue: {
          reason: 'InvalidKeyPair',
          message: expect.stringContaining('is not the key of its certificate') as unknown,
        },
      },
    },
    {
      name: 'issues with InvalidKeyPair when tls.crt is garbage',
      secret: (s) =>
        withData(s, { 'tls.crt': b64('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n') }),
      expected: {
        issue: { reason: 'InvalidKeyPair', message: expect.stringContaining('tls.crt') as unknown },
      },
    },
    {
      name: 'issues with IncorrectIssuer when the issuerRef names another issuer',
      certificate: cert({ issuerRef: { name: 'other', kind: 'Issuer', group: 'cert-manager.io' } }),
      secret: (s) => s,
      expected: {
        issue: { reason: 'IncorrectIssuer', message: expect.stringContaining('"selfsigned"') as unknown },
      },
    },
    {
      name: 'issues with IncorrectIssuer when the issuer kind changes to ClusterIssuer',
      certificate: cert({ issuerRef: { name: 'selfsigned', kind: 'ClusterIssuer' } }),
      secret: (s) => s,
      expected: { issue: { reason: 'IncorrectIssuer' } },
    },
    {
      name: 'issues with SecretMismatch when dnsNames change',
      certificate: cert({ dnsNames: ['web.local', 'www.local'] }),
      secret: (s) => s,
      expected: {
        issue: { reason: 'SecretMismatch', message: expect.stringContaining('dnsNames') as unknown },
      },
    },
    {
      name: 'issues with SecretMismatch when the commonName changes',
      certificate: cert({ commonName: 'api' }),
      secret: (s) => s,
      expected: {
        issue: { reason: 'SecretMismatch', message: expect.stringContaining('commonName') as unknown },
      },
    },
    {
      name: 'issues with SecretMismatch when the subject gains an organization',
      certificate: cert({ subject: { organizations: ['acme'] } }),
      secret: (s) => s,
      expected: {
        issue: { reason: 'SecretMismatch', message: expect.stringContaining('organizations') as unknown },
      },
    },
    {
      name: 'issues with SecretMismatch when uris are added',
      certificate: cert({ uris: ['spiffe://td/ns/a/sa/b'] }),
      secret: (s) => s,
      expected: { issue: { reason: 'SecretMismatch', message: expect.stringContaining('uris') as unknown } },
    },
    {
      name: 'issues with SecretMismatch when isCA changes',
      certificate: cert({ isCA: true }),
      secret: (s) => s,
      expected: { issue: { reason: 'SecretMismatch' } },
    },
    {
      name: 'issues with SecretMismatch when the key algorithm changes',
      certificate: cert({ privateKey: { algorithm: 'RSA' } }),
      secret: (s) => s,
      expected: {
        issue: { reason: 'SecretMismatch', message: expect.stringContaining('RSA 2048') as unknown },
      },
    },
    {
      name: 'issues with SecretMismatch when the ECDSA size changes',
      certificate: cert({ privateKey: { algorithm: 'ECDSA', size: 384 } }),
      secret: (s) => s,
      expected: {
        issue: { reason: 'SecretMismatch', message: expect.stringContaining('ECDSA 384') as unknown },
      },
    },
    {
      name: 'issues with SecretMismatch when usages change',
      certificate: cert({ usages: ['digital signature', 'key encipherment', 'server auth'] }),
      secret: (s) => s,
      expected: {
        issue: {
          reason: 'SecretMismatch',
          message: expect.stringContaining('extended key usages') as unknown,
        },
      },
    },
    {
      name: "issues with SecretMismatch when the duration is shortened below the certificate's lifetime",
      certificate: cert({ duration: '1h' }),
      secret: (s) => s,
      expected: {
        issue: {
          reason: 'SecretMismatch',
          message: expect.stringContaining('longer than spec.duration') as unknown,
        },
      },
    },
    {
      name: 'waits until the renewal time (2/3 of the lifetime) when all matches',
      secret: (s) => s,
      now: new Date(T0.getTime() + HOUR),
      expected: { wait: new Date(T0.getTime() + 2 * HOUR), why: 'renewal' },
    },
    {
      name: 'renews at the renewal time',
      secret: (s) => s,
      now: new Date(T0.getTime() + 2 * HOUR),
      expected: {
        issue: {
          reason: 'Renewing',
          message: 'Renewing certificate as renewal was scheduled at 2030-01-01T02:00:00Z',
        },
      },
    },
    {
      name: 'uses renewBefore when it is shorter than the lifetime',
      certificate: cert({ renewBefore: '30m' }),
      secret: (s) => s,
      expected: { wait: new Date(T0.getTime() + 2.5 * HOUR), why: 'renewal' },
    },
    {
      name: 'ignores a renewBefore longer than the lifetime',
      certificate: cert({ renewBefore: '5h' }),
      secret: (s) => s,
      expected: { wait: new Date(T0.getTime() + 2 * HOUR), why: 'renewal' },
    },
    {
      name: 'uses renewBeforePercentage',
      certificate: cert({ renewBeforePercentage: 50 }),
      secret: (s) => s,
      expected: { wait: new Date(T0.getTime() + 1.5 * HOUR), why: 'renewal' },
    },
    {
      name: 'does nothing while Issuing=True (a manual renew or an issuance in progress)',
      certificate: cert(
        {},
        { conditions: [{ type: 'Issuing', status: 'True', reason: 'ManuallyTriggered' }] },
      ),
      secret: () => undefined,
      expected: { busy: true },
    },
    {
      name: 'waits out a backoff of 1h after the first failure even when the Secret is missing',
      certificate: cert({}, { failedIssuanceAttempts: 1, lastFailureTime: '2030-01-01T00:00:00Z' }),
      secret: () => undefined,
      now: new Date(T0.getTime() + 59 * 60_000),
      expected: { wait: new Date(T0.getTime() + HOUR), why: 'backoff' },
    },
    {
      name: 'issues when the backoff has ended',
      certificate: cert({}, { failedIssuanceAttempts: 1, lastFailureTime: '2030-01-01T00:00:00Z' }),
      secret: () => undefined,
      now: new Date(T0.getTime() + HOUR),
      expected: { issue: { reason: 'DoesNotExist' } },
    },
    {
      name: 'waits 4h after the third failure',
      certificate: cert({}, { failedIssuanceAttempts: 3, lastFailureTime: '2030-01-01T00:00:00Z' }),
      secret: () => undefined,
      now: new Date(T0.getTime() + 3 * HOUR),
      expected: { wait: new Date(T0.getTime() + 4 * HOUR), why: 'backoff' },
    },
  ];
  it.each(cases)('$name', async ({ certificate, secret, now, expected }) => {
    const base = await issuedSecret();
    const decision = decideIssuance({
      certificate: certificate ?? cert(),
      secret: secret(base),
      now: now ?? T0,
    });
    expect(decision).toMatchObject(expected as object);
  });

  it('skips the backoff when the spec changed since the failure', () => {
    const decision = decideIssuance({
      certificate: cert({}, { failedIssuanceAttempts: 5, lastFailureTime: '2030-01-01T00:00:00Z' }),
      secret: undefined,
      specChangedSinceFailure: true,
      now: T0,
    });
    expect(decision).toMatchObject({ issue: { reason: 'DoesNotExist' } });
  });

  it('applies a configured backoff base', () => {
    const decision = decideIssuance({
      certificate: cert({}, { failedIssuanceAttempts: 2, lastFailureTime: '2030-01-01T00:00:00Z' }),
      secret: undefined,
      now: T0,
      backoffBaseMs: 60_000,
    });
    expect(decision).toEqual({ wait: new Date(T0.getTime() + 120_000), why: 'backoff' });
  });
});

describe('decideIssuance with a subject the issuer rewrote (ACME servers, Vault roles)', () => {
  /** A Secret whose certificate has the subject an ACME server gives: CN = the first DNS name, nothing else. */
  const acmeStyleSecret = (certificate: CertificateObject, dnsNames: string[]): Promise<Resource> =>
    issuedSecret(certificate, { commonName: dnsNames[0]!, dnsNames });
  /** The current request: the CSR meshca built from the spec. */
  const requestFor = (subject: { commonName?: string; organizations?: string[] }, dnsNames: string[]) =>
    ({
      apiVersion: 'cert-manager.io/v1',
      kind: 'CertificateRequest',
      metadata: { name: 'web-1', namespace: 'ns', annotations: { 'cert-manager.io/certificate-revision': '1' } },
      spec: {
        request: Buffer.from(buildCsr({ key: KEY, subject, sans: { dnsNames } })).toString('base64'),
        issuerRef: { name: 'selfsigned', kind: 'Issuer', group: 'cert-manager.io' },
        duration: '3h',
        usages: ['digital signature', 'key encipherment'],
      },
    }) as never;

  it('accepts a CN that is one of the DNS names when the spec has none: no issuance loop', async () => {
    const certificate = cert({ commonName: undefined, dnsNames: ['a.example.test', 'b.example.test'] });
    const secret = await acmeStyleSecret(certificate, ['a.example.test', 'b.example.test']);
    expect(decideIssuance({ certificate, secret, now: T0 })).toEqual({ wait: new Date(T0.getTime() + 2 * HOUR), why: 'renewal' });
    expect(
      decideIssuance({ certificate, secret, now: T0, currentRequest: requestFor({}, ['a.example.test', 'b.example.test']) }),
    ).toMatchObject({ why: 'renewal' });
  });

  it('still issues when the CN is not among the DNS names, or the spec names another CN', async () => {
    const secret = await acmeStyleSecret(cert(), ['c.example.test']);
    const noCn = cert({ commonName: undefined, dnsNames: ['a.example.test'] });
    expect(decideIssuance({ certificate: noCn, secret, now: T0 })).toMatchObject({ issue: { reason: 'SecretMismatch' } });
    const otherCn = cert({ commonName: 'web', dnsNames: ['c.example.test'] });
    expect(decideIssuance({ certificate: otherCn, secret, now: T0 })).toMatchObject({
      issue: { reason: 'SecretMismatch', message: expect.stringContaining('commonName') as unknown },
    });
  });

  it('accepts DNS names the issuer lowercased, as ACME servers do: no issuance loop for API.example.test', async () => {
    const certificate = cert({ commonName: undefined, dnsNames: ['API.example.test', '*.Apps.example.test'] });
    const secret = await acmeStyleSecret(certificate, ['api.example.test', '*.apps.example.test']);
    expect(decideIssuance({ certificate, secret, now: T0 })).toEqual({ wait: new Date(T0.getTime() + 2 * HOUR), why: 'renewal' });
    // Another name is still a mismatch, whatever its case.
    const other = cert({ commonName: undefined, dnsNames: ['API.example.test', 'web.example.test'] });
    expect(decideIssuance({ certificate: other, secret, now: T0 })).toMatchObject({
      issue: { reason: 'SecretMismatch', message: expect.stringContaining('dnsNames') as unknown },
    });
  });

  it('accepts the spec commonName added to the DNS names', async () => {
    const certificate = cert({ commonName: 'a.example.test', dnsNames: ['b.example.test'] });
    const secret = await acmeStyleSecret(certificate, ['a.example.test', 'b.example.test']);
    expect(decideIssuance({ certificate, secret, now: T0 })).toMatchObject({ why: 'renewal' });
  });

  it('compares other subject attributes through the current request, so a dropped organization does not loop', async () => {
    const certificate = cert({ commonName: undefined, dnsNames: ['a.example.test'], subject: { organizations: ['Acme'] } });
    const secret = await acmeStyleSecret(certificate, ['a.example.test']);
    // With the request of the current revision (which asked for O=Acme): no re-issuance.
    const asked = requestFor({ organizations: ['Acme'] }, ['a.example.test']);
    expect(decideIssuance({ certificate, secret, now: T0, currentRequest: asked })).toMatchObject({ why: 'renewal' });
    // A spec change is still seen, through the request.
    const changed = cert({ commonName: undefined, dnsNames: ['a.example.test'], subject: { organizations: ['Other'] } });
    expect(decideIssuance({ certificate: changed, secret, now: T0, currentRequest: asked })).toMatchObject({
      issue: { reason: 'SecretMismatch', message: expect.stringContaining('organizations') as unknown },
    });
    // Without any request, the certificate is all there is to compare: issue (once; the request then exists).
    expect(decideIssuance({ certificate, secret, now: T0 })).toMatchObject({ issue: { reason: 'SecretMismatch' } });
  });
});

describe('the backoff and the expiry of the current certificate', () => {
  const MINUTE = 60_000;
  const at = (ms: number): Date => new Date(T0.getTime() + ms);
  const failed = (duration: string, failures: number, lastFailureMs: number): CertificateObject =>
    cert(
      { duration },
      { failedIssuanceAttempts: failures, lastFailureTime: at(lastFailureMs).toISOString() },
    );

  it('retries shortly before a 24h certificate expires instead of 7h after (failures at 16h, 17h, 19h, 23h)', async () => {
    const secret = await issuedSecret(cert({ duration: '24h' }), undefined, 24 * HOUR);
    // cert-manager's backoff alone: 23h + 8h = 31h. The cap: 24h − 30 min (5% of 24h is more than 30 min).
    const decision = decideIssuance({
      certificate: failed('24h', 4, 23 * HOUR),
      secret,
      now: at(23 * HOUR + MINUTE),
    });
    expect(decision).toEqual({ wait: at(23 * HOUR + 30 * MINUTE), why: 'backoff' });
    // And then it issues (the renewal time, 16h, is long past).
    expect(
      decideIssuance({ certificate: failed('24h', 4, 23 * HOUR), secret, now: at(23 * HOUR + 30 * MINUTE) }),
    ).toMatchObject({ issue: { reason: 'Renewing' } });
  });

  it('retries a 1h certificate that failed at 40 min 3 min before it expires, not after', async () => {
    const secret = await issuedSecret(cert({ duration: '1h' }), undefined, HOUR);
    expect(
      decideIssuance({ certificate: failed('1h', 1, 40 * MINUTE), secret, now: at(40 * MINUTE) }),
    ).toEqual({
      wait: at(57 * MINUTE),
      why: 'backoff',
    });
  });

  it('keeps the backoff when it ends before the cap', async () => {
    const secret = await issuedSecret(cert({ duration: '24h' }), undefined, 24 * HOUR);
    expect(decideIssuance({ certificate: failed('24h', 2, 17 * HOUR), secret, now: at(17 * HOUR) })).toEqual({
      wait: at(19 * HOUR),
      why: 'backoff',
    });
  });

  it('gives one last attempt only: a failure at or after the cap backs off as cert-manager does', async () => {
    const secret = await issuedSecret(cert({ duration: '1h' }), undefined, HOUR);
    expect(
      decideIssuance({ certificate: failed('1h', 2, 57 * MINUTE), secret, now: at(57 * MINUTE) }),
    ).toEqual({
      wait: at(57 * MINUTE + 2 * HOUR),
      why: 'backoff',
    });
  });

  it('keeps the backoff when the current certificate has expired, or there is no readable one', async () => {
    const secret = await issuedSecret(cert({ duration: '1h' }), undefined, HOUR);
    const certificate = failed('1h', 1, 40 * MINUTE);
    expect(decideIssuance({ certificate, secret, now: at(HOUR) })).toEqual({
      wait: at(100 * MINUTE),
      why: 'backoff',
    });
    expect(decideIssuance({ certificate, secret: undefined, now: at(50 * MINUTE) })).toEqual({
      wait: at(100 * MINUTE),
      why: 'backoff',
    });
    expect(
      decideIssuance({
        certificate,
        secret: withData(secret, { 'tls.crt': b64('garbage') }),
        now: at(50 * MINUTE),
      }),
    ).toEqual({ wait: at(100 * MINUTE), why: 'backoff' });
  });

  it.each([
    ['10 min', 10 * MINUTE, MINUTE],
    ['1h', HOUR, 3 * MINUTE],
    ['3h', 3 * HOUR, 9 * MINUTE],
    ['24h', 24 * HOUR, 30 * MINUTE],
    ['90 days', 90 * 24 * HOUR, 30 * MINUTE],
  ])('keeps the last retry of a %s certificate that long before notAfter', (_name, lifetime, margin) => {
    expect(lastRetryBeforeExpiry(T0, at(lifetime))).toEqual(at(lifetime - margin));
  });
});

describe('backoffDelay', () => {
  it.each([
    [0, 0],
    [1, 1],
    [2, 2],
    [3, 4],
    [4, 8],
    [5, 16],
    [6, 32],
    [7, 32],
    [100, 32],
    [Number.MAX_SAFE_INTEGER, 32],
  ])('after %i failures waits %ih', (failures, hours) => {
    expect(backoffDelay(failures)).toBe(hours * HOUR);
  });

  it('never exceeds 32h, whatever the base', () => {
    expect(backoffDelay(3, 20 * HOUR)).toBe(MAX_BACKOFF_MS);
  });
});
