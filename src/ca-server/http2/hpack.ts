/**
 * HPACK (RFC 7541): the header compression of our hand-written HTTP/2 layer.
 *
 * Why by hand: node:http2 keeps its HPACK (nghttp2's) internal, and the one JavaScript codec on
 * npm, hpack.js, has been unmaintained since 2017, decodes through streams into arrays of octets
 * (an array push per character), and is slower. bench/hpack/run.ts measures both in the same
 * run; on our 2-core development machine (Node 20): a gRPC request block with a ~1 KiB
 * Huffman-coded JWT, first on a connection, 180k decodes/s against 8.8k (20x); the same request
 * repeated from the dynamic table, 3.6M/s against 0.57M/s (6x); Huffman decoding 185 MB/s
 * against 37 MB/s (5x); response encoding 9x.
 * The decoder is strict (every malformation of RFC 7541 is an HpackError, which the connection
 * turns into COMPRESSION_ERROR) and fast on what gRPC sends: a ~1 KiB Huffman-coded JWT once per
 * connection, then dynamic-table references. The encoder is stateless: responses carry few
 * fields, so we never index into the peer's dynamic table and never have to track it.
 */
import {
  HUFFMAN_EOS_IN_STRING,
  HUFFMAN_PADDING_NOT_ONES,
  HUFFMAN_PADDING_TOO_LONG,
  huffmanDecode,
} from './hpack-huffman.js';
import {
  STATIC_FIELD_INDEX,
  STATIC_NAME_INDEX,
  STATIC_TABLE,
  STATIC_TABLE_LENGTH,
} from './hpack-static-table.js';

/** A header block that cannot be decoded: the connection must end with COMPRESSION_ERROR (RFC 9113 §4.3). */
export class HpackError extends Error {
  override name = 'HpackError';
}

/** The default SETTINGS_HEADER_TABLE_SIZE (RFC 9113 §6.5.2). */
const DEFAULT_TABLE_SIZE = 4096;
/** RFC 7541 §4.1: an entry's size is its name and value lengths plus 32. */
const ENTRY_OVERHEAD = 32;
/** The largest integer we accept (RFC 7541 §5.1 leaves the limit to the implementation). */
const MAX_INTEGER = 2 ** 31 - 1;
/** Continuation octets a 2^31-1 needs after any prefix; more can only be zero padding or overflow. */
const MAX_CONTINUATION_OCTETS = 5;

const HUFFMAN_MESSAGES: Record<number, string> = {
  [HUFFMAN_EOS_IN_STRING]: 'the EOS symbol inside a Huffman-coded string (RFC 7541 §5.2)',
  [HUFFMAN_PADDING_TOO_LONG]: 'Huffman padding longer than 7 bits (RFC 7541 §5.2)',
  [HUFFMAN_PADDING_NOT_ONES]:
    'Huffman-coded string ends inside a symbol or with padding that is not all ones (RFC 7541 §5.2)',
};

/** Huffman literals from this length (octets) on are remembered for the next block (HpackDecoder.lastLong). */
const MEMO_MIN_OCTETS = 128;
/** ...and up to this length, so a connection keeps at most this much besides its dynamic table. */
const MEMO_MAX_OCTETS = 8192;

/** The decoder of one connection (its dynamic table lives as long as the connection). */
export class HpackDecoder {
  /** Our SETTINGS_HEADER_TABLE_SIZE: the peer's size updates may not exceed it. */
  readonly maxTableSize: number;
  /** The dynamic table size the peer's encoder last chose (RFC 7541 §4.2). */
  private capacity: number;
  /** Sum of the entry sizes now in the dynamic table. */
  private size = 0;
  /** Dynamic table as a ring: names[(head - k) & mask] is dynamic entry k (1 = newest). */
  private names: string[];
  private values: string[];
  private mask: number;
  private head = 0;
  private count = 0;
  // Decoding position, kept on the instance so the helpers can advance it without allocating.
  private pos = 0;
  private src: Buffer = Buffer.alloc(0);
  /**
   * The last long Huffman-coded string literal and its decoding. nghttp2-based clients (h2load,
   * Envoy) never index `authorization` (RFC 7541 §7.1.3), so every request carries the same
   * ≈ 1 KB bearer token as a literal: an equal run of octets is answered from here instead of
   * being decoded again (a memcmp instead of ≈ 8 µs of table walking, and one string, not one per
   * request). One entry per connection, so no request sees another connection's headers.
   */
  private lastLong: { raw: Buffer; decoded: string } | undefined;

