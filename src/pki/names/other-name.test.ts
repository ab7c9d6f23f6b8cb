import { AsnConvert } from '@peculiar/asn1-schema';
import { CertificationRequest as AsnCsr } from '@peculiar/asn1-csr';
import { SubjectAlternativeName } from '@peculiar/asn1-x509';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isMeshcaError } from '../../errors/index.js';
import { issueCertificate } from '../certificate/issue-certificate.js';
import { templateFromCsr } from '../certificate/template-from-csr.js';
import { buildCsr } from '../csr/build-csr.js';
import { parseCsr } from '../csr/certification-request.js';
import { DerReader } from '../der/der-reader.js';
import { contextConstructed, oid, sequence, tlv } from '../der/der-writer.js';
import { generatePrivateKey } from '../keys/generate-private-key.js';
import { HOUR, T0, makeRoot } from '../testing/pki-fixtures.js';
import type { OtherName } from './other-name.js';
import { decodeGeneralNames, encodeGeneralNames } from './subject-alt-names.js';

const UPN = '1.3.6.1.4.1.311.20.2.3';
const key = generatePrivateKey({ algorithm: 'ECDSA' });
const decode = (der: Buffer): ReturnType<typeof decodeGeneralNames> =>
  decodeGeneralNames(new DerReader(der, 'sans'), '');

describe('SAN otherNames', () => {
  it('encodes otherName [0] { type-id, [0] EXPLICIT UTF8String } as RFC 5280 §4.2.1.6 lays out', () => {
    const der = encodeGeneralNames({ otherNames: [{ oid: UPN, utf8Value: 'ü@x' }] });
    const expected = sequence(
      contextConstructed(0, oid(UPN), contextConstructed(0, tlv(0x0c, Buffer.from('ü@x', 'utf8')))),
    );
    expect(der.equals(expected)).toBe(true);
    // An independent ASN.1 library reads the same structure.
    const san = AsnConvert.parse(der, SubjectAlternativeName);
    expect(san[0]?.otherName?.typeId).toBe(UPN);
  });

  it('round-trips any otherNames through encode and decode, in order', () => {
    const arbOid = fc
      .tuple(
        fc.integer({ min: 0, max: 2 }),
        fc.array(fc.nat({ max: 1_000_000 }), { minLength: 1, maxLength: 8 }),
      )
      .map(([first, rest]) => [first, ...rest.map((n, i) => (i === 0 && first < 2 ? n % 40 : n))].join('.'));
    const arbName = fc.record({
      oid: arbOid,
      utf8Value: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }),
    });
    fc.assert(
      fc.property(fc.array(arbName, { minLength: 1, maxLength: 5 }), (names: OtherName[]) => {
        const decoded = decode(encodeGeneralNames({ otherNames: names }));
        expect(decoded.sans.otherNames).toEqual(names);
        expect(decoded.otherKinds).toEqual([]);
      }),
    );
  });

  it.each<[string, OtherName, string]>([
    [
      'a name-like OID',
      { oid: 'upn', utf8Value: 'x' },
      'otherNames[0].oid "upn" is not an object identifier',
    ],
    ['an OID with a leading zero arc', { oid: '1.03.4', utf8Value: 'x' }, 'is not an object identifier'],
    [
      'an empty value',
      { oid: UPN, utf8Value: '' },
      'otherNames[0].utf8Value must be 1 to 2048 octets of valid UTF-8, got 0',
    ],
    ['an oversized value', { oid: UPN, utf8Value: 'x'.repeat(5000) }, 'got 5000'],
    ['a lone surrogate', { oid: UPN, utf8Value: 'a\ud800b' }, 'of valid UTF-8'],
  ])('refuses %s with INVALID_INPUT', (_, name, message) => {
    try {
      encodeGeneralNames({ otherNames: [name] });
      expect.unreachable();
    } catch (err) {
      expect(isMeshcaError(err) && err.code).toBe('INVALID_INPUT');
      expect((err as Error).message).toContain(message);
    }
  });

  it('keeps an otherName whose value is not a UTF8String as an unsupported kind', () => {
    const der = sequence(
      contextConstructed(0, oid(UPN), contextConstructed(0, tlv(0x16, Buffer.from('ia5')))),
    );
    const decoded = decode(der);
    expect(decoded.sans.otherNames).toBeUndefined();
    expect(decoded.otherKinds).toEqual(['otherName']);
  });

  it('refuses an otherName UTF8String holding invalid UTF-8, saying where', () => {
    const der = sequence(
      contextConstructed(0, oid(UPN), contextConstructed(0, tlv(0x0c, Buffer.from([0xc3, 0x28])))),
    );
    expect(() => decode(der)).toThrow('not valid UTF-8');
  });

  it('refuses a truncated otherName with DER_INVALID', () => {
    const der = sequence(contextConstructed(0, oid(UPN)));
    try {
      decode(der);
      expect.unreachable();
    } catch (err) {
      expect(isMeshcaError(err) && err.code).toBe('DER_INVALID');
    }
  });

  it('carries otherNames from a CSR into the issued certificate, next to the other SANs', () => {
    const names = [
      { oid: UPN, utf8Value: 'alice@example.com' },
      { oid: '1.2.3.4', utf8Value: 'zweite' },
    ];
    const pem = buildCsr({ key, sans: { dnsNames: ['a.example.com'], otherNames: names } });
    expect(() =>
      AsnConvert.parse(Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64'), AsnCsr),
    ).not.toThrow();
    const csr = parseCsr(pem);
    expect(csr.sans.otherNames).toEqual(names);
    expect(csr.otherSanKinds).toEqual([]);
    const root = makeRoot();
    const cert = issueCertificate(templateFromCsr(csr, { lifetimeMs: HOUR }), root, { now: T0 });
    expect(cert.sans.otherNames).toEqual(names);
    expect(cert.sans.dnsNames).toEqual(['a.example.com']);
    expect(cert.otherSanKinds).toEqual([]);
  });

  it('lets otherNames alone name a leaf with an empty subject, with a critical SAN extension', () => {
    const root = makeRoot();
    const cert = issueCertificate(
      {
        publicKey: key,
        sans: { otherNames: [{ oid: UPN, utf8Value: 'only@example.com' }] },
        lifetimeMs: HOUR,
      },
      root,
      { now: T0 },
    );
    expect(cert.sans.otherNames).toEqual([{ oid: UPN, utf8Value: 'only@example.com' }]);
  });
});
