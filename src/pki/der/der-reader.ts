import { MeshcaError } from '../../errors/index.js';
import { Tag } from './der-writer.js';
import { MAX_OID_CONTENT_OCTETS } from './oids.js';

/**
 * A narrow, strict DER reader (X.690 §10) for certificates and CSRs: definite minimal lengths,
 * single-octet tags, no reads past a parent's end. Hand-written for the CSR hot path (see
 * der-writer.ts for the measured reason); every failure says which field and offset it reached.
 */

/** One decoded TLV: its tag and where its header and content lie in the buffer. */
export interface DerNode {
  readonly tag: number;
  /** Offset of the tag octet. */
  readonly headerStart: number;
  /** Offset of the first content octet. */
  readonly start: number;
  /** Offset just past the content. */
  readonly end: number;
}

const TAG_NAMES: Record<number, string> = {
  [Tag.BOOLEAN]: 'BOOLEAN',
  [Tag.INTEGER]: 'INTEGER',
  [Tag.BIT_STRING]: 'BIT STRING',
  [Tag.OCTET_STRING]: 'OCTET STRING',
  [Tag.NULL]: 'NULL',
  [Tag.OID]: 'OBJECT IDENTIFIER',
  [Tag.SEQUENCE]: 'SEQUENCE',
  [Tag.SET]: 'SET',
  [Tag.UTC_TIME]: 'UTCTime',
  [Tag.GENERALIZED_TIME]: 'GeneralizedTime',
};

/** A readable name for a tag in error messages. */
export function tagName(tag: number): string {
  const known = TAG_NAMES[tag];
  if (known !== undefined) return known;
  if ((tag & 0xc0) === 0x80) return `[${tag & 0x1f}]`;
  return `tag 0x${tag.toString(16).padStart(2, '0')}`;
}

/** Reads consecutive TLVs between two offsets of one buffer. */
export class DerReader {
  private pos: number;

  /** A reader over buf[start, end); `path` names the structure for error messages. */
  constructor(
    readonly buf: Buffer,
    readonly path: string,
    start = 0,
    readonly end = buf.length,
  ) {
    this.pos = start;
  }

  /** A reader over the content of `node`. */
  static within(buf: Buffer, node: DerNode, path: string): DerReader {
    return new DerReader(buf, path, node.start, node.end);
  }

  /** A DER_INVALID error naming this reader's path, the field and the offset. */
  fail(field: string, problem: string, offset = this.pos): MeshcaError {
    const where = field === '' ? this.path : `${this.path}.${field}`;
    return new MeshcaError('DER_INVALID', `${where} at offset ${offset}: ${problem}`, {
      hint: 'the bytes are not the DER structure expected; check the input is complete and unaltered',
    });
  }

  /** True when every byte of this reader's range has been consumed. */
  atEnd(): boolean {
    return this.pos >= this.end;
  }

  /** The tag of the next TLV, or undefined at the end. */
  peekTag(): number | undefined {
    return this.pos < this.end ? this.buf[this.pos] : undefined;
  }

  /** The next TLV, whatever its tag. */
  next(field: string): DerNode {
    const headerStart = this.pos;
    if (headerStart >= this.end) throw this.fail(field, 'expected a value, found the end of its container');
    const tag = this.buf[headerStart] ?? 0;
    if ((tag & 0x1f) === 0x1f)
      throw this.fail(field, 'multi-octet tags are not used in certificates', headerStart);
    let p = headerStart + 1;
    if (p >= this.end) throw this.fail(field, 'the length octet is missing', p);
    const first = this.buf[p++] ?? 0;
    let length: number;
    if (first < 0x80) {
      length = first;
    } else {
      const n = first & 0x7f;
      if (n === 0) throw this.fail(field, 'indefinite length is not allowed in DER', p - 1);
      if (n > 4) throw this.fail(field, `a ${n}-octet length is too large`, p - 1);
      if (p + n > this.end) throw this.fail(field, 'the length octets run past the end', p - 1);
      length = 0;
      for (let i = 0; i < n; i++) length = length * 256 + (this.buf[p + i] ?? 0);
      if ((this.buf[p] ?? 0) === 0 || length < 0x80) {
        throw this.fail(field, 'the length is not in its minimal form, as DER requires', p - 1);
      }
      p += n;
    }
    if (p + length > this.end) {
      throw this.fail(
        field,
        `${tagName(tag)} claims ${length} bytes but only ${this.end - p} remain`,
        headerStart,
      );
    }
    this.pos = p + length;
    return { tag, headerStart, start: p, end: p + length };
  }

