import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KEY_USAGES } from '../../api/key-usage.js';
import { MeshcaError } from '../../errors/index.js';
import { generatePrivateKey } from '../../pki/index.js';
import { shouldApprove } from './approver-controller.js';
import type { CertificateObject, RequestObject } from './certificate-resources.js';
import { desiredCertificate, parseLiteralSubject } from './desired-certificate.js';
import { decideKey } from './key-manager-controller.js';
import {
  SecretNameIndex,
  certificateKeysOfWatched,
  secretNameAndKeystorePasswords,
} from './lifecycle-options.js';
import { prunableRevisions } from './readiness-controller.js';
import { staleRequestReason } from './request-manager-controller.js';
import { classifySignFailure, pendingRetryDelay } from './request-signer-controller.js';
import { mapUsages } from './usages.js';

const P256 = generatePrivateKey({ algorithm: 'ECDSA', size: 256 });
const ED = generatePrivateKey({ algorithm: 'Ed25519' });

describe('decideKey (rotationPolicy)', () => {
  it.each([
    {
      name: 'Always makes a new key even when the old one fits',
      policy: 'Always',
      key: P256,
      spec: { algorithm: 'ECDSA', size: 256 },
      reuse: false,
    },
    {
      name: 'Always makes a new key when there is none',
      policy: 'Always',
      key: undefined,
      spec: { algorithm: 'ECDSA', size: 256 },
      reuse: false,
    },
    {
      name: 'Never reuses a key of the asked algorithm and size',
      policy: 'Never',
      key: P256,
      spec: { algorithm: 'ECDSA', size: 256 },
      reuse: true,
    },
    {
      name: 'Never makes a key when the Secret has none',
      policy: 'Never',
      key: undefined,
      spec: { algorithm: 'ECDSA', size: 256 },
      reuse: false,
    },
    {
      name: 'Never makes a key when the size changed',
      policy: 'Never',
      key: P256,
      spec: { algorithm: 'ECDSA', size: 384 },
      reuse: false,
    },
    {
      name: 'Never makes a key when the algorithm changed',
      policy: 'Never',
      key: ED,
      spec: { algorithm: 'ECDSA', size: 256 },
      reuse: false,
    },
    {
      name: 'Never reuses an Ed25519 key',
      policy: 'Never',
      key: ED,
      spec: { algorithm: 'Ed25519' },
      reuse: true,
    },
  ] as const)('$name', ({ policy, key, spec, reuse }) => {
    const decision = decideKey(policy, key, spec);
    expect('reuse' in decision).toBe(reuse);
    expect(decision.message).toContain(`rotationPolicy is ${policy}`);
  });
});

