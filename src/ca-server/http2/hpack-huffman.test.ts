import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  HUFFMAN_CODE_LENGTHS,
  HUFFMAN_CODES,
  HUFFMAN_EOS_IN_STRING,
  HUFFMAN_PADDING_NOT_ONES,
  HUFFMAN_PADDING_TOO_LONG,
  huffmanDecode,
  huffmanEncode,
  huffmanEncodedLength,
} from './hpack-huffman.js';
import { HpackDecoder, HpackError } from './hpack.js';
import { hpackJs } from './testing/hpack-js.js';

/** hpack.js's Huffman coding of octets, without the string literal's length prefix. */
function hpackJsHuffmanEncode(octets: Uint8Array): Buffer {
  const encoder = hpackJs.encoder.create();
  encoder.encodeStr([...octets], true);
  const literal = Buffer.concat(encoder.render());
  let at = 1;
  if (((literal[0] ?? 0) & 0x7f) === 0x7f) while (((literal[at++] ?? 0) & 0x80) !== 0);
  return literal.subarray(at);
}

const decodeAll = (bytes: Uint8Array): string | number => huffmanDecode(bytes, 0, bytes.length);
const latin1 = (octets: Uint8Array): string => Buffer.from(octets).toString('latin1');

describe('the Huffman code table', () => {
  it('equals RFC 7541 Appendix B as the independent hpack.js package carries it, for all 257 symbols', () => {
    const ours = Array.from({ length: 257 }, (_, s) => [HUFFMAN_CODE_LENGTHS[s], HUFFMAN_CODES[s]]);
    expect(ours).toEqual(hpackJs.huffman.encode);
  });

  it.each([
    { symbol: 0, code: 0x1ff8, length: 13 },
    { symbol: 10, code: 0x3ffffffc, length: 30 },
    { symbol: 32, code: 0x14, length: 6 },
    { symbol: 48, code: 0x0, length: 5 },
    { symbol: 97, code: 0x3, length: 5 },
    { symbol: 127, code: 0xffffffc, length: 28 },
    { symbol: 255, code: 0x3ffffee, length: 26 },
    { symbol: 256, code: 0x3fffffff, length: 30 },
  ])(
    'gives symbol $symbol the code $code of $length bits, as printed in Appendix B',
    ({ symbol, code, length }) => {
      expect([HUFFMAN_CODES[symbol], HUFFMAN_CODE_LENGTHS[symbol]]).toEqual([code, length]);
    },
  );

  it('is a complete prefix code: the Kraft sum of its lengths is exactly 1 and no code is a prefix of another', () => {
    let kraft = 0n;
    for (let s = 0; s <= 256; s++) kraft += 1n << BigInt(30 - (HUFFMAN_CODE_LENGTHS[s] ?? 0));
    expect(kraft).toBe(1n << 30n);
    for (let s = 0; s <= 256; s++) {
      const length = HUFFMAN_CODE_LENGTHS[s] ?? 0;
      expect(HUFFMAN_CODES[s] ?? 0).toBeLessThan(2 ** length);
      for (let t = 0; t <= 256; t++) {
        const longer = HUFFMAN_CODE_LENGTHS[t] ?? 0;
        if (t === s || longer < length) continue;
        expect(Math.floor((HUFFMAN_CODES[t] ?? 0) / 2 ** (longer - length))).not.toBe(HUFFMAN_CODES[s]);
      }
    }
  });
});

