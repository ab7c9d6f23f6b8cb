import { describe, expect, it, vi } from 'vitest';
import type * as Huffman from './hpack-huffman.js';
import { huffmanEncode } from './hpack-huffman.js';

// Counts the Huffman decodings the decoder really does (the module is wrapped, not replaced).
const decodeCalls = vi.hoisted(() => ({ n: 0 }));
vi.mock('./hpack-huffman.js', async (importOriginal) => {
  const real = await importOriginal<typeof Huffman>();
  return {
    ...real,
    huffmanDecode: (src: Uint8Array, start: number, end: number) => {
      decodeCalls.n++;
      return real.huffmanDecode(src, start, end);
    },
  };
});

const { HpackDecoder, HpackError } = await import('./hpack.js');

/** A block of one field "literal never indexed, indexed name 23 (authorization)" with a Huffman value. */
function neverIndexedAuthorization(valueOctets: Uint8Array): Buffer {
  const length = valueOctets.length;
  // §5.1 integer with a 7-bit prefix and the Huffman flag.
  const lengthOctets: number[] = [];
  if (length < 127) lengthOctets.push(0x80 | length);
  else {
    lengthOctets.push(0x80 | 127);
    let rest = length - 127;
    while (rest >= 128) {
      lengthOctets.push((rest & 0x7f) | 0x80);
      rest >>>= 7;
    }
    lengthOctets.push(rest);
  }
  // 0001 xxxx: never indexed, 4-bit name index 15 + continuation for 23 (15 + 8).
  return Buffer.from([0x1f, 23 - 15, ...lengthOctets, ...valueOctets]);
}

const token = (seed: string): string => `Bearer ${'eyJhbGciOiJFUzI1NiJ9.'}${seed.repeat(400).slice(0, 900)}`;
const coded = (text: string): Uint8Array => huffmanEncode(Buffer.from(text, 'latin1'));
const decode = (d: InstanceType<typeof HpackDecoder>, block: Buffer): string =>
  d.decode(block, 1 << 20).fields[0]![1];

describe('HpackDecoder and a long literal repeated on a connection', () => {
  it('decodes a never-indexed token once while the client keeps sending the same octets', () => {
    const d = new HpackDecoder();
    const block = neverIndexedAuthorization(coded(token('a')));
    decodeCalls.n = 0;
    for (let i = 0; i < 5; i++) expect(decode(d, Buffer.from(block))).toBe(token('a'));
    expect(decodeCalls.n).toBe(1);
  });

  it('decodes a different value of the same length, even one octet apart, afresh', () => {
    const d = new HpackDecoder();
    const a = coded(token('a'));
    const b = Buffer.from(a);
    // Flip the last data octet to another valid coding: re-encode a string differing at its end.
    const otherText = `${token('a').slice(0, -1)}b`;
    const other = coded(otherText);
    expect(other.length).toBe(a.length);
    expect(decode(d, neverIndexedAuthorization(a))).toBe(token('a'));
    expect(decode(d, neverIndexedAuthorization(other))).toBe(otherText);
    expect(decode(d, neverIndexedAuthorization(b))).toBe(token('a'));
    expect(decode(d, neverIndexedAuthorization(coded(token('c'))))).toBe(token('c'));
  });

  it('still refuses malformed Huffman of the remembered length', () => {
    const d = new HpackDecoder();
    const good = coded(token('a'));
    expect(decode(d, neverIndexedAuthorization(good))).toBe(token('a'));
    const bad = Buffer.from(good);
    // 16 one bits at the end: padding longer than 7 bits (§5.2).
    bad[bad.length - 2] = 0xff;
    bad[bad.length - 1] = 0xff;
    expect(() => d.decode(neverIndexedAuthorization(bad), 1 << 20)).toThrow(HpackError);
    // The good value is still answered correctly afterwards.
    expect(decode(d, neverIndexedAuthorization(good))).toBe(token('a'));
  });

  it('keeps what it remembers to its own connection', () => {
    const first = new HpackDecoder();
    const second = new HpackDecoder();
    const block = neverIndexedAuthorization(coded(token('a')));
    decodeCalls.n = 0;
    decode(first, block);
    decode(second, block);
    expect(decodeCalls.n).toBe(2);
  });

  it('does not hold on to the caller’s buffer', () => {
    const d = new HpackDecoder();
    const block = neverIndexedAuthorization(coded(token('a')));
    expect(decode(d, block)).toBe(token('a'));
    // The caller reuses its buffer for other bytes: the next identical block still decodes right.
    const copy = Buffer.from(block);
    block.fill(0);
    expect(decode(d, copy)).toBe(token('a'));
  });
});