describe('mapUsages', () => {
  it.each([
    { usages: undefined, isCA: false, key: ['digitalSignature', 'keyEncipherment'], ext: [] },
    { usages: [], isCA: false, key: ['digitalSignature', 'keyEncipherment'], ext: [] },
    { usages: undefined, isCA: true, key: ['digitalSignature', 'keyCertSign', 'keyEncipherment'], ext: [] },
    { usages: ['server auth', 'client auth'], isCA: false, key: [], ext: ['clientAuth', 'serverAuth'] },
    { usages: ['signing', 'digital signature'], isCA: false, key: ['digitalSignature'], ext: [] },
    { usages: ['cert sign', 'crl sign'], isCA: true, key: ['cRLSign', 'keyCertSign'], ext: [] },
    {
      usages: ['content commitment', 'key agreement', 'data encipherment', 'encipher only', 'decipher only'],
      isCA: false,
      key: ['contentCommitment', 'dataEncipherment', 'decipherOnly', 'encipherOnly', 'keyAgreement'],
      ext: [],
    },
    { usages: ['s/mime', 'email protection'], isCA: false, key: [], ext: ['emailProtection'] },
    {
      usages: ['code signing', 'timestamping', 'ocsp signing'],
      isCA: false,
      key: [],
      ext: ['OCSPSigning', 'codeSigning', 'timeStamping'],
    },
    {
      usages: ['any', 'ipsec end system', 'ipsec tunnel', 'ipsec user', 'microsoft sgc', 'netscape sgc'],
      isCA: false,
      key: [],
      ext: [
        '1.3.6.1.4.1.311.10.3.3',
        '1.3.6.1.5.5.7.3.5',
        '1.3.6.1.5.5.7.3.6',
        '1.3.6.1.5.5.7.3.7',
        '2.16.840.1.113730.4.1',
        '2.5.29.37.0',
      ],
    },
    { usages: ['no such usage'], isCA: false, key: [], ext: [] },
  ])('maps $usages (isCA $isCA) to $key and $ext', ({ usages, isCA, key, ext }) => {
    expect(mapUsages(usages, isCA)).toEqual({ keyUsages: key, extKeyUsages: ext });
  });

  it('maps every cert-manager usage to something, in any order, without duplicates', () => {
    fc.assert(
      fc.property(fc.subarray([...KEY_USAGES], { minLength: 1 }), fc.boolean(), (usages, isCA) => {
        const mapped = mapUsages(usages, isCA);
        expect(mapped.keyUsages.length + mapped.extKeyUsages.length).toBeGreaterThan(0);
        expect(new Set(mapped.keyUsages).size).toBe(mapped.keyUsages.length);
        expect(mapUsages([...usages].reverse(), isCA)).toEqual(mapped);
        if (isCA) expect(mapped.keyUsages).toContain('keyCertSign');
      }),
    );
  });
});

const request = (
  conditions: { type: string; status: 'True' | 'False'; reason?: string }[],
  group = 'cert-manager.io',
  annotations: Record<string, string> = {},
): RequestObject => ({
  apiVersion: 'cert-manager.io/v1',
  kind: 'CertificateRequest',
  metadata: { name: 'web-1', namespace: 'ns', annotations },
  spec: { request: 'x', issuerRef: { name: 'ca', kind: 'Issuer', group } },
  status: { conditions },
});

describe('shouldApprove', () => {
  it.each([
    {
      name: 'approves a fresh request naming a cert-manager.io issuer',
      r: request([]),
      approval: true,
      want: true,
    },
    { name: 'does nothing when approval is off', r: request([]), approval: false, want: false },
    {
      name: 'leaves an Approved request alone',
      r: request([{ type: 'Approved', status: 'True' }]),
      approval: true,
      want: false,
    },
    {
      name: 'never approves a Denied request',
      r: request([{ type: 'Denied', status: 'True' }]),
      approval: true,
      want: false,
    },
    {
      name: 'leaves requests for external issuers to their approvers',
      r: request([], 'example.com'),
      approval: true,
      want: false,
    },
  ])('$name', ({ r, approval, want }) => {
    expect(shouldApprove(r, approval)).toBe(want);
  });
});

describe('classifySignFailure', () => {
  it.each([
    ['ISSUER_NOT_READY', false],
    ['ISSUER_NOT_FOUND', false],
    ['UPSTREAM_UNAVAILABLE', false],
    ['STORE_UNAVAILABLE', false],
    ['ISSUER_INVALID', true],
    ['CSR_INVALID', true],
    ['CSR_SIGNATURE_INVALID', true],
    ['KEY_MISMATCH', true],
    ['INVALID_RESOURCE', true],
  ] as const)('treats %s as final=%s', (code, final) => {
    expect(classifySignFailure(new MeshcaError(code, 'x')).final).toBe(final);
  });

  it('treats an unexpected error as final, keeping its message', () => {
    const { final, error } = classifySignFailure(new TypeError('boom'));
    expect(final).toBe(true);
    expect(error.message).toBe('boom');
  });

  it.each([
    [1, 5000],
    [2, 10_000],
    [4, 40_000],
    [7, 300_000],
    [1000, 300_000],
  ])('waits %i → %i ms before retrying a pending request', (n, ms) => {
    expect(pendingRetryDelay(n, 5000)).toBe(ms);
  });
});

