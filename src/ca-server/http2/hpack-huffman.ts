/**
 * The HPACK Huffman code (RFC 7541 §5.2, Appendix B) with a byte-at-a-time decoding state machine.
 *
 * Decoding a ~1 KiB JWT bit by bit costs ~8k tree steps; here each input octet is one lookup in a
 * 256 × 256 transition table built once at module load: the state is the Huffman tree's internal
 * node reached after the bits consumed so far (256 internal nodes for 257 leaves), and each entry
 * holds the next state and the zero, one or two symbols completed within that octet (every code is
 * at least 5 bits long, so at most two end inside 8 bits).
 */

/** Appendix B, in symbol order 0..256 (256 is EOS): the code aligned to the LSB, then its length in bits. */
// prettier-ignore
const CODE_TABLE: readonly number[] = [
  0x1ff8, 13, 0x7fffd8, 23, 0xfffffe2, 28, 0xfffffe3, 28, 0xfffffe4, 28, 0xfffffe5, 28, 0xfffffe6, 28, 0xfffffe7, 28, // 0
  0xfffffe8, 28, 0xffffea, 24, 0x3ffffffc, 30, 0xfffffe9, 28, 0xfffffea, 28, 0x3ffffffd, 30, 0xfffffeb, 28, 0xfffffec, 28, // 8
  0xfffffed, 28, 0xfffffee, 28, 0xfffffef, 28, 0xffffff0, 28, 0xffffff1, 28, 0xffffff2, 28, 0x3ffffffe, 30, 0xffffff3, 28, // 16
  0xffffff4, 28, 0xffffff5, 28, 0xffffff6, 28, 0xffffff7, 28, 0xffffff8, 28, 0xffffff9, 28, 0xffffffa, 28, 0xffffffb, 28, // 24
  0x14, 6, 0x3f8, 10, 0x3f9, 10, 0xffa, 12, 0x1ff9, 13, 0x15, 6, 0xf8, 8, 0x7fa, 11, // 32 ' ' ! " # $ % & '
  0x3fa, 10, 0x3fb, 10, 0xf9, 8, 0x7fb, 11, 0xfa, 8, 0x16, 6, 0x17, 6, 0x18, 6, // 40 ( ) * + , - . /
  0x0, 5, 0x1, 5, 0x2, 5, 0x19, 6, 0x1a, 6, 0x1b, 6, 0x1c, 6, 0x1d, 6, // 48 0-7
  0x1e, 6, 0x1f, 6, 0x5c, 7, 0xfb, 8, 0x7ffc, 15, 0x20, 6, 0xffb, 12, 0x3fc, 10, // 56 8 9 : ; < = > ?
  0x1ffa, 13, 0x21, 6, 0x5d, 7, 0x5e, 7, 0x5f, 7, 0x60, 7, 0x61, 7, 0x62, 7, // 64 @ A-G
  0x63, 7, 0x64, 7, 0x65, 7, 0x66, 7, 0x67, 7, 0x68, 7, 0x69, 7, 0x6a, 7, // 72 H-O
  0x6b, 7, 0x6c, 7, 0x6d, 7, 0x6e, 7, 0x6f, 7, 0x70, 7, 0x71, 7, 0x72, 7, // 80 P-W
  0xfc, 8, 0x73, 7, 0xfd, 8, 0x1ffb, 13, 0x7fff0, 19, 0x1ffc, 13, 0x3ffc, 14, 0x22, 6, // 88 X Y Z [ \ ] ^ _
  0x7ffd, 15, 0x3, 5, 0x23, 6, 0x4, 5, 0x24, 6, 0x5, 5, 0x25, 6, 0x26, 6, // 96 ` a-g
  0x27, 6, 0x6, 5, 0x74, 7, 0x75, 7, 0x28, 6, 0x29, 6, 0x2a, 6, 0x7, 5, // 104 h-o
  0x2b, 6, 0x76, 7, 0x2c, 6, 0x8, 5, 0x9, 5, 0x2d, 6, 0x77, 7, 0x78, 7, // 112 p-w
  0x79, 7, 0x7a, 7, 0x7b, 7, 0x7ffe, 15, 0x7fc, 11, 0x3ffd, 14, 0x1ffd, 13, 0xffffffc, 28, // 120 x y z { | } ~ DEL
  0xfffe6, 20, 0x3fffd2, 22, 0xfffe7, 20, 0xfffe8, 20, 0x3fffd3, 22, 0x3fffd4, 22, 0x3fffd5, 22, 0x7fffd9, 23, // 128
  0x3fffd6, 22, 0x7fffda, 23, 0x7fffdb, 23, 0x7fffdc, 23, 0x7fffdd, 23, 0x7fffde, 23, 0xffffeb, 24, 0x7fffdf, 23, // 136
  0xffffec, 24, 0xffffed, 24, 0x3fffd7, 22, 0x7fffe0, 23, 0xffffee, 24, 0x7fffe1, 23, 0x7fffe2, 23, 0x7fffe3, 23, // 144
  0x7fffe4, 23, 0x1fffdc, 21, 0x3fffd8, 22, 0x7fffe5, 23, 0x3fffd9, 22, 0x7fffe6, 23, 0x7fffe7, 23, 0xffffef, 24, // 152
  0x3fffda, 22, 0x1fffdd, 21, 0xfffe9, 20, 0x3fffdb, 22, 0x3fffdc, 22, 0x7fffe8, 23, 0x7fffe9, 23, 0x1fffde, 21, // 160
  0x7fffea, 23, 0x3fffdd, 22, 0x3fffde, 22, 0xfffff0, 24, 0x1fffdf, 21, 0x3fffdf, 22, 0x7fffeb, 23, 0x7fffec, 23, // 168
  0x1fffe0, 21, 0x1fffe1, 21, 0x3fffe0, 22, 0x1fffe2, 21, 0x7fffed, 23, 0x3fffe1, 22, 0x7fffee, 23, 0x7fffef, 23, // 176
  0xfffea, 20, 0x3fffe2, 22, 0x3fffe3, 22, 0x3fffe4, 22, 0x7ffff0, 23, 0x3fffe5, 22, 0x3fffe6, 22, 0x7ffff1, 23, // 184
  0x3ffffe0, 26, 0x3ffffe1, 26, 0xfffeb, 20, 0x7fff1, 19, 0x3fffe7, 22, 0x7ffff2, 23, 0x3fffe8, 22, 0x1ffffec, 25, // 192
  0x3ffffe2, 26, 0x3ffffe3, 26, 0x3ffffe4, 26, 0x7ffffde, 27, 0x7ffffdf, 27, 0x3ffffe5, 26, 0xfffff1, 24, 0x1ffffed, 25, // 200
  0x7fff2, 19, 0x1fffe3, 21, 0x3ffffe6, 26, 0x7ffffe0, 27, 0x7ffffe1, 27, 0x3ffffe7, 26, 0x7ffffe2, 27, 0xfffff2, 24, // 208
  0x1fffe4, 21, 0x1fffe5, 21, 0x3ffffe8, 26, 0x3ffffe9, 26, 0xffffffd, 28, 0x7ffffe3, 27, 0x7ffffe4, 27, 0x7ffffe5, 27, // 216
  0xfffec, 20, 0xfffff3, 24, 0xfffed, 20, 0x1fffe6, 21, 0x3fffe9, 22, 0x1fffe7, 21, 0x1fffe8, 21, 0x7ffff3, 23, // 224
  0x3fffea, 22, 0x3fffeb, 22, 0x1ffffee, 25, 0x1ffffef, 25, 0xfffff4, 24, 0xfffff5, 24, 0x3ffffea, 26, 0x7ffff4, 23, // 232
  0x3ffffeb, 26, 0x7ffffe6, 27, 0x3ffffec, 26, 0x3ffffed, 26, 0x7ffffe7, 27, 0x7ffffe8, 27, 0x7ffffe9, 27, 0x7ffffea, 27, // 240
  0x7ffffeb, 27, 0xffffffe, 28, 0x7ffffec, 27, 0x7ffffed, 27, 0x7ffffee, 27, 0x7ffffef, 27, 0x7fffff0, 27, 0x3ffffee, 26, // 248
  0x3fffffff, 30, // 256 EOS
];

