import { AsnConvert, AsnParser, AsnProp, AsnPropTypes, AsnType, AsnTypeTypes } from '@peculiar/asn1-schema';
import { Time } from '@peculiar/asn1-x509';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isMeshcaError } from '../../errors/index.js';
import { DerReader, decodeOid, oidDecodeCacheSize } from './der-reader.js';
import { MAX_OID_CONTENT_OCTETS } from './oids.js';
import { Tag, encodeLength, integer, integerFromBytes, oid, sequence, time, tlv } from './der-writer.js';

const read = (der: Buffer): DerReader => new DerReader(der, 'test');

describe('DER writer and reader', () => {
  it('encodes lengths in the minimal form and reads them back (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 70_000 }), (n) => {
        const enc = tlv(Tag.OCTET_STRING, Buffer.alloc(n, 1));
        const node = read(enc).next('x');
        expect(node.end - node.start).toBe(n);
        expect(encodeLength(n).length).toBe(n < 0x80 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 4);
      }),
      { numRuns: 60 },
    );
  });

  it('encodes object identifiers as @peculiar/asn1-schema reads them, and decodes them back (property)', () => {
    // @peculiar/asn1-schema reads arcs as JS numbers, so it is the referee only up to 2^53.
    const arc = fc.bigInt({ min: 0n, max: 2n ** 80n });
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 }),
        fc.integer({ min: 0, max: 39 }),
        fc.array(arc, { maxLength: 8 }),
        (a, b, rest) => {
          const dotted = [a, b, ...rest].join('.');
          const der = oid(dotted);
          if (rest.every((r) => r <= BigInt(Number.MAX_SAFE_INTEGER)))
            expect(AsnConvert.parse(der, ObjectIdentifierHolder).value).toBe(dotted);
          expect(read(der).readOid('oid')).toBe(dotted);
        },
      ),
    );
  });

  it('encodes integers minimally and positively (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 24 }), (bytes) => {
        const der = integerFromBytes(Buffer.from(bytes));
        const content = der.subarray(2);
        expect((content[0] ?? 0) & 0x80).toBe(0);
        if (content.length > 1) expect(content[0] === 0 && ((content[1] ?? 0) & 0x80) === 0).toBe(false);
        const value = BigInt(`0x${Buffer.from(bytes).toString('hex')}`);
        expect(BigInt(`0x${content.toString('hex')}`)).toBe(value);
      }),
    );
    expect(integer(0).toString('hex')).toBe('020100');
    expect(integer(128).toString('hex')).toBe('02020080');
  });

  it('encodes times as RFC 5280 requires and @peculiar/asn1-x509 reads the same instant (property)', () => {
    fc.assert(
      fc.property(
        fc.date({
          min: new Date('1950-01-01T00:00:00Z'),
          max: new Date('9999-12-31T23:59:59Z'),
          noInvalidDate: true,
        }),
        (d) => {
          const whole = new Date(Math.floor(d.getTime() / 1000) * 1000);
          const der = time(whole);
          expect(der[0]).toBe(whole.getUTCFullYear() < 2050 ? Tag.UTC_TIME : Tag.GENERALIZED_TIME);
          expect(read(der).readTime('t').getTime()).toBe(whole.getTime());
          expect(AsnParser.parse(der, Time).getTime().getTime()).toBe(whole.getTime());
        },
      ),
    );
  });

  it.each([
    ['an indefinite length', '3080', /indefinite length is not allowed/],
    ['a non-minimal long length', '30810100', /not in its minimal form/],
    ['a length past the end', '3005 0101', /claims 5 bytes but only 2 remain/],
    ['a missing length octet', '30', /length octet is missing/],
    ['a multi-octet tag', '1f0100', /multi-octet tags/],
    ['a five-octet length', '308500000000010a', /too large/],
  ])('refuses %s, saying where it stopped', (_name, hex, message) => {
    try {
      read(Buffer.from(hex.replace(/ /g, ''), 'hex')).next('field');
      throw new Error('expected a failure');
    } catch (err) {
      expect(isMeshcaError(err, 'DER_INVALID')).toBe(true);
      expect((err as Error).message).toMatch(/^test\.field at offset \d+: /);
      expect((err as Error).message).toMatch(message);
    }
  });

  it('refuses trailing bytes and a wrong tag', () => {
    const r = read(Buffer.concat([sequence(), Buffer.from([0])]));
    r.next('a');
    expect(() => r.finish()).toThrow(/1 unexpected trailing bytes/);
    expect(() => read(integer(1)).expect(Tag.SEQUENCE, 'x')).toThrow(/expected SEQUENCE, found INTEGER/);
  });

  it('refuses malformed object identifiers', () => {
    const fail = (): Error => new Error('bad');
    expect(() => decodeOid(Buffer.from([0x2a, 0x80]), fail)).toThrow('bad');
    expect(() => decodeOid(Buffer.from([0x80, 0x01]), fail)).toThrow('bad');
    expect(() => decodeOid(Buffer.alloc(0), fail)).toThrow('bad');
  });

  describe('object identifier bounds', () => {
    const failWith = (problem: string): Error => new Error(problem);
    // 0x2a (1.2) then `n - 1` single-octet arcs of 1: 1.2.1.1.1…
    const oidOf = (n: number): Buffer => Buffer.concat([Buffer.from([0x2a]), Buffer.alloc(n - 1, 0x01)]);

    it(`decodes an OID of ${MAX_OID_CONTENT_OCTETS} content octets and refuses one octet more, precisely`, () => {
      expect(decodeOid(oidOf(MAX_OID_CONTENT_OCTETS), failWith)).toBe(
        ['1', '2', ...Array<string>(MAX_OID_CONTENT_OCTETS - 1).fill('1')].join('.'),
      );
      expect(() => decodeOid(oidOf(MAX_OID_CONTENT_OCTETS + 1), failWith)).toThrow(
        `the object identifier is ${MAX_OID_CONTENT_OCTETS + 1} octets long; meshca accepts at most ${MAX_OID_CONTENT_OCTETS}`,
      );
    });

    it('refuses a 60 KB OID from its length, with a short message naming the field and the bound', () => {
      const huge = tlv(
        Tag.OID,
        Buffer.concat([Buffer.from([0x2a]), Buffer.alloc(60_000, 0x81), Buffer.from([0x01])]),
      );
      let message = '';
      try {
        read(huge).readOid('extnID');
      } catch (err) {
        expect(isMeshcaError(err, 'DER_INVALID')).toBe(true);
        message = (err as Error).message;
      }
      expect(message).toBe(
        `test.extnID at offset 4: malformed object identifier: the object identifier is 60002 octets long; meshca accepts at most ${MAX_OID_CONTENT_OCTETS}`,
      );
    });

    it('decodes arcs on both sides of the exact-number limit (7 octets) as BigInt does', () => {
      for (const arc of [
        2n ** 49n - 1n,
        2n ** 49n,
        2n ** 53n - 1n,
        2n ** 53n,
        2n ** 56n - 1n,
        2n ** 200n + 7n,
      ]) {
        const dotted = `1.3.6.${arc}.${arc}`;
        expect(read(oid(dotted)).readOid('x')).toBe(dotted);
      }
      expect(read(oid('2.999.1')).readOid('x')).toBe('2.999.1');
      expect(read(oid('2.5.29.37.0')).readOid('x')).toBe('2.5.29.37.0');
    });

    it('caches only short OIDs, so many long ones do not grow the cache', () => {
      const before = oidDecodeCacheSize();
      for (let i = 0; i < 2000; i++) {
        const content = Buffer.concat([
          Buffer.from([0x2a]),
          Buffer.alloc(60, 0x05),
          Buffer.from([0x81, i & 0x7f, (i >> 7) & 0x7f]),
        ]);
        decodeOid(content, failWith);
      }
      expect(oidDecodeCacheSize()).toBe(before);
    });

    it('refuses to write an over-long OID, echoing only its start', () => {
      const dotted = `1.2.${Array<string>(200).fill('1').join('.')}`;
      let message = '';
      try {
        oid(dotted);
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).toMatch(
        /^"1\.2\.1\.1.*… \(403 characters\)" is 201 octets encoded; meshca accepts object identifiers of at most 128$/,
      );
      expect(message.length).toBeLessThan(200);
      expect(() => oid(`1.2.${'9'.repeat(5000)}`)).toThrow(
        /\(5004 characters\)" is not a dotted object identifier/,
      );
    });
  });

  it('never throws anything but DER_INVALID on random bytes (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const r = read(Buffer.from(bytes));
        try {
          while (!r.atEnd()) r.next('x');
        } catch (err) {
          expect(isMeshcaError(err, 'DER_INVALID')).toBe(true);
        }
      }),
    );
  });
});

// A CHOICE of one OBJECT IDENTIFIER, so AsnConvert can read a bare OID.
@AsnType({ type: AsnTypeTypes.Choice })
class ObjectIdentifierHolder {
  @AsnProp({ type: AsnPropTypes.ObjectIdentifier })
  value = '';
}