  /** The next TLV, which must have `tag`. */
  expect(tag: number, field: string): DerNode {
    const t = this.peekTag();
    if (t !== undefined && t !== tag) {
      throw this.fail(field, `expected ${tagName(tag)}, found ${tagName(t)}`);
    }
    return this.next(field);
  }

  /** The next TLV when its tag is `tag`, else undefined (an OPTIONAL field). */
  optional(tag: number, field: string): DerNode | undefined {
    return this.peekTag() === tag ? this.next(field) : undefined;
  }

  /** Fails unless every byte has been consumed. */
  finish(): void {
    if (this.pos < this.end) throw this.fail('', `${this.end - this.pos} unexpected trailing bytes`);
  }

  /** The whole TLV bytes of a node (header included), without copying. */
  raw(node: DerNode): Buffer {
    return this.buf.subarray(node.headerStart, node.end);
  }

  /** The content bytes of a node, without copying. */
  content(node: DerNode): Buffer {
    return this.buf.subarray(node.start, node.end);
  }

  /** Decodes an OBJECT IDENTIFIER to dotted form. */
  readOid(field: string): string {
    const node = this.expect(Tag.OID, field);
    return decodeOid(this.content(node), (problem) =>
      this.fail(field, `malformed object identifier: ${problem}`, node.start),
    );
  }

  /** Decodes a BOOLEAN (DER: 0x00 or 0xff). */
  readBoolean(field: string): boolean {
    const node = this.expect(Tag.BOOLEAN, field);
    const v = this.buf[node.start];
    if (node.end - node.start !== 1 || (v !== 0 && v !== 0xff))
      throw this.fail(field, 'a BOOLEAN must be one octet, 0x00 or 0xff', node.start);
    return v === 0xff;
  }

  /** Decodes a non-negative INTEGER small enough for a number. */
  readSmallInteger(field: string): number {
    const node = this.expect(Tag.INTEGER, field);
    const bytes = this.content(node);
    if (bytes.length === 0 || bytes.length > 6)
      throw this.fail(field, 'the INTEGER is empty or too large', node.start);
    if ((bytes[0] ?? 0) & 0x80) throw this.fail(field, 'the INTEGER is negative', node.start);
    let v = 0;
    for (const b of bytes) v = v * 256 + b;
    return v;
  }

  /** Decodes a BIT STRING to its unused-bit count and bytes. */
  readBitString(field: string): { unusedBits: number; bytes: Buffer } {
    const node = this.expect(Tag.BIT_STRING, field);
    const unusedBits = this.buf[node.start];
    if (unusedBits === undefined || unusedBits > 7 || (node.end - node.start === 1 && unusedBits !== 0)) {
      throw this.fail(field, 'malformed BIT STRING', node.start);
    }
    return { unusedBits, bytes: this.buf.subarray(node.start + 1, node.end) };
  }

