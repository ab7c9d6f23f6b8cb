/**
 * A narrow DER writer (X.690 §10) for the structures meshca builds: certificates, CSRs and their
 * extensions. Hand-written because the issuance hot path must stay near node:crypto's own speed:
 * the generic @peculiar/x509 WebCrypto path measured about 250 certificates/s here (4% of the
 * raw sign+verify bound), while concatenating precomputed TLVs costs a few microseconds.
 * Measured with bench/sign on this 2-core machine (Node 20, P-256): raw verify+sign bound
 * 112 µs p50; the fresh-key bound (import the CSR's key, first verify, sign) 218 µs; meshca's whole
 * CSR → PEM path 280–294 µs (~0.38 of the raw bound, ~0.75 of the fresh-key bound); the
 * @peculiar/x509 path about 3 ms. Every encoder is cross-checked against @peculiar/asn1-* and
 * openssl by property tests; all issuance goes through this one path.
 */

import { MAX_OID_CONTENT_OCTETS } from './oids.js';

/** Universal and context tags used by the encoders. */
export const Tag = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** Octets of a definite length's encoding: short form below 128, else the minimal long form (X.690 §10.1). */
function lengthOctets(length: number): number {
  if (length < 0x80) return 1;
  if (length < 0x100) return 2;
  if (length < 0x10000) return 3;
  if (length < 0x1000000) return 4;
  return 5;
}

/** Writes the definite length at `pos`; returns the position after it. */
function writeLength(out: Buffer, pos: number, length: number): number {
  const n = lengthOctets(length);
  if (n === 1) {
    out[pos] = length;
    return pos + 1;
  }
  out[pos] = 0x80 | (n - 1);
  for (let i = n - 1; i >= 1; i--) out[pos + i] = (length >>> (8 * (n - 1 - i))) & 0xff;
  return pos + n;
}

/** Encodes a definite length: short form below 128, else the minimal long form (X.690 §10.1). */
export function encodeLength(length: number): Buffer {
  const out = Buffer.allocUnsafe(lengthOctets(length));
  writeLength(out, 0, length);
  return out;
}

/**
 * One TLV with the given tag around the concatenated contents: one allocation, the length written
 * in place (a certificate is ≈ 60 TLVs, and a Buffer per length header was a tenth of the signing
 * worker's time with the copies).
 */
export function tlv(tag: number, ...contents: Buffer[]): Buffer {
  let length = 0;
  for (const c of contents) length += c.length;
  const out = Buffer.allocUnsafe(1 + lengthOctets(length) + length);
  out[0] = tag;
  let pos = writeLength(out, 1, length);
  for (const c of contents) {
    out.set(c, pos);
    pos += c.length;
  }
  return out;
}

/** One 0x00 octet, only ever read (copied into TLVs). */
const ZERO_OCTET = Buffer.from([0]);

/** SEQUENCE of the given encoded elements. */
export function sequence(...elements: Buffer[]): Buffer {
  return tlv(Tag.SEQUENCE, ...elements);
}

/** SET OF the given encoded elements, sorted as DER requires (X.690 §11.6). */
export function setOf(...elements: Buffer[]): Buffer {
  return tlv(Tag.SET, ...[...elements].sort((a, b) => Buffer.compare(a, b)));
}

/** INTEGER from unsigned big-endian magnitude bytes; minimal, with a 0x00 pad when the top bit is set. */
export function integerFromBytes(magnitude: Buffer): Buffer {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const body = magnitude.subarray(start);
  if (body.length === 0) return Buffer.from([Tag.INTEGER, 1, 0]);
  return (body[0] ?? 0) & 0x80 ? tlv(Tag.INTEGER, ZERO_OCTET, body) : tlv(Tag.INTEGER, body);
}

/** INTEGER from a small non-negative number. */
export function integer(value: number): Buffer {
  if (!Number.isSafeInteger(value) || value < 0)
    throw new RangeError(`integer ${value} is not a non-negative safe integer`);
  const bytes: number[] = [];
  let v = value;
  do {
    bytes.unshift(v % 256);
    v = Math.floor(v / 256);
  } while (v > 0);
  return integerFromBytes(Buffer.from(bytes));
}

/** BOOLEAN; DER encodes TRUE as 0xff (X.690 §11.1). */
export function boolean(value: boolean): Buffer {
  return Buffer.from([Tag.BOOLEAN, 1, value ? 0xff : 0]);
}

/** NULL. */
export const NULL = Buffer.from([Tag.NULL, 0]);

/** OCTET STRING. */
export function octetString(content: Buffer): Buffer {
  return tlv(Tag.OCTET_STRING, content);
}

