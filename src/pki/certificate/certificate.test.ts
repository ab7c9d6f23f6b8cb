import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate as AsnCertificate } from '@peculiar/asn1-x509';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isMeshcaError } from '../../errors/index.js';
import { buildCsr } from '../csr/build-csr.js';
import { parseCsr } from '../csr/certification-request.js';
import { generatePrivateKey } from '../keys/generate-private-key.js';
import { publicKeysEqual } from '../keys/key-spec.js';
import { DAY, HOUR, T0, makeIssued, makeRawCa, makeRoot } from '../testing/pki-fixtures.js';
import { parseCertificate, parseCertificates } from './certificate.js';
import { issueCertificate } from './issue-certificate.js';
import { templateFromCsr } from './template-from-csr.js';
import { verifyChain } from '../chain/verify-chain.js';
import type { SubjectAltNames } from '../names/subject-alt-names.js';

const codeOf = (f: () => unknown): { code: string; message: string } => {
  try {
    f();
  } catch (err) {
    if (!isMeshcaError(err)) throw err;
    return { code: err.code, message: err.message };
  }
  throw new Error('expected a MeshcaError');
};

describe('issuing and parsing certificates', () => {
  const root = makeRoot();
  const intermediate = makeIssued(root, {
    isCA: true,
    pathLen: 0,
    subject: { commonName: 'istio-ca' },
    lifetimeMs: 30 * DAY,
  });

  it('makes a self-signed root with the CA flag, keyCertSign and matching key identifiers', () => {
    const c = root.certificate;
    expect(c.selfSigned).toBe(true);
    expect(c.isCA).toBe(true);
    expect(c.keyUsages).toEqual(['digitalSignature', 'keyCertSign', 'cRLSign']);
    expect(c.subjectKeyId).toBe(c.authorityKeyId);
    expect(c.subjectString).toBe('CN=test root, O=meshca tests');
    expect(c.issuerString).toBe(c.subjectString);
    expect(c.signatureAlgorithm).toBe('ECDSAWithSHA256');
    expect(c.notBefore).toEqual(T0);
  });

  it('answers serialNumber, notBefore and notAfter of a just-issued certificate exactly as parsing its DER does', () => {
    const key = generatePrivateKey();
    const csr = parseCsr(buildCsr({ key, sans: { uris: ['spiffe://cluster.local/ns/a/sa/b'] } }));
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        // Within the intermediate's 30 days; lifetimes past its end are clamped to it.
        fc.integer({ min: 0, max: 20 * DAY }),
        fc.integer({ min: 1000, max: 60 * DAY }),
        fc.integer({ min: 0, max: 10 * 60_000 }),
        (random, offsetMs, lifetimeMs, backdateMs) => {
          const leaf = issueCertificate(templateFromCsr(csr, { lifetimeMs }), intermediate, {
            now: new Date(T0.getTime() + offsetMs),
            backdateMs,
            randomBytes: (n) => Buffer.from(random.subarray(0, n)),
          });
          const parsed = parseCertificate(leaf.der);
          expect(leaf.serialNumber).toBe(parsed.serialNumber);
          expect(leaf.notBefore).toEqual(parsed.notBefore);
          expect(leaf.notAfter).toEqual(parsed.notAfter);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('signs a workload leaf from a CSR with what the CSR asked for and the issuer clamping', () => {
    const key = generatePrivateKey();
    const csr = parseCsr(buildCsr({ key, sans: { uris: ['spiffe://cluster.local/ns/a/sa/b'] } }));
    const leaf = issueCertificate(
      templateFromCsr(csr, { lifetimeMs: HOUR, extKeyUsages: ['serverAuth', 'clientAuth'] }),
      intermediate,
      { now: T0, backdateMs: 60_000 },
    );
    expect(leaf.sans.uris).toEqual(['spiffe://cluster.local/ns/a/sa/b']);
    expect(leaf.subjectString).toBe('');
    expect(leaf.isCA).toBe(false);
    expect(leaf.keyUsages).toEqual(['digitalSignature', 'keyEncipherment']);
    expect(leaf.extKeyUsages).toEqual(['serverAuth', 'clientAuth']);
    expect(leaf.issuerString).toBe('CN=istio-ca');
    expect(leaf.authorityKeyId).toBe(intermediate.certificate.subjectKeyId);
    expect(leaf.notBefore.getTime()).toBe(
      Math.max(T0.getTime() - 60_000, intermediate.certificate.notBefore.getTime()),
    );
    expect(leaf.notAfter.getTime()).toBe(T0.getTime() + HOUR);
    expect(publicKeysEqual(leaf.publicKey, key)).toBe(true);
    expect(leaf.selfSigned).toBe(false);
    // The same DER read by an independent parser, and by meshca from PEM.
    const asn = AsnConvert.parse(leaf.der, AsnCertificate);
    expect(Buffer.from(asn.tbsCertificate.serialNumber).toString('hex').replace(/^00/, '')).toBe(
      leaf.serialNumber,
    );
    expect(parseCertificate(leaf.pem).fingerprintSha256).toBe(leaf.fingerprintSha256);
  });

  it('backdates notBefore but never before the issuer’s notBefore', () => {
    const leaf = makeIssued(
      root,
      { subject: { commonName: 'x' } },
      { now: new Date(T0.getTime() + DAY), backdateMs: 5 * 60_000 },
    );
    expect(leaf.certificate.notBefore.toISOString()).toBe('2030-01-01T23:55:00.000Z');
    const early = makeIssued(root, { subject: { commonName: 'x' } }, { now: T0, backdateMs: 5 * 60_000 });
    expect(early.certificate.notBefore).toEqual(root.certificate.notBefore);
  });

  it('clamps notAfter to the issuer’s notAfter', () => {
    const leaf = makeIssued(intermediate, { subject: { commonName: 'long' }, lifetimeMs: 365 * DAY });
    expect(leaf.certificate.notAfter).toEqual(intermediate.certificate.notAfter);
  });

  it.each([
    ['a zero lifetime', () => makeIssued(root, { lifetimeMs: 0 }), 'VALIDITY_INVALID', /positive number/],
    [
      'a negative lifetime',
      () => makeIssued(root, { lifetimeMs: -5 }),
      'VALIDITY_INVALID',
      /positive number/,
    ],
    [
      'an expired issuer',
      () => makeIssued(intermediate, {}, { now: new Date(T0.getTime() + 31 * DAY) }),
      'VALIDITY_INVALID',
      /expired at/,
    ],
    [
      'an issuer not valid yet',
      () => makeIssued(intermediate, {}, { now: new Date(T0.getTime() - DAY) }),
      'VALIDITY_INVALID',
      /not valid until/,
    ],
    [
      'a sub-second lifetime',
      () => makeIssued(root, { lifetimeMs: 10 }, { now: new Date(T0.getTime() + 500) }),
      'VALIDITY_INVALID',
      /no lifetime fits/,
    ],
    [
      'a key that is not the issuer’s',
      () =>
        issueCertificate(
          { publicKey: generatePrivateKey(), subject: { commonName: 'x' }, lifetimeMs: HOUR },
          { certificate: root.certificate, key: generatePrivateKey() },
          { now: T0 },
        ),
      'KEY_MISMATCH',
      /does not belong to the CA certificate "CN=test root, O=meshca tests"/,
    ],
    [
      'a self-signed template naming another key',
      () =>
        issueCertificate(
          { publicKey: generatePrivateKey(), subject: { commonName: 'x' }, isCA: true, lifetimeMs: HOUR },
          { selfSigned: generatePrivateKey() },
          { now: T0 },
        ),
      'KEY_MISMATCH',
      /its own key/,
    ],
    [
      'a leaf as the signer',
      () => {
        const leaf = makeIssued(root);
        return makeIssued(leaf);
      },
      'CERT_INVALID',
      /is not a CA/,
    ],
    [
      'a pathLen-0 CA issuing a CA',
      () => makeIssued(intermediate, { isCA: true, subject: { commonName: 'sub' } }),
      'CERT_INVALID',
      /pathLen 0 and may not issue CA/,
    ],
    [
      'a CA with an empty subject',
      () => makeIssued(root, { isCA: true, subject: {}, sans: {} }),
      'INVALID_INPUT',
      /non-empty subject/,
    ],
    [
      'a leaf naming nobody',
      () => makeIssued(root, { subject: {}, sans: {} }),
      'INVALID_INPUT',
      /names nobody/,
    ],
    [
      'name constraints on a leaf',
      () => makeIssued(root, { nameConstraints: { permittedDnsDomains: ['x'] } }),
      'INVALID_INPUT',
      /CA certificates only/,
    ],
    [
      'empty name constraints',
      () => makeIssued(root, { isCA: true, nameConstraints: {} }),
      'INVALID_INPUT',
      /no permitted or excluded/,
    ],
    [
      'a signature algorithm for another key type',
      () => makeIssued(root, {}, { signatureAlgorithm: 'SHA256WithRSA' }),
      'INVALID_INPUT',
      /needs an RSA key/,
    ],
    [
      'an unknown signature algorithm',
      () => makeIssued(root, {}, { signatureAlgorithm: 'MD5WithRSA' }),
      'INVALID_INPUT',
      /not supported/,
    ],
  ])('refuses %s', (_name, f, code, message) => {
    const e = codeOf(f);
    expect(e.code).toBe(code);
    expect(e.message).toMatch(message);
  });

  it('writes name constraints on an intermediate and reads them back', () => {
    const nc = {
      permittedDnsDomains: ['cluster.local'],
      excludedDnsDomains: ['bad.cluster.local'],
      permittedIpRanges: ['10.0.0.0/8', 'fd00::/8'],
      permittedUriDomains: ['cluster.local'],
      permittedEmailAddresses: ['example.com'],
    };
    const ca = makeIssued(root, { isCA: true, nameConstraints: nc });
    expect(ca.certificate.nameConstraints).toEqual({ critical: true, ...nc });
  });

  it('signs with P-384 using SHA-384, RSA using SHA-256 and Ed25519 purely', () => {
    expect(makeRoot({ spec: { algorithm: 'ECDSA', size: 384 } }).certificate.signatureAlgorithm).toBe(
      'ECDSAWithSHA384',
    );
    expect(makeRoot({ spec: { algorithm: 'RSA' } }).certificate.signatureAlgorithm).toBe('SHA256WithRSA');
    expect(makeRoot({ spec: { algorithm: 'Ed25519' } }).certificate.signatureAlgorithm).toBe('PureEd25519');
  });

  it('uses GeneralizedTime from 2050 on and reads it back', () => {
    const r = makeRoot({ lifetimeMs: 30 * 365 * DAY });
    expect(r.certificate.notAfter.getUTCFullYear()).toBe(2059);
    expect(parseCertificate(r.certificate.der).notAfter).toEqual(r.certificate.notAfter);
  });

  it('draws a positive 16-octet serial from the injected randomness (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (bytes) => {
        const leaf = makeIssued(root, {}, { randomBytes: () => Buffer.from(bytes) });
        expect(leaf.certificate.serialNumber).toHaveLength(32);
        const first = parseInt(leaf.certificate.serialNumber.slice(0, 2), 16);
        expect(first & 0x80).toBe(0);
        expect(first & 0x40).toBe(0x40);
        expect(leaf.certificate.serialNumber.slice(2)).toBe(Buffer.from(bytes).subarray(1).toString('hex'));
      }),
      { numRuns: 20 },
    );
  });

  it('parses a bundle in order and treats blank text as empty', () => {
    const bundle = intermediate.certificate.pem + root.certificate.pem;
    expect(parseCertificates(bundle).map((c) => c.subjectString)).toEqual([
      'CN=istio-ca',
      'CN=test root, O=meshca tests',
    ]);
    expect(parseCertificates(' \n')).toEqual([]);
  });

  it.each([
    ['text with no certificate', 'nothing here', /cannot be read: no PEM block/],
    [
      'DER garbage',
      Buffer.from([0x30, 0x03, 0x02, 0x01, 0x00]),
      /cannot be read: certificate.tbsCertificate at offset 2: expected SEQUENCE, found INTEGER/,
    ],
    ['a CSR', buildCsr({ key: generatePrivateKey(), sans: { dnsNames: ['x.y'] } }), /labelled "CERTIFICATE"/],
  ])('refuses %s with CERT_INVALID', (_name, input, message) => {
    const e = codeOf(() => parseCertificate(input));
    expect(e.code).toBe('CERT_INVALID');
    expect(e.message).toMatch(message);
  });

  it('names the bad block of a bundle', () => {
    const e = codeOf(() =>
      parseCertificates(
        root.certificate.pem + '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n',
      ),
    );
    expect(e.message).toMatch(/block 2 of the bundle is "PRIVATE KEY"/);
  });

  it('refuses every truncation of a certificate (property)', () => {
    const der = root.certificate.der;
    fc.assert(
      fc.property(fc.integer({ min: 1, max: der.length - 1 }), (n) => {
        expect(codeOf(() => parseCertificate(der.subarray(0, n))).code).toBe('CERT_INVALID');
      }),
      { numRuns: 100 },
    );
  });

  describe("the signer's own name constraints", () => {
    const prodCa = makeIssued(root, {
      isCA: true,
      subject: { commonName: 'prod-ca' },
      nameConstraints: {
        permittedUriDomains: ['prod.example'],
        permittedDnsDomains: ['prod.example'],
        excludedDnsDomains: ['secret.prod.example'],
        permittedIpRanges: ['10.0.0.0/8'],
        permittedEmailAddresses: ['prod.example'],
      },
    });

    it('refuses to sign a SPIFFE ID outside permittedUriDomains, from a CSR as the CA issuer does', () => {
      const csr = parseCsr(
        buildCsr({ key: generatePrivateKey(), sans: { uris: ['spiffe://cluster.local/ns/x/sa/y'] } }),
      );
      const e = codeOf(() =>
        issueCertificate(
          templateFromCsr(csr, { lifetimeMs: HOUR }),
          { certificate: prodCa.certificate, key: prodCa.key },
          { now: T0 },
        ),
      );
      expect(e.code).toBe('INVALID_INPUT');
      expect(e.message).toBe(
        'the name constraints of the signing CA "CN=prod-ca" forbid this certificate: URI "spiffe://cluster.local/ns/x/sa/y" is not within the permitted prod.example',
      );
    });

    it.each<[string, Partial<SubjectAltNames>, RegExp]>([
      [
        'a DNS name outside the permitted domains',
        { dnsNames: ['web.cluster.local'] },
        /DNS name "web.cluster.local" is not within the permitted prod.example/,
      ],
      [
        'a DNS name in an excluded subtree',
        { dnsNames: ['db.secret.prod.example'] },
        /DNS name "db.secret.prod.example" is excluded by "secret.prod.example"/,
      ],
      [
        'an IP address outside the permitted ranges',
        { ipAddresses: ['192.168.0.1'] },
        /IP address "192.168.0.1" is not within the permitted 10.0.0.0\/8/,
      ],
      [
        'an e-mail address outside the permitted domains',
        { emailAddresses: ['ops@example.com'] },
        /e-mail address "ops@example.com" is not within the permitted prod.example/,
      ],
      ['a hostless URI', { uris: ['urn:x'] }, /URI "urn:x" has no host to match against the URI constraints/],
      [
        'one bad name among good ones',
        { dnsNames: ['a.prod.example', 'b.elsewhere'] },
        /DNS name "b.elsewhere"/,
      ],
    ])('refuses %s', (_name, sans, message) => {
      const e = codeOf(() => makeIssued(prodCa, { sans }));
      expect(e.code).toBe('INVALID_INPUT');
      expect(e.message).toMatch(
        /^the name constraints of the signing CA "CN=prod-ca" forbid this certificate: /,
      );
      expect(e.message).toMatch(message);
    });

    it('refuses an intermediate CA whose SANs break them, and cuts a long name in the message', () => {
      const long = `spiffe://elsewhere/${'a'.repeat(1500)}`;
      const e = codeOf(() =>
        makeIssued(prodCa, { isCA: true, subject: { commonName: 'sub' }, sans: { uris: [long] } }),
      );
      expect(e.code).toBe('INVALID_INPUT');
      expect(e.message.length).toBeLessThan(400);
    });

    it('signs names inside them, and the chain verifies', () => {
      const leaf = makeIssued(prodCa, {
        sans: {
          uris: ['spiffe://prod.example/ns/x/sa/y'],
          dnsNames: ['web.prod.example'],
          ipAddresses: ['10.1.2.3'],
          emailAddresses: ['ops@prod.example'],
        },
      });
      expect(
        verifyChain(leaf.certificate, {
          intermediates: [prodCa.certificate],
          roots: [root.certificate],
          at: T0,
        }).ok,
      ).toBe(true);
    });
  });

  describe('pathLen below the signer (RFC 5280 §4.2.1.9)', () => {
    const pathLenOf = (f: () => { certificate: { pathLen: number | undefined } }): number | undefined =>
      f().certificate.pathLen;

    it('gives a CA issued by a pathLen-1 CA pathLen 0 when the template names none, so it can issue only leaves', () => {
      const top = makeRoot({ pathLen: 1 });
      const sub = makeIssued(top, { isCA: true, subject: { commonName: 'sub' } });
      expect(sub.certificate.pathLen).toBe(0);
      const e = codeOf(() => makeIssued(sub, { isCA: true, subject: { commonName: 'sub-sub' } }));
      expect(e).toEqual({
        code: 'CERT_INVALID',
        message: 'the signing CA "CN=sub" has pathLen 0 and may not issue CA certificates',
      });
      const leaf = makeIssued(sub);
      expect(
        verifyChain(leaf.certificate, { intermediates: [sub.certificate], roots: [top.certificate], at: T0 })
          .ok,
      ).toBe(true);
    });

    it('refuses a pathLen larger than the signer leaves, saying what is allowed', () => {
      const top = makeRoot({ pathLen: 1 });
      const e = codeOf(() => makeIssued(top, { isCA: true, subject: { commonName: 'sub' }, pathLen: 5 }));
      expect(e).toEqual({
        code: 'INVALID_INPUT',
        message:
          'pathLen 5 is too large: the signing CA "CN=test root, O=meshca tests" has pathLen 1, so a CA it issues may have pathLen 0 at most (RFC 5280 §4.2.1.9)',
      });
      expect(
        pathLenOf(() => makeIssued(top, { isCA: true, subject: { commonName: 'sub' }, pathLen: 0 })),
      ).toBe(0);
      expect(
        pathLenOf(() => makeIssued(makeRoot({ pathLen: 3 }), { isCA: true, subject: { commonName: 's' } })),
      ).toBe(2);
      // No limit above: none is written.
      expect(
        pathLenOf(() => makeIssued(root, { isCA: true, subject: { commonName: 'sub' } })),
      ).toBeUndefined();
    });

    it("counts the pathLen of the signer's ancestors", () => {
      const top = makeRoot({ pathLen: 1 });
      // An intermediate with no pathLen of its own, as another CA may have made it: its root allows
      // it no CA below.
      const mid = makeRawCa(top, { subject: { commonName: 'mid' }, extensions: [] });
      expect(mid.certificate.pathLen).toBeUndefined();
      const template = {
        publicKey: generatePrivateKey(),
        subject: { commonName: 'sub' },
        isCA: true,
        lifetimeMs: HOUR,
      };
      const e = codeOf(() =>
        issueCertificate(
          template,
          { certificate: mid.certificate, key: mid.key, ancestors: [top.certificate] },
          { now: T0 },
        ),
      );
      expect(e).toEqual({
        code: 'CERT_INVALID',
        message:
          'the signing CA "CN=mid" may not issue CA certificates: "CN=test root, O=meshca tests", 1 CA above the signing CA "CN=mid", has pathLen 1, which leaves no room for another CA below it',
      });

      const roomy = makeRoot({ pathLen: 3 });
      const mid2 = makeRawCa(roomy, { subject: { commonName: 'mid' }, extensions: [] });
      const signer = { certificate: mid2.certificate, key: mid2.key, ancestors: [roomy.certificate] };
      expect(issueCertificate(template, signer, { now: T0 }).pathLen).toBe(1);
      expect(codeOf(() => issueCertificate({ ...template, pathLen: 2 }, signer, { now: T0 })).message).toBe(
        'pathLen 2 is too large: "CN=test root, O=meshca tests", 1 CA above the signing CA "CN=mid", has pathLen 3, so a CA it issues may have pathLen 1 at most (RFC 5280 §4.2.1.9)',
      );
    });
  });
});