  /** Decodes UTCTime or GeneralizedTime (RFC 5280 §4.1.2.5: Zulu, whole seconds). */
  readTime(field: string): Date {
    const t = this.peekTag();
    const node = t === Tag.GENERALIZED_TIME ? this.next(field) : this.expect(Tag.UTC_TIME, field);
    const text = this.buf.toString('latin1', node.start, node.end);
    const m =
      node.tag === Tag.UTC_TIME
        ? /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(text)
        : /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(text);
    if (m === null)
      throw this.fail(field, `"${text}" is not a time in the form RFC 5280 requires`, node.start);
    let year = Number(m[1]);
    if (node.tag === Tag.UTC_TIME) year += year < 50 ? 2000 : 1900;
    const [mo, d, h, mi, s] = [m[2], m[3], m[4], m[5], m[6]].map(Number) as [
      number,
      number,
      number,
      number,
      number,
    ];
    const date = new Date(Date.UTC(year, mo - 1, d, h, mi, s));
    if (date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) {
      throw this.fail(field, `"${text}" is not a valid date`, node.start);
    }
    if (year < 100) date.setUTCFullYear(year);
    return date;
  }
}

/** Only OIDs this short are cached: every OID a certificate normally holds, at a bounded cost. */
const MAX_CACHED_OID_OCTETS = 32;
const MAX_CACHED_OIDS = 1024;
const oidDecodeCache = new Map<string, string>();

/** Entries in the OID decode cache (bounded by count, and only short OIDs enter it); for tests. */
export function oidDecodeCacheSize(): number {
  return oidDecodeCache.size;
}

/** The longest part of a decoded value echoed in an error message. */
const MAX_ECHOED_CHARS = 64;

/** `text` for an error message: cut to MAX_ECHOED_CHARS with its full length said. */
export function truncateForMessage(text: string, max = MAX_ECHOED_CHARS): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} characters)`;
}

/**
 * Decodes OBJECT IDENTIFIER content octets to dotted form; `fail(problem)` builds the error.
 * Refuses empty, non-minimal, truncated and over-long (MAX_OID_CONTENT_OCTETS) encodings.
 */
export function decodeOid(content: Buffer, fail: (problem: string) => Error): string {
  if (content.length > MAX_OID_CONTENT_OCTETS) {
    throw fail(
      `the object identifier is ${content.length} octets long; meshca accepts at most ${MAX_OID_CONTENT_OCTETS}`,
    );
  }
  const cacheable = content.length <= MAX_CACHED_OID_OCTETS;
  const key = cacheable ? content.toString('latin1') : '';
  if (cacheable) {
    const cached = oidDecodeCache.get(key);
    if (cached !== undefined) return cached;
  }
  if (content.length === 0) throw fail('an object identifier needs at least one octet');
  if ((content[content.length - 1] ?? 0) & 0x80)
    throw fail('the last arc of the object identifier is cut short');
  const arcs: string[] = [];
  let start = 0;
  for (let i = 0; i < content.length; i++) {
    const b = content[i] ?? 0;
    // A leading 0x80 is a non-minimal arc (X.690 §8.19.2).
    if (i === start && b === 0x80)
      throw fail(`arc ${arcs.length + 1} is not in its minimal form, as DER requires`);
    if (b & 0x80) continue;
    // Up to 7 octets (49 bits) fit a number exactly; longer arcs (at most 128 octets) use BigInt.
    let arc: number | bigint;
    if (i - start < 7) {
      let v = 0;
      for (let j = start; j <= i; j++) v = v * 128 + ((content[j] ?? 0) & 0x7f);
      arc = v;
    } else {
      let v = 0n;
      for (let j = start; j <= i; j++) v = (v << 7n) | BigInt((content[j] ?? 0) & 0x7f);
      arc = v;
    }
    if (arcs.length === 0) {
      // The first arc packs two: 40·X + Y, X in 0..2 (X.690 §8.19.4).
      if (typeof arc === 'number') {
        arcs.push(...(arc < 80 ? [String(Math.floor(arc / 40)), String(arc % 40)] : ['2', String(arc - 80)]));
      } else arcs.push('2', String(arc - 80n));
    } else arcs.push(String(arc));
    start = i + 1;
  }
  const dotted = arcs.join('.');
  if (cacheable && oidDecodeCache.size < MAX_CACHED_OIDS) oidDecodeCache.set(key, dotted);
  return dotted;
}