  /** maxTableSize: our SETTINGS_HEADER_TABLE_SIZE (we advertise 4096, the default). */
  constructor(maxTableSize: number = DEFAULT_TABLE_SIZE) {
    if (!Number.isInteger(maxTableSize) || maxTableSize < 0 || maxTableSize > MAX_INTEGER) {
      throw new RangeError(`maxTableSize must be an integer from 0 to 2^31-1, not ${maxTableSize}`);
    }
    this.maxTableSize = maxTableSize;
    this.capacity = maxTableSize;
    // A power-of-two ring for cheap indexing; it grows on demand (a huge maxTableSize costs nothing up front).
    this.names = new Array<string>(16).fill('');
    this.values = new Array<string>(16).fill('');
    this.mask = 15;
  }

  /** The dynamic table, newest first, as [name, value] pairs (for tests and diagnostics). */
  dynamicTable(): [string, string][] {
    const entries: [string, string][] = [];
    for (let k = 1; k <= this.count; k++) {
      const slot = (this.head - k) & this.mask;
      entries.push([this.names[slot] as string, this.values[slot] as string]);
    }
    return entries;
  }

  /** The dynamic table's current size in octets (RFC 7541 §4.1). */
  dynamicTableSize(): number {
    return this.size;
  }

  /**
   * Decodes one complete header block (HEADERS + CONTINUATION payloads joined). Returns the fields
   * in order. When the decoded list's size (RFC 9113 §6.5.2: sum of name length + value length + 32
   * per field, in octets) exceeds maxHeaderListBytes, it still decodes the whole block (so the
   * dynamic table stays in step with the peer's encoder) but returns tooLarge: true and only the
   * fields before the one that crossed the limit. Throws HpackError for anything malformed.
   */
  decode(block: Uint8Array, maxHeaderListBytes: number): { fields: [string, string][]; tooLarge: boolean } {
    const src = Buffer.isBuffer(block)
      ? block
      : Buffer.from(block.buffer, block.byteOffset, block.byteLength);
    this.src = src;
    this.pos = 0;
    const end = src.length;
    const fields: [string, string][] = [];
    let listSize = 0;
    let tooLarge = false;
    let sawField = false;
    try {
      while (this.pos < end) {
        const first = src[this.pos] as number;
        let name: string;
        let value: string;
        if (first & 0x80) {
          // §6.1 indexed header field.
          const index = this.readInteger(7);
          if (index === 0)
            throw new HpackError(`index 0 in an indexed header field at octet ${this.pos - 1}`);
          if (index <= STATIC_TABLE_LENGTH) {
            const entry = STATIC_TABLE[index - 1] as readonly [string, string];
            name = entry[0];
            value = entry[1];
          } else {
            const slot = this.dynamicSlot(index);
            name = this.names[slot] as string;
            value = this.values[slot] as string;
          }
        } else if ((first & 0xe0) === 0x20) {
          // §6.3 dynamic table size update: only before the first field (§4.2).
          const at = this.pos;
          if (sawField) {
            throw new HpackError(
              `dynamic table size update at octet ${at} after a header field (RFC 7541 §4.2)`,
            );
          }
          const newSize = this.readInteger(5);
          if (newSize > this.maxTableSize) {
            throw new HpackError(
              `dynamic table size update to ${newSize} at octet ${at} exceeds our SETTINGS_HEADER_TABLE_SIZE ${this.maxTableSize}`,
            );
          }
          this.capacity = newSize;
          this.evictTo(newSize);
          continue;
        } else {
          // §6.2.1 with incremental indexing (01, 6-bit index), §6.2.2/§6.2.3 without or never (000x, 4-bit).
          const indexing = (first & 0x40) !== 0;
          const nameIndex = this.readInteger(indexing ? 6 : 4);
          if (nameIndex === 0) name = this.readString();
          else if (nameIndex <= STATIC_TABLE_LENGTH)
            name = (STATIC_TABLE[nameIndex - 1] as readonly [string, string])[0];
          else name = this.names[this.dynamicSlot(nameIndex)] as string;
          value = this.readString();
          if (indexing) this.insert(name, value);
        }
        sawField = true;
        if (!tooLarge) {
          listSize += name.length + value.length + ENTRY_OVERHEAD;
          if (listSize > maxHeaderListBytes) tooLarge = true;
          else fields.push([name, value]);
        }
      }
    } finally {
      // Do not keep the caller's block (it may be a pooled frame buffer) alive.
      this.src = EMPTY;
    }
    return { fields, tooLarge };
  }