describe('staleRequestReason', () => {
  const issued = (attempt: string | undefined): RequestObject => {
    const r = request(
      [{ type: 'Ready', status: 'True', reason: 'Issued' }],
      undefined,
      attempt === undefined ? {} : { 'meshca.io/issuance-attempt': attempt },
    );
    return { ...r, status: { ...r.status, certificate: 'eA==' } };
  };
  const certificate = (attempts?: number) =>
    ({ status: attempts === undefined ? {} : { failedIssuanceAttempts: attempts } }) as Parameters<
      typeof staleRequestReason
    >[0];
  it.each([
    {
      name: 'keeps a pending request of this attempt',
      r: request([], undefined, { 'meshca.io/issuance-attempt': '0' }),
      c: certificate(),
      why: undefined,
      stale: false,
    },
    {
      name: 'replaces a request that no longer matches',
      r: request([], undefined, { 'meshca.io/issuance-attempt': '0' }),
      c: certificate(),
      why: 'dnsNames differ',
      stale: true,
    },
    {
      name: 'keeps the failed request of the current attempt (issuing records it)',
      r: request([{ type: 'Ready', status: 'False', reason: 'Failed' }], undefined, {
        'meshca.io/issuance-attempt': '1',
      }),
      c: certificate(1),
      why: undefined,
      stale: false,
    },
    {
      name: 'replaces the failed request of an earlier attempt',
      r: request([{ type: 'Ready', status: 'False', reason: 'Failed' }], undefined, {
        'meshca.io/issuance-attempt': '0',
      }),
      c: certificate(1),
      why: undefined,
      stale: true,
    },
    {
      name: 'replaces the denied request of an earlier attempt',
      r: request([{ type: 'Denied', status: 'True' }], undefined, { 'meshca.io/issuance-attempt': '2' }),
      c: certificate(3),
      why: undefined,
      stale: true,
    },
    {
      name: 'keeps the issued request of the current attempt',
      r: issued('1'),
      c: certificate(1),
      why: undefined,
      stale: false,
    },
    {
      // Its issuance failed after signing (an issued certificate that could not be read): the issuing
      // controller ignores it, so keeping it would block the issuance for good (rotationPolicy Never).
      name: 'replaces the issued request of an earlier attempt',
      r: issued('0'),
      c: certificate(1),
      why: undefined,
      stale: true,
    },
    {
      name: 'replaces a pending request of an earlier attempt',
      r: request([], undefined, { 'meshca.io/issuance-attempt': '0' }),
      c: certificate(2),
      why: undefined,
      stale: true,
    },
    {
      name: 'replaces an issued request that names no attempt',
      r: issued(undefined),
      c: certificate(),
      why: undefined,
      stale: true,
    },
  ])('$name', ({ r, c, why, stale }) => {
    expect(staleRequestReason(c, r, why) !== undefined).toBe(stale);
  });
});

describe('prunableRevisions', () => {
  it.each([
    [1, 1, []],
    [3, 1, [2, 1]],
    [3, 2, [1]],
    [5, 10, []],
  ])('revision %i with limit %i deletes %j', (revision, limit, expected) => {
    expect(prunableRevisions(revision, limit)).toEqual(expected);
  });
});

