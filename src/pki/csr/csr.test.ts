import { AsnConvert } from '@peculiar/asn1-schema';
import { CertificationRequest as AsnCsr } from '@peculiar/asn1-csr';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isMeshcaError } from '../../errors/index.js';
import {
  Tag,
  bitString,
  contextConstructed,
  integer,
  octetString,
  oid,
  sequence,
  setOf,
  tlv,
} from '../der/der-writer.js';
import { OID } from '../der/oids.js';
import { generatePrivateKey } from '../keys/generate-private-key.js';
import { publicKeysEqual, subjectPublicKeyInfo, type KeySpec } from '../keys/key-spec.js';
import { pemDecodeAll, pemEncode } from '../pem/pem.js';
import { buildCsr } from './build-csr.js';
import { MAX_CSR_BYTES, parseCsr } from './certification-request.js';
import { verifyCsr } from './verify-csr.js';

const specs: KeySpec[] = [
  { algorithm: 'ECDSA' },
  { algorithm: 'ECDSA', size: 384 },
  { algorithm: 'RSA' },
  { algorithm: 'Ed25519' },
];
const der = (pem: string): Buffer => pemDecodeAll(pem)[0]?.der ?? Buffer.alloc(0);

describe('CSRs', () => {
  it.each(specs)('builds a %j CSR that parses back with everything it asked for and verifies', (spec) => {
    const key = generatePrivateKey(spec);
    const pem = buildCsr({
      key,
      subject: { commonName: 'web', organizations: ['Acme', 'Ünïcode Ltd'], countries: ['DE'] },
      sans: {
        dnsNames: ['web.example.com', '*.web.example.com'],
        ipAddresses: ['10.0.0.1', 'fd00::1'],
        uris: ['spiffe://cluster.local/ns/a/sa/b'],
        emailAddresses: ['ops@example.com'],
      },
      keyUsages: ['digitalSignature', 'keyEncipherment'],
      extKeyUsages: ['serverAuth', 'clientAuth', '1.2.3.4'],
      isCA: false,
    });
    const csr = parseCsr(pem);
    verifyCsr(csr);
    expect(csr.subject).toEqual({
      commonName: 'web',
      organizations: ['Acme', 'Ünïcode Ltd'],
      countries: ['DE'],
    });
    expect(csr.sans).toEqual({
      dnsNames: ['web.example.com', '*.web.example.com'],
      ipAddresses: ['10.0.0.1', 'fd00::1'],
      uris: ['spiffe://cluster.local/ns/a/sa/b'],
      emailAddresses: ['ops@example.com'],
    });
    expect(csr.keyUsages).toEqual(['digitalSignature', 'keyEncipherment']);
    expect(csr.extKeyUsages).toEqual(['serverAuth', 'clientAuth', '1.2.3.4']);
    expect(csr.isCA).toBe(false);
    expect(csr.extensionOids).toEqual(['2.5.29.17', '2.5.29.15', '2.5.29.37', '2.5.29.19']);
    expect(csr.keySpec.algorithm).toBe(spec.algorithm);
    expect(publicKeysEqual(csr.publicKey, key)).toBe(true);
    expect(csr.pem).toBe(pem);
    // The independent ASN.1 library reads the same structure.
    const asn = AsnConvert.parse(csr.der, AsnCsr);
    expect(asn.certificationRequestInfo.version).toBe(0);
  });

  it('reads a minimal CSR (no subject, no extensions) as asking for nothing', () => {
    const csr = parseCsr(buildCsr({ key: generatePrivateKey() }));
    verifyCsr(csr);
    expect(csr.subject).toEqual({});
    expect(csr.sans).toEqual({ dnsNames: [], ipAddresses: [], uris: [], emailAddresses: [] });
    expect(csr.keyUsages).toBeUndefined();
    expect(csr.isCA).toBeUndefined();
    expect(csr.signatureAlgorithm).toBe('ECDSAWithSHA256');
  });

  it('accepts DER input as well as PEM', () => {
    const pem = buildCsr({ key: generatePrivateKey(), sans: { dnsNames: ['a.example'] } });
    expect(parseCsr(der(pem)).sans.dnsNames).toEqual(['a.example']);
  });

  it('refuses a CSR whose body was altered after signing, saying so', () => {
    const bytes = der(buildCsr({ key: generatePrivateKey(), sans: { dnsNames: ['good.example'] } }));
    const i = bytes.indexOf(Buffer.from('good'));
    bytes.write('evil', i, 'latin1');
    const csr = parseCsr(bytes);
    expect(csr.sans.dnsNames).toEqual(['evil.example']);
    try {
      verifyCsr(csr);
      throw new Error('expected CSR_SIGNATURE_INVALID');
    } catch (err) {
      expect(isMeshcaError(err, 'CSR_SIGNATURE_INVALID')).toBe(true);
      expect((err as Error).message).toMatch(/does not verify with the public key/);
    }
  });

  it('refuses every truncation of a CSR with a DER error that says where it stopped (property)', () => {
    const bytes = der(buildCsr({ key: generatePrivateKey(), sans: { uris: ['spiffe://td/ns/a/sa/b'] } }));
    fc.assert(
      fc.property(fc.integer({ min: 1, max: bytes.length - 1 }), (n) => {
        try {
          parseCsr(bytes.subarray(0, n));
          throw new Error('expected a failure');
        } catch (err) {
          expect(isMeshcaError(err, 'DER_INVALID')).toBe(true);
          expect((err as Error).message).toMatch(/at offset \d+/);
        }
      }),
    );
  });

  it('never fails with anything but a catalogued error when bytes are flipped (property)', () => {
    const bytes = der(buildCsr({ key: generatePrivateKey(), sans: { uris: ['spiffe://td/ns/a/sa/b'] } }));
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: bytes.length - 1 }),
        fc.integer({ min: 1, max: 255 }),
        (at, x) => {
          const copy = Buffer.from(bytes);
          copy[at] = (copy[at] ?? 0) ^ x;
          try {
            verifyCsr(parseCsr(copy));
          } catch (err) {
            expect(isMeshcaError(err)).toBe(true);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it.each([
    ['text without a CSR block', 'hello', 'PEM_INVALID', /no PEM block/],
    [
      'a certificate block',
      pemEncode('CERTIFICATE', Buffer.from([0x30, 0])),
      'PEM_INVALID',
      /expected a PEM block labelled "CERTIFICATE REQUEST"/,
    ],
    [
      'an empty SEQUENCE',
      Buffer.from([0x30, 0]),
      'DER_INVALID',
      /certificationRequestInfo at offset 2: expected a value/,
    ],
    [
      'an oversized CSR',
      Buffer.concat([Buffer.from([0x30, 0x83, 0x01, 0x00, 0x01]), Buffer.alloc(0x10001)]),
      'INPUT_TOO_LARGE',
      /limit is 65536/,
    ],
    ['an oversized PEM text', 'x'.repeat(MAX_CSR_BYTES * 2 + 1), 'INPUT_TOO_LARGE', /limit/],
  ])('refuses %s with %s', (_name, input, code, message) => {
    try {
      parseCsr(input);
      throw new Error(`expected ${code}`);
    } catch (err) {
      expect((err as { code?: string }).code).toBe(code);
      expect((err as Error).message).toMatch(message);
    }
  });

  it('refuses a CSR carrying a 60 KB object identifier, with a short message', () => {
    // The OID is the extnID of an extension request: the old decoder spent ~300 ms of BigInt work
    // on it, returned a 126 KB string and cached it.
    const huge = tlv(
      Tag.OID,
      Buffer.concat([Buffer.from([0x2a]), Buffer.alloc(60_000, 0x81), Buffer.from([0x01])]),
    );
    const cri = sequence(
      integer(0),
      sequence(),
      subjectPublicKeyInfo(generatePrivateKey()),
      contextConstructed(
        0,
        sequence(oid(OID.extensionRequest), setOf(sequence(sequence(huge, octetString(Buffer.alloc(0)))))),
      ),
    );
    const der = sequence(cri, sequence(oid(OID.ecdsaWithSha256)), bitString(Buffer.alloc(64)));
    expect(der.length).toBeLessThan(MAX_CSR_BYTES);
    let error: unknown;
    try {
      parseCsr(der);
    } catch (err) {
      error = err;
    }
    expect(isMeshcaError(error, 'DER_INVALID')).toBe(true);
    expect((error as Error).message).toMatch(
      /extnID at offset \d+: malformed object identifier: the object identifier is 60002 octets long; meshca accepts at most 128$/,
    );
    expect((error as Error).message.length).toBeLessThan(300);
  });

  it('refuses to put a malformed name in a CSR', () => {
    const key = generatePrivateKey();
    expect(() => buildCsr({ key, sans: { dnsNames: ['bad name'] } })).toThrow(
      /dnsNames\[0\] "bad name" is not a valid DNS name/,
    );
    expect(() => buildCsr({ key, sans: { ipAddresses: ['300.1.1.1'] } })).toThrow(
      /not an IPv4 or IPv6 address/,
    );
    expect(() => buildCsr({ key, sans: { uris: ['no scheme'] } })).toThrow(/not a valid URI/);
    expect(() => buildCsr({ key, subject: { commonName: 'x'.repeat(65) } })).toThrow(/at most 64/);
  });

  it('round-trips any IPv4 and IPv6 SAN (property)', () => {
    const key = generatePrivateKey();
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (ip) => {
        const csr = parseCsr(buildCsr({ key, sans: { ipAddresses: [ip] } }));
        const back = csr.sans.ipAddresses[0] ?? '';
        expect(new URL(`http://${back.includes(':') ? `[${back}]` : back}/`).hostname).toBe(
          new URL(`http://${ip.includes(':') ? `[${ip}]` : ip}/`).hostname,
        );
      }),
      { numRuns: 50 },
    );
  });
});