/** BIT STRING of whole octets (signatures, public keys): zero unused bits. */
export function bitString(content: Buffer, unusedBits = 0): Buffer {
  return tlv(Tag.BIT_STRING, unusedBits === 0 ? ZERO_OCTET : Buffer.from([unusedBits]), content);
}

const oidCache = new Map<string, Buffer>();
/** Only short OIDs are cached (every OID meshca writes itself), so the cache stays small. */
const MAX_CACHED_OID_CHARS = 64;

/**
 * OBJECT IDENTIFIER from dotted form (X.690 §8.19); cached, since the same few OIDs repeat.
 * Throws a RangeError (the value cut to 64 characters) for a malformed OID or one longer than
 * MAX_OID_CONTENT_OCTETS, which the reader would refuse.
 */
export function oid(dotted: string): Buffer {
  const cached = oidCache.get(dotted);
  if (cached !== undefined) return cached;
  const shown = dotted.length > 64 ? `${dotted.slice(0, 64)}… (${dotted.length} characters)` : dotted;
  // A content octet gives at most 4 characters (".127"), so a longer text cannot fit: refuse it
  // before any BigInt work.
  if (
    dotted.length > 5 * MAX_OID_CONTENT_OCTETS ||
    !/^[0-2]\.(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$/.test(dotted)
  ) {
    throw new RangeError(
      `"${shown}" is not a dotted object identifier of at most ${MAX_OID_CONTENT_OCTETS} octets`,
    );
  }
  const arcs = dotted.split('.').map((a) => BigInt(a));
  const [first = 0n, second = 0n] = arcs;
  if (first < 2n && second > 39n)
    throw new RangeError(`"${shown}": the second arc must be below 40 under arc ${first}`);
  const out: number[] = [];
  const pushArc = (arc: bigint): void => {
    const chunk: number[] = [Number(arc & 0x7fn)];
    let rest = arc >> 7n;
    while (rest > 0n) {
      chunk.unshift(Number(rest & 0x7fn) | 0x80);
      rest >>= 7n;
    }
    out.push(...chunk);
  };
  pushArc(first * 40n + second);
  for (const arc of arcs.slice(2)) pushArc(arc);
  if (out.length > MAX_OID_CONTENT_OCTETS)
    throw new RangeError(
      `"${shown}" is ${out.length} octets encoded; meshca accepts object identifiers of at most ${MAX_OID_CONTENT_OCTETS}`,
    );
  const encoded = tlv(Tag.OID, Buffer.from(out));
  if (dotted.length <= MAX_CACHED_OID_CHARS && oidCache.size < 1024) oidCache.set(dotted, encoded);
  return encoded;
}

/** A string type chosen for the value: PrintableString when every character allows it, else UTF8String. */
export function directoryString(value: string): Buffer {
  return /^[A-Za-z0-9 '()+,\-./:=?]*$/.test(value)
    ? tlv(Tag.PRINTABLE_STRING, Buffer.from(value, 'latin1'))
    : tlv(Tag.UTF8_STRING, Buffer.from(value, 'utf8'));
}

/** Whether every character is 7-bit ASCII, as IA5String requires. */
export function isIa5(value: string): boolean {
  // eslint-disable-next-line no-control-regex
  return /^[\x00-\x7f]*$/.test(value);
}

const pad2 = (n: number): string => (n < 10 ? `0${n}` : String(n));

/**
 * Time as RFC 5280 §4.1.2.5 requires: UTCTime through 2049, GeneralizedTime from 2050, whole
 * seconds, always Zulu.
 */
export function time(date: Date): Buffer {
  const y = date.getUTCFullYear();
  const rest = `${pad2(date.getUTCMonth() + 1)}${pad2(date.getUTCDate())}${pad2(date.getUTCHours())}${pad2(date.getUTCMinutes())}${pad2(date.getUTCSeconds())}Z`;
  if (y >= 1950 && y < 2050) return tlv(Tag.UTC_TIME, Buffer.from(`${pad2(y % 100)}${rest}`, 'latin1'));
  if (y < 0 || y > 9999) throw new RangeError(`year ${y} cannot be encoded in a certificate`);
  return tlv(Tag.GENERALIZED_TIME, Buffer.from(`${String(y).padStart(4, '0')}${rest}`, 'latin1'));
}

/** Context-specific constructed tag [n] (EXPLICIT wrapping or IMPLICIT constructed). */
export function contextConstructed(n: number, ...contents: Buffer[]): Buffer {
  return tlv(0xa0 | n, ...contents);
}

/** Context-specific primitive tag [n] (IMPLICIT primitive, e.g. GeneralName choices). */
export function contextPrimitive(n: number, content: Buffer): Buffer {
  return tlv(0x80 | n, content);
}