describe('desiredCertificate', () => {
  const spec = (extra: Record<string, unknown>) =>
    ({
      secretName: 's',
      issuerRef: { name: 'i', kind: 'Issuer', group: 'cert-manager.io' },
      ...extra,
    }) as Parameters<typeof desiredCertificate>[0];

  it('applies cert-manager defaults: RSA 2048, PKCS1, rotation Always, 2160h, default usages', () => {
    expect(desiredCertificate(spec({}))).toMatchObject({
      keySpec: { algorithm: 'RSA', size: 2048 },
      encoding: 'PKCS1',
      rotationPolicy: 'Always',
      durationMs: 2160 * 3_600_000,
      keyUsages: ['digitalSignature', 'keyEncipherment'],
      isCA: false,
    });
  });

  it('reads a literalSubject', () => {
    expect(parseLiteralSubject('CN=web\\, inc,O=acme,O=beta,C=NL')).toEqual({
      commonName: 'web, inc',
      organizations: ['acme', 'beta'],
      countries: ['NL'],
    });
  });

  it.each([
    ['CN=a+O=b', 'multi-valued'],
    ['UID=x', 'cannot read'],
    ['no equals sign', 'cannot read'],
    ['CN=#0403616263', 'cannot read'],
  ])('refuses the literalSubject %j (%s)', (text, why) => {
    expect(() => parseLiteralSubject(text)).toThrow(why);
  });

  it('never throws anything but a MeshcaError on hostile literalSubjects', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (text) => {
        try {
          parseLiteralSubject(text);
        } catch (err) {
          expect(err).toBeInstanceOf(MeshcaError);
        }
      }),
    );
  });

  it('carries otherNames into the desired SANs', () => {
    const d = desiredCertificate(spec({ otherNames: [{ oid: '1.3.6.1.4.1.311.20.2.3', utf8Value: 'u@x' }] }));
    expect(d.sans.otherNames).toEqual([{ oid: '1.3.6.1.4.1.311.20.2.3', utf8Value: 'u@x' }]);
    expect(desiredCertificate(spec({})).sans.otherNames).toBeUndefined();
  });

  it('refuses a bad duration with INVALID_RESOURCE', () => {
    expect(() => desiredCertificate(spec({ duration: '5 days' }))).toThrow('spec.duration');
  });

  it('flattens nameConstraints', () => {
    const d = desiredCertificate(
      spec({
        isCA: true,
        nameConstraints: {
          critical: true,
          permitted: { dnsDomains: ['mesh.local'] },
          excluded: { ipRanges: ['10.0.0.0/8'] },
        },
      }),
    );
    expect(d.nameConstraints).toEqual({
      critical: true,
      permittedDnsDomains: ['mesh.local'],
      excludedIpRanges: ['10.0.0.0/8'],
    });
  });
});