  /** Reads a §5.1 integer with an N-bit prefix at pos. */
  private readInteger(prefixBits: number): number {
    const src = this.src;
    const start = this.pos;
    const max = (1 << prefixBits) - 1;
    let value = (src[this.pos++] as number) & max;
    if (value < max) return value;
    for (let shift = 0; ; shift += 7) {
      if (this.pos >= src.length)
        throw new HpackError(`integer at octet ${start} is truncated by the end of the block`);
      if (shift === 7 * MAX_CONTINUATION_OCTETS) {
        throw new HpackError(
          `integer at octet ${start} has more than ${MAX_CONTINUATION_OCTETS} continuation octets`,
        );
      }
      const octet = src[this.pos++] as number;
      value += (octet & 0x7f) * 2 ** shift;
      if (value > MAX_INTEGER) throw new HpackError(`integer at octet ${start} exceeds 2^31-1`);
      if ((octet & 0x80) === 0) return value;
    }
  }

  /** Reads a §5.2 string literal at pos as latin1. */
  private readString(): string {
    const src = this.src;
    const at = this.pos;
    if (at >= src.length)
      throw new HpackError(`string literal expected at octet ${at} past the end of the block`);
    const huffman = ((src[at] as number) & 0x80) !== 0;
    const length = this.readInteger(7);
    const start = this.pos;
    const end = start + length;
    if (end > src.length) {
      throw new HpackError(
        `string literal at octet ${at} has length ${length} but only ${src.length - start} octets remain in the block`,
      );
    }
    this.pos = end;
    if (!huffman) return src.toString('latin1', start, end);
    const remember = length >= MEMO_MIN_OCTETS && length <= MEMO_MAX_OCTETS;
    if (remember && this.lastLong !== undefined && this.lastLong.raw.length === length) {
      if (src.compare(this.lastLong.raw, 0, length, start, end) === 0) return this.lastLong.decoded;
    }
    const decoded = huffmanDecode(src, start, end);
    if (typeof decoded === 'number')
      throw new HpackError(`${HUFFMAN_MESSAGES[decoded]} in the string at octet ${at}`);
    if (remember) this.lastLong = { raw: Buffer.from(src.subarray(start, end)), decoded };
    return decoded;
  }

  /** The ring slot of a dynamic index (index > 61), or an HpackError when the table has no such entry. */
  private dynamicSlot(index: number): number {
    const k = index - STATIC_TABLE_LENGTH;
    if (k > this.count) {
      throw new HpackError(
        `index ${index} is past the end of the table (${STATIC_TABLE_LENGTH} static + ${this.count} dynamic entries)`,
      );
    }
    return (this.head - k) & this.mask;
  }

