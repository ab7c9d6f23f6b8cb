import { describe, expect, it } from 'vitest';
import { certificateSpecIssues } from './certificate-rules.js';
import { formatPath } from './validation-issue.js';

const base = { secretName: 'web-tls', issuerRef: { name: 'ca' }, dnsNames: ['web.example.com'] };
const rules = (patch: Record<string, unknown>): string[] =>
  certificateSpecIssues({ ...base, ...patch }).map((i) => `${formatPath(i.path)}: ${i.message}`);

describe('certificateSpecIssues', () => {
  it.each<[string, Record<string, unknown>]>([
    ['a plain DNS certificate', {}],
    ['duration exactly 1h', { duration: '1h' }],
    ['renewBefore just under duration', { duration: '720h', renewBefore: '719h59m' }],
    ['renewBefore of exactly 5m', { renewBefore: '5m' }],
    ['renewBeforePercentage 1 and 99', { renewBeforePercentage: 1 }],
    ['renewBeforePercentage 99', { renewBeforePercentage: 99 }],
    ['an identity given only by literalSubject', { dnsNames: undefined, literalSubject: 'CN=web,O=Example' }],
    [
      'an identity given only by a SPIFFE URI',
      { dnsNames: undefined, uris: ['spiffe://cluster.local/ns/a/sa/b'] },
    ],
    [
      'an identity given only by an otherName',
      { dnsNames: undefined, otherNames: [{ oid: '1.3.6.1.4.1.311.20.2.3', utf8Value: 'a@b' }] },
    ],
    ['an RSA key of 2048 and of 8192 bits', { privateKey: { algorithm: 'RSA', size: 8192 } }],
    ['RSA as the default algorithm, 3072 bits', { privateKey: { size: 3072 } }],
    ['an ECDSA key on P-384', { privateKey: { algorithm: 'ECDSA', size: 384 } }],
    ['an RSA key of an uncommon even size', { privateKey: { algorithm: 'RSA', size: 2560 } }],
    ['RSA size 0, which means the default 2048', { privateKey: { algorithm: 'RSA', size: 0 } }],
    ['ECDSA size 0, which means the default 256', { privateKey: { algorithm: 'ECDSA', size: 0 } }],
    [
      'an Ed25519 key with a size, which cert-manager ignores',
      { privateKey: { algorithm: 'Ed25519', size: 256 } },
    ],
    ['renewBeforePercentage whose renewBefore is exactly 5m', { duration: '100m', renewBeforePercentage: 5 }],
    [
      'renewBeforePercentage 97 of 1h (renews 58m12s before expiry)',
      { duration: '1h', renewBeforePercentage: 97 },
    ],
    ['renewBeforePercentage 1 of the default 90 days', { renewBeforePercentage: 1 }],
    [
      'a password next to the empty passwordSecretRef a Go client writes',
      { keystores: { pkcs12: { create: true, password: 'changeit', passwordSecretRef: { name: '' } } } },
    ],
    [
      'the one secretTemplate annotation cert-manager allows under its prefix',
      { secretTemplate: { annotations: { 'cert-manager.io/allow-direct-injection': 'true' } } },
    ],
    [
      'an Ed25519 key without a size',
      { privateKey: { algorithm: 'Ed25519' }, signatureAlgorithm: 'PureEd25519' },
    ],
    [
      'an Ed25519 key with size 0, as cert-manager writes the default',
      { privateKey: { algorithm: 'Ed25519', size: 0 } },
    ],
    [
      'name constraints on a CA',
      { isCA: true, nameConstraints: { permitted: { dnsDomains: ['example.com'] } } },
    ],
    [
      'a JKS keystore with a password Secret',
      { keystores: { jks: { create: true, passwordSecretRef: { name: 'p' } } } },
    ],
  ])('accept %s', (_what, patch) => {
    expect(rules(patch)).toEqual([]);
  });

  it.each<[string, Record<string, unknown>, string]>([
    [
      'no identity at all',
      { dnsNames: [] },
      'spec: a certificate needs an identity: set at least one of commonName, dnsNames, uris, emailAddresses, ipAddresses, otherNames, literalSubject',
    ],
    [
      'literalSubject with commonName',
      { literalSubject: 'CN=a', commonName: 'a' },
      'spec.commonName: must not be set together with literalSubject, which gives the whole subject; move it into literalSubject',
    ],
    [
      'literalSubject with subject',
      { literalSubject: 'CN=a', subject: { organizations: ['x'] } },
      'spec.subject: must not be set together with literalSubject, which gives the whole subject; move it into literalSubject',
    ],
    [
      'a duration under an hour',
      { duration: '59m59s' },
      "spec.duration: must be at least 1h (cert-manager's minimum certificate duration); it is 59m59s",
    ],
    [
      'renewBefore equal to duration',
      { duration: '720h', renewBefore: '720h' },
      'spec.renewBefore: must be less than duration (720h); shorten renewBefore or lengthen duration',
    ],
    [
      'renewBefore past the default 90 days',
      { renewBefore: '2160h' },
      'spec.renewBefore: must be less than the default duration 2160h (90 days); set a longer duration or a shorter renewBefore',
    ],
    ['renewBefore under 5 minutes', { renewBefore: '4m' }, 'spec.renewBefore: must be at least 5m; it is 4m'],
    [
      'renewBeforePercentage 0',
      { renewBeforePercentage: 0 },
      'spec.renewBeforePercentage: must be between 1 and 99 (a share of the lifetime); it is 0',
    ],
    [
      'renewBeforePercentage 100',
      { renewBeforePercentage: 100 },
      'spec.renewBeforePercentage: must be between 1 and 99 (a share of the lifetime); it is 100',
    ],
    [
      'renewBefore together with renewBeforePercentage',
      { renewBefore: '1h', renewBeforePercentage: 30 },
      'spec.renewBeforePercentage: must not be set together with renewBefore; keep one of them',
    ],
    [
      'an RSA key of 1024 bits',
      { privateKey: { algorithm: 'RSA', size: 1024 } },
      'spec.privateKey.size: must be between 2048 and 8192 for RSA keys; it is 1024',
    ],
    [
      'an RSA key of 16384 bits',
      { privateKey: { size: 16384 } },
      'spec.privateKey.size: must be between 2048 and 8192 for RSA keys; it is 16384',
    ],
    [
      'an ECDSA key of 2048 bits',
      { privateKey: { algorithm: 'ECDSA', size: 2048 } },
      'spec.privateKey.size: must be 256 or 384 for ECDSA keys (the curves P-256 and P-384); it is 2048',
    ],
    [
      'an ECDSA key on P-521, which meshca cannot issue for',
      { privateKey: { algorithm: 'ECDSA', size: 521 } },
      'spec.privateKey.size: must be 256 or 384 for ECDSA keys (the curves P-256 and P-384): meshca does not issue for P-521 keys, which cert-manager accepts; it is 521',
    ],
    [
      'an RSA key of an odd size, which OpenSSL cannot make',
      { privateKey: { size: 2049 } },
      "spec.privateKey.size: must be an even number of bits for RSA keys (meshca's key generator, OpenSSL, makes only even sizes); it is 2049, use 2048 or 2050",
    ],
    [
      'a negative RSA size',
      { privateKey: { size: -1 } },
      'spec.privateKey.size: must be between 2048 and 8192 for RSA keys; it is -1',
    ],
    [
      'renewBeforePercentage whose renewBefore is under 5m',
      { duration: '1h', renewBeforePercentage: 8 },
      'spec.renewBeforePercentage: 8% of the duration 1h renews 4m48s before expiry, under the 5m minimum for renewBefore; use at least 9 or a longer duration',
    ],
    [
      'renewBeforePercentage just under 5m',
      { duration: '100m', renewBeforePercentage: 4 },
      'spec.renewBeforePercentage: 4% of the duration 100m renews 4m0s before expiry, under the 5m minimum for renewBefore; use at least 5 or a longer duration',
    ],
    [
      'an empty literal JKS password',
      { keystores: { jks: { create: true, password: '' } } },
      'spec.keystores.jks.password: literal password cannot be empty; set a password or use passwordSecretRef',
    ],
    [
      'an empty literal PKCS#12 password',
      { keystores: { pkcs12: { create: true, password: '' } } },
      'spec.keystores.pkcs12.password: literal password cannot be empty; set a password or use passwordSecretRef',
    ],
    [
      'an empty JKS alias',
      { keystores: { jks: { create: true, password: 'changeit', alias: '' } } },
      'spec.keystores.jks.alias: must not be empty; omit alias for the default "certificate"',
    ],
    [
      'only the empty passwordSecretRef a Go client writes',
      { keystores: { jks: { create: true, passwordSecretRef: { name: '' } } } },
      'spec.keystores.jks: needs exactly one of password and passwordSecretRef (it has neither)',
    ],
    [
      'a cert-manager.io/ annotation in secretTemplate',
      { secretTemplate: { annotations: { 'cert-manager.io/issuer-name': 'other' } } },
      'spec.secretTemplate.annotations["cert-manager.io/issuer-name"]: cert-manager.io/ annotations are reserved for the ones the controller writes on the Secret; use another prefix (only cert-manager.io/allow-direct-injection may be set)',
    ],
    [
      'an RSA signature on an ECDSA key',
      { privateKey: { algorithm: 'ECDSA' }, signatureAlgorithm: 'SHA256WithRSA' },
      'spec.signatureAlgorithm: SHA256WithRSA does not fit an ECDSA key; use one of ECDSAWithSHA256, ECDSAWithSHA384, ECDSAWithSHA512',
    ],
    [
      'name constraints on a leaf',
      { nameConstraints: { permitted: { dnsDomains: ['example.com'] } } },
      'spec.nameConstraints: applies only to CA certificates; set isCA: true or remove nameConstraints',
    ],
    [
      'a PKCS#12 keystore with no password',
      { keystores: { pkcs12: { create: true } } },
      'spec.keystores.pkcs12: needs exactly one of password and passwordSecretRef (it has neither)',
    ],
    [
      'a JKS keystore with two passwords',
      { keystores: { jks: { create: true, password: 'x', passwordSecretRef: { name: 'p' } } } },
      'spec.keystores.jks: needs exactly one of password and passwordSecretRef (it has both)',
    ],
    [
      'an output format listed twice',
      { additionalOutputFormats: [{ type: 'DER' }, { type: 'DER' }] },
      'spec.additionalOutputFormats[1].type: "DER" is listed twice; keep one',
    ],
  ])('reject %s', (_what, patch, expected) => {
    expect(rules(patch)).toEqual([expected]);
  });

  it.each([[null], ['spec'], [42], [[]]])(
    'ignore a spec that is not a mapping (%j), which the schema reports',
    (spec) => {
      expect(certificateSpecIssues(spec)).toEqual([]);
    },
  );

  it('leave malformed durations to the schema instead of reporting them twice', () => {
    expect(rules({ duration: '1d', renewBefore: 'soon' })).toEqual([]);
  });
});
