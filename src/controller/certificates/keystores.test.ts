import { afterEach, describe, expect, it } from 'vitest';
import type { Resource } from '../../api/resource.js';
import { isMeshcaError } from '../../errors/index.js';
import { readJksEntries, readPkcs12Certificates } from '../../pki/keystore/testing/read-keystores.js';
import { makeIssued, makeRoot } from '../../pki/testing/pki-fixtures.js';
import { LifecycleHarness, NS, certificate } from '../testing/lifecycle-harness.js';
import type { CertificateObject } from './certificate-resources.js';
import { jksKeystores, keystorePassword, pkcs12Keystores, type KeystoreMaterial } from './keystores.js';

let h: LifecycleHarness;
afterEach(async () => {
  await h.close();
});

const secret = (name: string, data: Record<string, string>): Resource => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace: NS },
  data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
});

describe('keystorePassword', () => {
  it.each<[string, Record<string, unknown>, string]>([
    ['the literal password', { pkcs12: { create: true, password: 'lit' } }, 'lit'],
    [
      'the "password" key when passwordSecretRef names no key',
      { pkcs12: { create: true, passwordSecretRef: { name: 'pw' } } },
      'from-default-key',
    ],
    [
      'the named key',
      { jks: { create: true, passwordSecretRef: { name: 'pw', key: 'other' } } },
      'from-other-key',
    ],
    [
      'NOT_FOUND for a missing Secret',
      { pkcs12: { create: true, passwordSecretRef: { name: 'nope' } } },
      `NOT_FOUND (retryable): the PKCS#12 keystore password Secret "${NS}/nope" does not exist`,
    ],
    [
      'NOT_FOUND for a missing key',
      { jks: { create: true, passwordSecretRef: { name: 'pw', key: 'absent' } } },
      `NOT_FOUND (retryable): the JKS keystore password Secret "${NS}/pw" has no key "absent"`,
    ],
    [
      'NOT_FOUND for an empty password',
      { pkcs12: { create: true, passwordSecretRef: { name: 'pw', key: 'empty' } } },
      `NOT_FOUND (retryable): the PKCS#12 keystore password in Secret "${NS}/pw" key "empty" is empty`,
    ],
    [
      'INVALID_RESOURCE when neither is set',
      { pkcs12: { create: true } },
      'INVALID_RESOURCE: spec.keystores.pkcs12 has neither password nor passwordSecretRef',
    ],
  ])('gives %s', async (_, keystores, expected) => {
    h = new LifecycleHarness();
    await h.apply(secret('pw', { password: 'from-default-key', other: 'from-other-key', empty: '' }));
    const c = certificate('web', { dnsNames: ['web.local'], keystores }) as CertificateObject;
    const format = 'jks' in keystores ? 'jks' : 'pkcs12';
    const got = await keystorePassword(h.store, c, format).catch((err: unknown) =>
      isMeshcaError(err) ? `${err.code}${err.retryable ? ' (retryable)' : ''}: ${err.message}` : String(err),
    );
    expect(got).toBe(expected);
  });
});

describe('the keystores, as cert-manager writes them', () => {
  const root = makeRoot({ name: 'mesh root' });
  const otherRoot = makeRoot({ name: 'next root' });
  const thirdRoot = makeRoot({ name: 'old root' });
  const intermediate = makeIssued(root, { isCA: true, subject: { commonName: 'mesh intermediate' } });
  const leaf = makeIssued(intermediate, { spec: { algorithm: 'ECDSA' } });
  const material = (ca: KeystoreMaterial['ca']): KeystoreMaterial => ({
    leaf: leaf.certificate,
    chain: [intermediate.certificate],
    ca,
    key: leaf.key,
  });
  const spec = (keystores: Record<string, unknown>): Pick<CertificateObject, 'spec'> =>
    certificate('web', { keystores }) as CertificateObject;
  const ders = (...certs: { der: Buffer }[]): string[] => certs.map((c) => c.der.toString('hex'));
  const hex = (list: readonly Buffer[]): string[] => list.map((b) => b.toString('hex'));

  it.each(['LegacyRC2', 'Modern2023'] as const)(
    'puts the leaf, the intermediates and then the ca.crt certificates into a %s keystore.p12 (cas = append(certs[1:], cas...))',
    (profile) => {
      const out = pkcs12Keystores(
        spec({ pkcs12: { create: true, password: 'pw', profile } }),
        'pw',
        material([root.certificate, otherRoot.certificate]),
      );
      expect(hex(readPkcs12Certificates(out['keystore.p12']!, 'pw'))).toEqual(
        ders(leaf.certificate, intermediate.certificate, root.certificate, otherRoot.certificate),
      );
      expect(hex(readPkcs12Certificates(out['truststore.p12']!, 'pw'))).toEqual(
        ders(root.certificate, otherRoot.certificate),
      );
    },
  );

  it('does not repeat in keystore.p12 a CA certificate the chain already holds, nor a self-signed one from the chain', () => {
    const out = pkcs12Keystores(spec({ pkcs12: { create: true, password: 'pw' } }), 'pw', {
      ...material([intermediate.certificate, root.certificate]),
      chain: [intermediate.certificate, root.certificate],
    });
    expect(hex(readPkcs12Certificates(out['keystore.p12']!, 'pw'))).toEqual(
      ders(leaf.certificate, intermediate.certificate, root.certificate),
    );
  });

  it('names the CA entries of truststore.jks and keystore.jks "ca", "ca-1", "ca-2" (cert-manager\'s addCAsToJKSStore)', () => {
    const out = jksKeystores(
      spec({ jks: { create: true, password: 'changeit' } }),
      'changeit',
      material([root.certificate, otherRoot.certificate, thirdRoot.certificate]),
      new Date('2030-01-01T00:00:00Z'),
    );
    const trusted = [
      { alias: 'ca', kind: 'trusted', certificates: [root.certificate.der] },
      { alias: 'ca-1', kind: 'trusted', certificates: [otherRoot.certificate.der] },
      { alias: 'ca-2', kind: 'trusted', certificates: [thirdRoot.certificate.der] },
    ];
    expect(readJksEntries(out['truststore.jks']!)).toEqual(trusted);
    expect(readJksEntries(out['keystore.jks']!)).toEqual([
      {
        alias: 'certificate',
        kind: 'key',
        certificates: [leaf.certificate.der, intermediate.certificate.der],
      },
      ...trusted,
    ]);
  });

  it('writes no truststore without a CA, and keystore.p12 then holds the leaf and intermediates only', () => {
    const out = pkcs12Keystores(spec({ pkcs12: { create: true, password: 'pw' } }), 'pw', {
      leaf: leaf.certificate,
      chain: [intermediate.certificate],
      ca: [],
      key: leaf.key,
    });
    expect(Object.keys(out)).toEqual(['keystore.p12']);
    expect(hex(readPkcs12Certificates(out['keystore.p12']!, 'pw'))).toEqual(
      ders(leaf.certificate, intermediate.certificate),
    );
  });
});
