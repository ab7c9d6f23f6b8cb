import { afterEach, describe, expect, it } from 'vitest';
import { getCondition } from '../../api/conditions.js';
import type { Resource } from '../../api/resource.js';
import { secretData } from '../../api/secret-data.js';
import { validateResource } from '../../api/validate-resource.js';
import { formatPath } from '../../api/validation-issue.js';
import { checkDns1123Subdomain } from '../../api/value-rules.js';
import { generatePrivateKey, parseCertificates } from '../../pki/index.js';
import { LifecycleHarness, certificate, issuer } from '../testing/lifecycle-harness.js';
import type { CertificateObject } from './certificate-resources.js';
import { desiredCertificate } from './desired-certificate.js';
import { keyMatchesSpec, nextPrivateKeySecretName } from './key-manager-controller.js';

/** A Certificate in NS as `meshca apply` would store it: validated, with defaults. */
function validated(name: string, spec: Record<string, unknown>): CertificateObject {
  const result = validateResource(certificate(name, { issuerRef: { name: 'selfsigned' }, ...spec }));
  if (!result.ok) throw new Error(result.issues.map((i) => `${formatPath(i.path)}: ${i.message}`).join('; '));
  return result.resource as CertificateObject;
}

describe('what validation accepts, the key manager can make', () => {
  it.each<[string, Record<string, unknown>]>([
    ['RSA, the default algorithm and size', {}],
    ['RSA size 0, the default', { algorithm: 'RSA', size: 0 }],
    ['RSA 2050, an uncommon even size', { algorithm: 'RSA', size: 2050 }],
    ['RSA 3072', { algorithm: 'RSA', size: 3072 }],
    ['ECDSA size 0, the default', { algorithm: 'ECDSA', size: 0 }],
    ['ECDSA 384', { algorithm: 'ECDSA', size: 384 }],
    ['Ed25519 with size 0', { algorithm: 'Ed25519', size: 0 }],
    ['Ed25519 with a size, which is ignored', { algorithm: 'Ed25519', size: 4096 }],
  ])(
    'generates a key for %s that the key manager then finds of the asked kind',
    (_what, privateKey) => {
      const cert = validated('web', { dnsNames: ['web.example.com'], privateKey });
      const { keySpec } = desiredCertificate(cert.spec);
      const key = generatePrivateKey(keySpec);
      expect(keyMatchesSpec(key, keySpec)).toBe(true);
    },
    60_000,
  );

  it.each<[string, Record<string, unknown>]>([
    ['ECDSA P-521', { algorithm: 'ECDSA', size: 521 }],
    ['RSA of an odd size', { algorithm: 'RSA', size: 2049 }],
    ['RSA past 8192 bits', { algorithm: 'RSA', size: 8200 }],
  ])('rejects %s at validation, which the key generator refuses', (_what, privateKey) => {
    expect(() => validated('web', { dnsNames: ['web.example.com'], privateKey })).toThrow(
      /^spec\.privateKey\.size: /,
    );
    expect(() =>
      generatePrivateKey({ algorithm: privateKey.algorithm as 'RSA', size: privateKey.size as number }),
    ).toThrow(/is not supported/);
  });
});

describe('nextPrivateKeySecretName', () => {
  it('is <certificate>-<random> for a name that leaves room', () => {
    expect(nextPrivateKeySecretName('web', 'x7k2p')).toBe('web-x7k2p');
    const n246 = 'a'.repeat(246);
    expect(nextPrivateKeySecretName(n246, 'x7k2p')).toBe(`${n246}-x7k2p`);
  });

  it.each([
    ['"." at character 246', `${'a'.repeat(245)}.${'b'.repeat(7)}`],
    ['"-" at character 246', `${'a'.repeat(245)}-${'b'.repeat(7)}`],
    ['"." at character 52', `${'a'.repeat(51)}.${'b'.repeat(201)}`],
    ['letters only', 'a'.repeat(253)],
  ])('is a valid name for a 253-character Certificate name with %s', (_what, name) => {
    expect(checkDns1123Subdomain(name)).toBeUndefined();
    const secretName = nextPrivateKeySecretName(name, 'x7k2p');
    expect(checkDns1123Subdomain(secretName)).toBeUndefined();
    expect(secretName.endsWith('-x7k2p')).toBe(true);
  });
});

describe('the key manager and the request manager with the longest Certificate names', () => {
  let h: LifecycleHarness;
  afterEach(async () => {
    await h.close();
  });

  it('issues a Certificate of a 253-character name whose cut-off name would end in "."', async () => {
    // Character 246 is ".": `name.slice(0, 246) + "-" + random` would be the invalid "….-k0000",
    // and `${name}-1` has 255 characters.
    const name = `${'a'.repeat(245)}.${'b'.repeat(7)}`;
    h = new LifecycleHarness();
    await h.apply(
      issuer('selfsigned', { selfSigned: {} }),
      certificate(name, {
        secretName: 'long-tls',
        dnsNames: ['web.example.com'],
        issuerRef: { name: 'selfsigned' },
      }),
    );
    await h.settle();
    const cert = await h.get<CertificateObject>('Certificate', name);
    expect(getCondition(cert?.status?.conditions, 'Ready')).toMatchObject({ status: 'True' });
    expect(cert?.status?.revision).toBe(1);
    const [request] = await h.names('CertificateRequest');
    expect(request).toMatch(/^a{52}-[0-9a-f]{16}$/);
    expect(checkDns1123Subdomain(request!)).toBeUndefined();
    const secret = await h.get<Resource>('Secret', 'long-tls');
    const [leaf] = parseCertificates(secretData(secret!, 'tls.crt')!.toString('utf8'));
    expect(leaf?.sans.dnsNames).toEqual(['web.example.com']);
  });

  it('issues the names cert-manager accepts that meshca used to refuse, written as given', async () => {
    h = new LifecycleHarness();
    const web = validated('web', {
      dnsNames: ['web.example.com.'],
      emailAddresses: ['root@localhost', 'a@b.c'],
      issuerRef: { name: 'selfsigned' },
      privateKey: { algorithm: 'ECDSA', size: 0 },
    });
    await h.apply(issuer('selfsigned', { selfSigned: {} }), web);
    await h.settle();
    const cert = await h.get<CertificateObject>('Certificate', 'web');
    expect(getCondition(cert?.status?.conditions, 'Ready')).toMatchObject({ status: 'True' });
    const [leaf] = parseCertificates(
      secretData((await h.get('Secret', 'web'))!, 'tls.crt')!.toString('utf8'),
    );
    expect(leaf?.sans.dnsNames).toEqual(['web.example.com.']);
    expect(leaf?.sans.emailAddresses).toEqual(['root@localhost', 'a@b.c']);
    expect(leaf?.keySpec).toEqual({ algorithm: 'ECDSA', size: 256 });
    expect(await h.names('Secret')).toEqual(['web']);
  });
});