describe('huffmanDecode', () => {
  it('round-trips every one of the 256 octet symbols alone and after every other symbol', () => {
    for (let s = 0; s < 256; s++) {
      expect(decodeAll(huffmanEncode(Uint8Array.of(s)))).toBe(String.fromCharCode(s));
      expect(decodeAll(hpackJsHuffmanEncode(Uint8Array.of(s)))).toBe(String.fromCharCode(s));
      const pair = Uint8Array.of((s * 7 + 3) & 0xff, s);
      expect(decodeAll(huffmanEncode(pair))).toBe(latin1(pair));
    }
  });

  it('decodes the empty string from zero octets', () => {
    expect(decodeAll(new Uint8Array(0))).toBe('');
  });

  it('round-trips strings of random octets through our encoder, which matches hpack.js byte for byte', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (octets) => {
        const encoded = huffmanEncode(octets);
        expect(encoded.length).toBe(huffmanEncodedLength(octets));
        expect(Buffer.from(encoded)).toEqual(hpackJsHuffmanEncode(octets));
        expect(decodeAll(encoded)).toBe(latin1(octets));
      }),
      { numRuns: 300 },
    );
  });

  it('decodes only within [start, end) of a larger buffer', () => {
    const inner = huffmanEncode(Buffer.from('www.example.com', 'latin1'));
    const outer = Buffer.concat([Buffer.from([0xff, 0x00]), inner, Buffer.from([0x00, 0xff])]);
    expect(huffmanDecode(outer, 2, 2 + inner.length)).toBe('www.example.com');
  });

  it.each([
    { why: 'a whole octet of padding after a symbol', hex: '1fff', fault: HUFFMAN_PADDING_TOO_LONG },
    { why: 'a whole octet of padding alone', hex: 'ff', fault: HUFFMAN_PADDING_TOO_LONG },
    { why: 'two octets of padding', hex: 'ffff', fault: HUFFMAN_PADDING_TOO_LONG },
    { why: 'padding with a zero bit', hex: '1e', fault: HUFFMAN_PADDING_NOT_ONES },
    { why: 'padding of zeros', hex: '18', fault: HUFFMAN_PADDING_NOT_ONES },
    {
      why: 'a 13-bit symbol cut after 8 bits that are not all ones',
      hex: 'fe',
      fault: HUFFMAN_PADDING_NOT_ONES,
    },
    { why: 'the 30-bit EOS symbol alone', hex: 'fffffffc', fault: HUFFMAN_EOS_IN_STRING },
    { why: 'EOS after a symbol', hex: '1fffffffe0', fault: HUFFMAN_EOS_IN_STRING },
    { why: 'EOS followed by more symbols', hex: 'fffffffc000000', fault: HUFFMAN_EOS_IN_STRING },
  ])('refuses $why', ({ hex, fault }) => {
    expect(decodeAll(Buffer.from(hex, 'hex'))).toBe(fault);
  });

  it('accepts exactly the canonical encoding of whatever it decodes, and never throws on random octets', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (octets) => {
        const decoded = decodeAll(octets);
        if (typeof decoded === 'string') {
          expect(Buffer.from(huffmanEncode(Buffer.from(decoded, 'latin1')))).toEqual(Buffer.from(octets));
        } else {
          expect([HUFFMAN_EOS_IN_STRING, HUFFMAN_PADDING_TOO_LONG, HUFFMAN_PADDING_NOT_ONES]).toContain(
            decoded,
          );
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('HpackDecoder on malformed Huffman strings', () => {
  // A literal field without indexing, name :path (static 4), Huffman value of the given octets.
  const block = (hex: string): Buffer => {
    const value = Buffer.from(hex, 'hex');
    return Buffer.concat([Buffer.from([0x04, 0x80 | value.length]), value]);
  };

  it.each([
    {
      why: '8 bits of padding',
      hex: '1fff',
      message: 'Huffman padding longer than 7 bits (RFC 7541 §5.2) in the string at octet 1',
    },
    {
      why: 'a zero bit in the padding',
      hex: '1e',
      message:
        'Huffman-coded string ends inside a symbol or with padding that is not all ones (RFC 7541 §5.2) in the string at octet 1',
    },
    {
      why: 'an EOS inside the string',
      hex: '1fffffffe0',
      message: 'the EOS symbol inside a Huffman-coded string (RFC 7541 §5.2) in the string at octet 1',
    },
  ])('throws HpackError for $why with a precise message', ({ hex, message }) => {
    const decode = (): unknown => new HpackDecoder().decode(block(hex), 1 << 20);
    expect(decode).toThrow(HpackError);
    expect(decode).toThrow(message);
  });

  it('decodes a well-formed Huffman value in the same position', () => {
    expect(new HpackDecoder().decode(block('1f'), 1 << 20).fields).toEqual([[':path', 'a']]);
  });
});