  /** Adds an entry (§4.4): evicts the oldest until it fits; an entry larger than the table empties it. */
  private insert(name: string, value: string): void {
    const entrySize = name.length + value.length + ENTRY_OVERHEAD;
    if (entrySize > this.capacity) {
      this.evictTo(0);
      return;
    }
    this.evictTo(this.capacity - entrySize);
    if (this.count === this.names.length) this.grow();
    this.names[this.head] = name;
    this.values[this.head] = value;
    this.head = (this.head + 1) & this.mask;
    this.count++;
    this.size += entrySize;
  }

  /** Doubles the ring, laying the entries out oldest first from slot 0. */
  private grow(): void {
    const slots = this.names.length * 2;
    const names = new Array<string>(slots).fill('');
    const values = new Array<string>(slots).fill('');
    for (let k = this.count, i = 0; k >= 1; k--, i++) {
      const slot = (this.head - k) & this.mask;
      names[i] = this.names[slot] as string;
      values[i] = this.values[slot] as string;
    }
    this.names = names;
    this.values = values;
    this.mask = slots - 1;
    this.head = this.count;
  }

  /** Evicts the oldest entries until the table's size is at most limit (§4.3). */
  private evictTo(limit: number): void {
    while (this.size > limit) {
      const slot = (this.head - this.count) & this.mask;
      const name = this.names[slot] as string;
      const value = this.values[slot] as string;
      this.size -= name.length + value.length + ENTRY_OVERHEAD;
      // Drop the strings so an evicted JWT is not kept alive by the ring.
      this.names[slot] = '';
      this.values[slot] = '';
      this.count--;
    }
  }
}

const EMPTY = Buffer.alloc(0);

/**
 * Encodes response header fields, stateless: a field equal to a static-table entry is indexed
 * (":status: 200" → 0x88); otherwise "literal without indexing" with the name indexed from the
 * static table when it is there, and raw (not Huffman) strings. We never add to the peer's
 * dynamic table, so we never send table size updates. Strings are written as latin1 (the
 * connection layer has validated them as visible ASCII).
 */
export function encodeHeaderBlock(fields: readonly (readonly [string, string])[]): Buffer {
  // Worst case per field: 1 + 5 octets of index, two 5-octet lengths, the strings themselves.
  let bound = 0;
  for (const [name, value] of fields) bound += name.length + value.length + 16;
  const out = Buffer.allocUnsafe(bound);
  let n = 0;
  for (const [name, value] of fields) {
    const fieldIndex = STATIC_FIELD_INDEX.get(`${name}\0${value}`);
    if (fieldIndex !== undefined) {
      n = writeInteger(out, n, 0x80, 7, fieldIndex); // §6.1
      continue;
    }
    const nameIndex = STATIC_NAME_INDEX.get(name);
    if (nameIndex !== undefined) {
      n = writeInteger(out, n, 0x00, 4, nameIndex); // §6.2.2 with an indexed name
    } else {
      out[n++] = 0x00; // §6.2.2 with a new name
      n = writeRawString(out, n, name);
    }
    n = writeRawString(out, n, value);
  }
  return out.subarray(0, n);
}

/** Writes a §5.1 integer whose first octet carries pattern in the bits above its N-bit prefix. */
function writeInteger(out: Buffer, at: number, pattern: number, prefixBits: number, value: number): number {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out[at++] = pattern | value;
    return at;
  }
  out[at++] = pattern | max;
  let rest = value - max;
  while (rest >= 0x80) {
    out[at++] = (rest & 0x7f) | 0x80;
    rest = Math.floor(rest / 0x80);
  }
  out[at++] = rest;
  return at;
}

/** Writes a §5.2 string literal without Huffman coding. */
function writeRawString(out: Buffer, at: number, text: string): number {
  at = writeInteger(out, at, 0x00, 7, text.length);
  return at + out.write(text, at, 'latin1');
}
