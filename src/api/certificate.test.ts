import { describe, expect, it } from 'vitest';
import { decode, issuesOf, withSpec } from './testing/builders.js';
import { GATEWAY_CERTIFICATE, ISTIO_CA_CERTIFICATE, ROOT_CERTIFICATE } from './testing/manifests.js';
import { parseResource, validateResource } from './validate-resource.js';
import type { Certificate } from './certificate.js';

// Every field of cert-manager's v1 CertificateSpec, set at once.
const EVERY_FIELD = {
  subject: {
    organizations: ['Example'],
    countries: ['NL'],
    organizationalUnits: ['Platform'],
    localities: ['Amsterdam'],
    provinces: ['Noord-Holland'],
    streetAddresses: ['Main 1'],
    postalCodes: ['1000AA'],
    serialNumber: '42',
  },
  commonName: 'web.example.com',
  duration: '2160h',
  renewBefore: '360h',
  dnsNames: ['web.example.com'],
  ipAddresses: ['10.0.0.1', 'fd00::1'],
  uris: ['spiffe://cluster.local/ns/default/sa/web'],
  emailAddresses: ['web@example.com'],
  otherNames: [{ oid: '1.3.6.1.4.1.311.20.2.3', utf8Value: 'web@example.com' }],
  secretName: 'web-tls',
  secretTemplate: { annotations: { 'example.com/team': 'web' }, labels: { team: 'web' } },
  keystores: {
    jks: { create: true, passwordSecretRef: { name: 'jks-password', key: 'password' }, alias: 'web' },
    pkcs12: { create: true, password: 'changeit', profile: 'Modern2023' },
  },
  issuerRef: { name: 'ca', kind: 'ClusterIssuer', group: 'cert-manager.io' },
  isCA: true,
  usages: ['digital signature', 'key encipherment', 'server auth', 'client auth', 'cert sign'],
  privateKey: { algorithm: 'ECDSA', size: 384, encoding: 'PKCS8', rotationPolicy: 'Never' },
  signatureAlgorithm: 'ECDSAWithSHA384',
  revisionHistoryLimit: 3,
  additionalOutputFormats: [{ type: 'CombinedPEM' }, { type: 'DER' }],
  nameConstraints: {
    critical: true,
    permitted: {
      dnsDomains: ['example.com'],
      ipRanges: ['10.0.0.0/8'],
      emailAddresses: ['example.com'],
      uriDomains: ['.example.com'],
    },
    excluded: { dnsDomains: ['bad.example.com'], ipRanges: ['10.1.0.0/16'] },
  },
  encodeUsagesInRequest: true,
};