describe('SecretNameIndex (a Secret → the Certificates naming it in spec.secretName)', () => {
  const CERT = { apiVersion: 'cert-manager.io/v1', kind: 'Certificate' } as const;
  const key = (namespace: string, name: string) => ({ ...CERT, namespace, name });
  const certificate = (namespace: string, name: string, secretName: string): CertificateObject => ({
    ...CERT,
    metadata: { name, namespace },
    spec: { secretName, issuerRef: { name: 'ca', kind: 'Issuer', group: 'cert-manager.io' } },
  });
  const secret = (namespace: string, name: string, annotations?: Record<string, string>) => ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace, ...(annotations !== undefined && { annotations }) },
  });
  const names = (keys: { namespace?: string; name: string }[]): string[] =>
    keys.map((k) => `${k.namespace ?? ''}/${k.name}`).sort();

  it('maps a Secret without annotations to the Certificates of its namespace naming it, and follows changes and deletions', () => {
    const index = new SecretNameIndex();
    index.observe(key('a', 'web'), certificate('a', 'web', 'tls'));
    index.observe(key('a', 'api'), certificate('a', 'api', 'tls'));
    index.observe(key('b', 'web'), certificate('b', 'web', 'tls'));
    expect(names(certificateKeysOfWatched(secret('a', 'tls'), index))).toEqual(['a/api', 'a/web']);
    expect(names(certificateKeysOfWatched(secret('b', 'tls'), index))).toEqual(['b/web']);
    expect(certificateKeysOfWatched(secret('a', 'other'), index)).toEqual([]);
    index.observe(key('a', 'web'), certificate('a', 'web', 'web-tls'));
    expect(names(certificateKeysOfWatched(secret('a', 'tls'), index))).toEqual(['a/api']);
    expect(names(certificateKeysOfWatched(secret('a', 'web-tls'), index))).toEqual(['a/web']);
    index.observe(key('a', 'api'), undefined);
    index.observe(key('a', 'web'), undefined);
    expect(certificateKeysOfWatched(secret('a', 'tls'), index)).toEqual([]);
    expect(certificateKeysOfWatched(secret('a', 'web-tls'), index)).toEqual([]);
    expect(index.size).toBe(1);
  });

  it('adds the certificate-name annotation once, and maps a CertificateRequest only by it', () => {
    const index = new SecretNameIndex();
    index.observe(key('a', 'web'), certificate('a', 'web', 'tls'));
    const annotated = { 'cert-manager.io/certificate-name': 'web' };
    expect(names(certificateKeysOfWatched(secret('a', 'tls', annotated), index))).toEqual(['a/web']);
    expect(
      names(
        certificateKeysOfWatched(secret('a', 'tls', { 'cert-manager.io/certificate-name': 'api' }), index),
      ),
    ).toEqual(['a/api', 'a/web']);
    const request = {
      apiVersion: 'cert-manager.io/v1',
      kind: 'CertificateRequest',
      metadata: { name: 'tls', namespace: 'a' },
    };
    expect(certificateKeysOfWatched(request, index)).toEqual([]);
  });

  it('with secretNameAndKeystorePasswords, also maps the password Secrets of the keystores asked for, and forgets them when no longer named', () => {
    const index = new SecretNameIndex(secretNameAndKeystorePasswords);
    const withKeystores = (keystores: Record<string, unknown>): CertificateObject => {
      const c = certificate('a', 'web', 'tls');
      return { ...c, spec: { ...c.spec, keystores } };
    };
    index.observe(
      key('a', 'web'),
      withKeystores({
        pkcs12: { create: true, passwordSecretRef: { name: 'p12-pw' } },
        jks: { create: true, passwordSecretRef: { name: 'jks-pw', key: 'k' } },
      }),
    );
    index.observe(key('a', 'api'), {
      ...withKeystores({ pkcs12: { create: true, passwordSecretRef: { name: 'p12-pw' } } }),
      metadata: { name: 'api', namespace: 'a' },
    });
    expect(names(certificateKeysOfWatched(secret('a', 'p12-pw'), index))).toEqual(['a/api', 'a/web']);
    expect(names(certificateKeysOfWatched(secret('a', 'jks-pw'), index))).toEqual(['a/web']);
    expect(names(certificateKeysOfWatched(secret('a', 'tls'), index))).toEqual(['a/api', 'a/web']);
    expect(certificateKeysOfWatched(secret('b', 'p12-pw'), index)).toEqual([]);
    // create: false, or a literal password, reads no Secret.
    index.observe(
      key('a', 'web'),
      withKeystores({
        pkcs12: { create: false, passwordSecretRef: { name: 'p12-pw' } },
        jks: { create: true, password: 'lit', passwordSecretRef: { name: 'jks-pw' } },
      }),
    );
    expect(names(certificateKeysOfWatched(secret('a', 'p12-pw'), index))).toEqual(['a/api']);
    expect(certificateKeysOfWatched(secret('a', 'jks-pw'), index)).toEqual([]);
    expect(names(certificateKeysOfWatched(secret('a', 'tls'), index))).toEqual(['a/api', 'a/web']);
    index.observe(key('a', 'api'), undefined);
    expect(certificateKeysOfWatched(secret('a', 'p12-pw'), index)).toEqual([]);
    // The default index knows spec.secretName only.
    const plain = new SecretNameIndex();
    plain.observe(
      key('a', 'web'),
      withKeystores({ pkcs12: { create: true, passwordSecretRef: { name: 'p12-pw' } } }),
    );
    expect(certificateKeysOfWatched(secret('a', 'p12-pw'), plain)).toEqual([]);
  });
});