/** The EOS symbol, which must never be decoded from a string (RFC 7541 §5.2). */
export const HUFFMAN_EOS = 256;

/** Code of each symbol 0..256, aligned to the least significant bit. */
export const HUFFMAN_CODES: Uint32Array = Uint32Array.from({ length: 257 }, (_, s) => CODE_TABLE[2 * s] ?? 0);

/** Length in bits of each symbol's code. */
export const HUFFMAN_CODE_LENGTHS: Uint8Array = Uint8Array.from(
  { length: 257 },
  (_, s) => CODE_TABLE[2 * s + 1] ?? 0,
);

/** A Huffman-coded string decoded to its end without fault. */
export const HUFFMAN_OK = 0;
/** The EOS symbol appeared inside a string (RFC 7541 §5.2). */
export const HUFFMAN_EOS_IN_STRING = 1;
/** The padding after the last symbol was 8 bits or more (RFC 7541 §5.2). */
export const HUFFMAN_PADDING_TOO_LONG = 2;
/** The bits after the last symbol are not a prefix of EOS: a zero in the padding or a truncated symbol. */
export const HUFFMAN_PADDING_NOT_ONES = 3;

// Transition entry layout: next state in bits 0-7, first symbol 8-15, second symbol 16-23, then flags.
const EMIT_ONE = 1 << 24;
const EMIT_TWO = 1 << 25;
const DECODED_EOS = 1 << 26;