describe('Certificate', () => {
  it.each([
    ['the self-signed mesh root (isCA, 30 years)', ROOT_CERTIFICATE],
    ['the istio-ca intermediate (isCA, 720h)', ISTIO_CA_CERTIFICATE],
    ['a gateway certificate with a wildcard', GATEWAY_CERTIFICATE],
  ])('accepts %s unchanged', (_what, yamlText) => {
    expect(issuesOf(decode(yamlText))).toEqual([]);
  });

  it('accepts every field of the cert-manager v1 spec at once', () => {
    expect(issuesOf(withSpec(ISTIO_CA_CERTIFICATE, EVERY_FIELD))).toEqual([]);
  });

  it('accepts a status as cert-manager writes it', () => {
    const doc = {
      ...decode(ISTIO_CA_CERTIFICATE),
      status: {
        conditions: [
          {
            type: 'Ready',
            status: 'True',
            reason: 'Ready',
            message: 'Certificate is up to date and has not expired',
            lastTransitionTime: '2025-01-01T00:00:00Z',
            observedGeneration: 1,
          },
        ],
        notBefore: '2025-01-01T00:00:00Z',
        notAfter: '2025-01-31T00:00:00Z',
        renewalTime: '2025-01-21T00:00:00Z',
        revision: 2,
        nextPrivateKeySecretName: 'istio-ca-x7k2p',
        failedIssuanceAttempts: 0,
        lastFailureTime: '2024-12-31T00:00:00Z',
      },
    };
    expect(issuesOf(doc)).toEqual([]);
  });

  it('defaults issuerRef kind to Issuer and group to cert-manager.io, like cert-manager', () => {
    const cert = parseResource(decode(GATEWAY_CERTIFICATE)) as Certificate;
    expect(cert.spec.issuerRef).toEqual({ name: 'letsencrypt', kind: 'Issuer', group: 'cert-manager.io' });
  });

  it('treats an empty issuerRef group as cert-manager.io', () => {
    const cert = parseResource(
      withSpec(GATEWAY_CERTIFICATE, { issuerRef: { name: 'ca', group: '' } }),
    ) as Certificate;
    expect(cert.spec.issuerRef.group).toBe('cert-manager.io');
  });

  it.each<[string, Record<string, unknown>, Record<string, unknown>]>([
    ['RSA size 0 (the default)', { algorithm: 'RSA', size: 0 }, { algorithm: 'RSA' }],
    [
      'ECDSA size 0 (the default)',
      { algorithm: 'ECDSA', size: 0, encoding: 'PKCS8' },
      { algorithm: 'ECDSA', encoding: 'PKCS8' },
    ],
    ['size 0 of the default algorithm', { size: 0 }, {}],
    [
      'an Ed25519 size, which cert-manager ignores',
      { algorithm: 'Ed25519', size: 256 },
      { algorithm: 'Ed25519' },
    ],
    ['a real size, kept', { algorithm: 'ECDSA', size: 384 }, { algorithm: 'ECDSA', size: 384 }],
  ])('accepts privateKey with %s and stores the key it stands for', (_what, privateKey, stored) => {
    const cert = parseResource(withSpec(GATEWAY_CERTIFICATE, { privateKey })) as Certificate;
    expect(cert.spec.privateKey).toEqual(stored);
  });

  it('accepts a keystore as a Go typed client writes it and drops the empty passwordSecretRef', () => {
    const cert = parseResource(
      withSpec(GATEWAY_CERTIFICATE, {
        keystores: {
          jks: { create: true, password: 'changeit', passwordSecretRef: { name: '' } },
          pkcs12: { create: true, passwordSecretRef: { name: 'p12-password', key: 'pw' } },
        },
      }),
    ) as Certificate;
    expect(cert.spec.keystores).toEqual({
      jks: { create: true, password: 'changeit' },
      pkcs12: { create: true, passwordSecretRef: { name: 'p12-password', key: 'pw' } },
    });
  });

  it('accepts a fully qualified DNS name and e-mail addresses cert-manager accepts, unchanged', () => {
    const names = { dnsNames: ['gateway.example.com.'], emailAddresses: ['root@localhost', 'a@b.c'] };
    const cert = parseResource(withSpec(GATEWAY_CERTIFICATE, names)) as Certificate;
    expect(cert.spec).toMatchObject(names);
  });

  it('does not change the object it validates', () => {
    const doc = withSpec(GATEWAY_CERTIFICATE, { issuerRef: { name: 'ca' } });
    const before = JSON.stringify(doc);
    validateResource(doc);
    expect(JSON.stringify(doc)).toBe(before);
  });

  it.each<[string, Record<string, unknown>, string[]]>([
    [
      'a British spelling in subject',
      { subject: { organisations: ['x'] } },
      ['spec.subject.organisations: unknown field; did you mean "organizations"?'],
    ],
    [
      'a field in the wrong case',
      { secretName: undefined, secretname: 'x' },
      [
        'spec.secretName: is required (a string)',
        'spec.secretname: unknown field; did you mean "secretName"?',
      ],
    ],
    ['an unknown field nothing is close to', { venafiZone: 'x' }, ['spec.venafiZone: unknown field']],
    [
      'a day unit in duration',
      { duration: '90d' },
      [
        'spec.duration: must be a Go duration such as "720h" or "1h30m"; unit "d" is not a Go duration unit; use hours (e.g. 24h for a day)',
      ],
    ],
    [
      'a negative renewBefore',
      { renewBefore: '-1h', renewBeforePercentage: undefined },
      ['spec.renewBefore: must be a Go duration such as "720h" or "1h30m"; durations must not be negative'],
    ],
    [
      'an empty duration',
      { duration: '' },
      ['spec.duration: must be a Go duration such as "720h" or "1h30m"; it is empty'],
    ],
    [
      'a number where a duration goes',
      { duration: 720 },
      ['spec.duration: must be a string, not the number 720'],
    ],
    [
      'a key algorithm in the wrong case',
      { privateKey: { algorithm: 'ecdsa' } },
      ['spec.privateKey.algorithm: must be one of "RSA", "ECDSA", "Ed25519"; did you mean "ECDSA"?'],
    ],
    [
      'an unknown usage',
      { usages: ['server-auth'] },
      [
        expect.stringMatching(
          /^spec\.usages\[0\]: must be one of "signing", .*; did you mean "server auth"\?$/,
        ),
      ],
    ],
    [
      'a bad IP address',
      { ipAddresses: ['10.0.0.300'] },
      ['spec.ipAddresses[0]: must be an IPv4 or IPv6 address (e.g. "10.0.0.1" or "fd00::1")'],
    ],
    [
      'a relative URI',
      { uris: ['ns/default/sa/web'] },
      [
        'spec.uris[0]: must be an absolute URI with a scheme (e.g. "spiffe://cluster.local/ns/default/sa/web")',
      ],
    ],
    [
      'a bad e-mail address',
      { emailAddresses: ['nobody'] },
      ['spec.emailAddresses[0]: must be an e-mail address (e.g. "security@example.com")'],
    ],
    [
      'a misplaced wildcard',
      { dnsNames: ['api.*.example.com'] },
      [
        'spec.dnsNames[1]: may hold a wildcard only as the whole leftmost label (e.g. "*.example.com")'.replace(
          '[1]',
          '[0]',
        ),
      ],
    ],
    [
      'a secret name with capitals',
      { secretName: 'Gateway_TLS' },
      [expect.stringMatching(/^spec\.secretName: must be a lowercase RFC 1123 subdomain/)],
    ],
    ['no secret name', { secretName: undefined }, ['spec.secretName: is required (a string)']],
    ['no issuerRef', { issuerRef: undefined }, ['spec.issuerRef: is required (a mapping)']],
    [
      'an issuerRef without a name',
      { issuerRef: { kind: 'Issuer' } },
      ['spec.issuerRef.name: is required (a string)'],
    ],
    [
      'an external issuer group',
      { issuerRef: { name: 'pca', kind: 'ClusterIssuer', group: 'awspca.cert-manager.io' } },
      [
        'spec.issuerRef.group: meshca signs only through cert-manager.io Issuers and ClusterIssuers; use group "cert-manager.io" instead of "awspca.cert-manager.io"',
      ],
    ],
    [
      'an unknown issuerRef kind',
      { issuerRef: { name: 'x', kind: 'clusterissuer' } },
      ['spec.issuerRef.kind: must be one of "Issuer", "ClusterIssuer"; did you mean "ClusterIssuer"?'],
    ],
    [
      'a common name over 64 characters',
      { commonName: 'a'.repeat(65) },
      ['spec.commonName: must be at most 64 characters (RFC 5280 ub-common-name)'],
    ],
    [
      'a fractional key size',
      { privateKey: { size: 2048.5 } },
      ['spec.privateKey.size: must be an integer, not the number 2048.5'],
    ],
    [
      'a bad otherName OID',
      { otherNames: [{ oid: 'upn', utf8Value: 'x' }] },
      ['spec.otherNames[0].oid: must be an object identifier in dotted form (e.g. "1.3.6.1.4.1.311.20.2.3")'],
    ],
    [
      'an unknown output format',
      { additionalOutputFormats: [{ type: 'PKCS12' }] },
      ['spec.additionalOutputFormats[0].type: must be one of "CombinedPEM", "DER"'],
    ],
    [
      'a bad label in secretTemplate',
      { secretTemplate: { labels: { 'bad key!': 'v' } } },
      [
        expect.stringMatching(
          /^spec\.secretTemplate\.labels\["bad key!"\]: key "bad key!": must be a qualified name/,
        ),
      ],
    ],
    ['isCA as a string', { isCA: 'true' }, ['spec.isCA: must be true or false, not the string "true"']],
    [
      'a bad passwordSecretRef name',
      { keystores: { jks: { create: true, passwordSecretRef: { name: 'Bad_Name', key: 'a/b' } } } },
      [
        expect.stringMatching(
          /^spec\.keystores\.jks\.passwordSecretRef\.name: must be a lowercase RFC 1123 subdomain/,
        ),
        expect.stringMatching(/^spec\.keystores\.jks\.passwordSecretRef\.key: must be a data key/),
      ],
    ],
    [
      'an e-mail address with a display name',
      { emailAddresses: ['Root <root@localhost>'] },
      [
        'spec.emailAddresses[0]: must be the address alone, without a display name or angle brackets (e.g. "security@example.com")',
      ],
    ],
    [
      'a DNS name with two trailing dots',
      { dnsNames: ['example.com..'] },
      ['spec.dnsNames[0]: may end with at most one "." (e.g. "example.com.")'],
    ],
    [
      'dnsNames as one string',
      { dnsNames: 'example.com' },
      ['spec.dnsNames: must be a list, not the string "example.com"'],
    ],
  ])('rejects %s, naming the field and what to do', (_what, patch, expected) => {
    expect(issuesOf(withSpec(GATEWAY_CERTIFICATE, patch))).toEqual(expected);
  });

  it('reports every problem of a document, not only the first', () => {
    const issues = issuesOf(
      withSpec(GATEWAY_CERTIFICATE, {
        duration: '30m',
        renewBefore: '1d',
        subject: { organisations: ['x'] },
        privateKey: { algorithm: 'RSA', size: 1024 },
        ipAddresses: ['nope'],
      }),
    );
    expect(issues).toEqual(
      expect.arrayContaining([
        'spec.subject.organisations: unknown field; did you mean "organizations"?',
        expect.stringContaining('spec.renewBefore: must be a Go duration') as unknown as string,
        'spec.ipAddresses[0]: must be an IPv4 or IPv6 address (e.g. "10.0.0.1" or "fd00::1")',
        "spec.duration: must be at least 1h (cert-manager's minimum certificate duration); it is 30m",
        'spec.privateKey.size: must be between 2048 and 8192 for RSA keys; it is 1024',
        'spec.renewBeforePercentage: must not be set together with renewBefore; keep one of them',
      ]),
    );
    expect(issues).toHaveLength(6);
  });
});