/** The tree's internal nodes (state 0 is the root) and their children: a state, or ~symbol for a leaf. */
function buildTree(): { child: Int32Array; endFault: Uint8Array } {
  const child = new Int32Array(2 * 256).fill(-0x7fffffff);
  const depth = new Uint8Array(256);
  const allOnes = new Uint8Array(256).fill(1);
  let states = 1;
  for (let symbol = 0; symbol <= HUFFMAN_EOS; symbol++) {
    const code = HUFFMAN_CODES[symbol] ?? 0;
    const length = HUFFMAN_CODE_LENGTHS[symbol] ?? 0;
    let state = 0;
    for (let i = length - 1; i >= 0; i--) {
      const bit = (code >>> i) & 1;
      const slot = 2 * state + bit;
      if (i === 0) {
        child[slot] = ~symbol;
        break;
      }
      let next = child[slot] ?? 0;
      if (next < 0) {
        next = states++;
        child[slot] = next;
        depth[next] = (depth[state] ?? 0) + 1;
        allOnes[next] = (allOnes[state] ?? 0) & bit;
      }
      state = next;
    }
  }
  // What ending a string in each state means: a state reached by up to 7 one bits is valid padding.
  const endFault = new Uint8Array(256);
  for (let state = 1; state < 256; state++) {
    if (allOnes[state] === 0) endFault[state] = HUFFMAN_PADDING_NOT_ONES;
    else if ((depth[state] ?? 0) > 7) endFault[state] = HUFFMAN_PADDING_TOO_LONG;
  }
  return { child, endFault };
}

const { child: TREE, endFault: END_FAULT } = buildTree();

/** TRANSITIONS[state << 8 | octet]: the state and symbols after feeding that octet in that state. */
const TRANSITIONS: Uint32Array = (() => {
  const table = new Uint32Array(256 * 256);
  for (let state = 0; state < 256; state++) {
    for (let octet = 0; octet < 256; octet++) {
      let node = state;
      let entry = 0;
      for (let i = 7; i >= 0; i--) {
        const next = TREE[2 * node + ((octet >>> i) & 1)] ?? 0;
        if (next >= 0) {
          node = next;
          continue;
        }
        const symbol = ~next;
        if (symbol === HUFFMAN_EOS) {
          entry |= DECODED_EOS;
          break;
        }
        entry |= entry & EMIT_ONE ? EMIT_TWO | (symbol << 16) : EMIT_ONE | (symbol << 8);
        node = 0;
      }
      table[(state << 8) | octet] = entry | node;
    }
  }
  return table;
})();

let scratch = Buffer.allocUnsafe(4096);

/**
 * Decodes src[start, end) as a Huffman-coded string into latin1 text, or returns one of the
 * HUFFMAN_* fault codes (a number) when the string is malformed.
 */
export function huffmanDecode(src: Uint8Array, start: number, end: number): string | number {
  // Every symbol takes at least 5 bits, so n octets yield at most 8n/5 symbols.
  const bound = ((end - start) * 8) / 5 + 1;
  if (scratch.length < bound) scratch = Buffer.allocUnsafe(Math.max(bound, 2 * scratch.length));
  const out = scratch;
  let n = 0;
  let state = 0;
  for (let i = start; i < end; i++) {
    const t = TRANSITIONS[(state << 8) | (src[i] as number)] as number;
    if (t & EMIT_ONE) {
      out[n++] = t >>> 8;
      if (t & EMIT_TWO) out[n++] = t >>> 16;
    }
    if (t & DECODED_EOS) return HUFFMAN_EOS_IN_STRING;
    state = t & 0xff;
  }
  const fault = END_FAULT[state] as number;
  if (fault !== HUFFMAN_OK) return fault;
  return out.toString('latin1', 0, n);
}

/** The length in octets of the Huffman coding of src (with its padding). */
export function huffmanEncodedLength(src: Uint8Array): number {
  let bits = 0;
  for (let i = 0; i < src.length; i++) bits += HUFFMAN_CODE_LENGTHS[src[i] as number] as number;
  return (bits + 7) >>> 3;
}

/** Huffman-codes src, padding the last octet with the most significant bits of EOS (all ones). */
export function huffmanEncode(src: Uint8Array): Uint8Array {
  const out = new Uint8Array(huffmanEncodedLength(src));
  let acc = 0; // pending bits, at most 7 + 30, kept below 2^53 by flushing whole octets
  let pending = 0;
  let n = 0;
  for (let i = 0; i < src.length; i++) {
    const symbol = src[i] as number;
    const length = HUFFMAN_CODE_LENGTHS[symbol] as number;
    acc = acc * 2 ** length + (HUFFMAN_CODES[symbol] as number);
    pending += length;
    while (pending >= 8) {
      pending -= 8;
      out[n++] = Math.floor(acc / 2 ** pending) & 0xff;
      acc %= 2 ** pending;
    }
  }
  if (pending > 0) out[n] = ((acc << (8 - pending)) | (0xff >>> pending)) & 0xff;
  return out;
}
