import { isUtf8 } from 'node:buffer';
import { MeshcaError } from '../../errors/index.js';

/** Protobuf wire types (https://protobuf.dev/programming-guides/encoding/#structure). */
export const WireType = { VARINT: 0, I64: 1, LEN: 2, SGROUP: 3, EGROUP: 4, I32: 5 } as const;

/** Throws the one error every malformed-protobuf path reports. */
export function malformed(what: string): never {
  throw new MeshcaError('INVALID_INPUT', `malformed protobuf message: ${what}`, {
    hint: 'send an IstioCertificateRequest encoded as proto3 (istio.v1.auth)',
  });
}

/**
 * A bounds-checked cursor over protobuf bytes. Every read checks the remaining length first, so
 * truncated or hostile input ends in a MeshcaError, never an out-of-range read.
 */
export class WireReader {
  /** Index of the next unread byte. */
  pos: number;
  /** One past the last byte this reader may read (narrowed while a nested message is read). */
  end: number;

  /** The same bytes as a Buffer, for Node's native UTF-8 check and decode. */
  private readonly bytes: Buffer;

  constructor(
    readonly buf: Uint8Array,
    start = 0,
    end = buf.length,
  ) {
    this.pos = start;
    this.end = end;
    this.bytes = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  /** True when every byte has been read. */
  get done(): boolean {
    return this.pos >= this.end;
  }

  /** Reads an unsigned varint of at most 32 bits (tags, lengths, enums, bools). */
  uint32(): number {
    let result = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (this.pos >= this.end) malformed('truncated varint');
      const b = this.buf[this.pos++]!;
      // `* 2 ** shift` rather than `<<` keeps bit 31 from turning the result negative.
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) {
        if (result > 0xffffffff) malformed('varint exceeds 32 bits');
        return result;
      }
    }
    return malformed('varint longer than 5 bytes where a 32-bit value was expected');
  }

  /**
   * Reads an int64 varint as a number; `field` names it in the error when the value is outside
   * ±2^53 (refused rather than rounded).
   */
  safeInt64(field: string): number {
    // Fast path: up to 7 bytes (49 bits) fits a double exactly, and covers every real duration.
    let small = 0;
    for (let i = 0; i < 7 && this.pos + i < this.end; i++) {
      const b = this.buf[this.pos + i]!;
      small += (b & 0x7f) * 2 ** (7 * i);
      if ((b & 0x80) === 0) {
        this.pos += i + 1;
        return small;
      }
    }
    const v = this.int64();
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
      malformed(`${field} ${v} is out of range`);
    }
    return Number(v);
  }

  /** Reads a varint of up to 64 bits as a signed two's-complement int64. */
  int64(): bigint {
    let result = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (this.pos >= this.end) malformed('truncated varint');
      const b = this.buf[this.pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) {
        if (shift === 63n && b > 1) malformed('varint exceeds 64 bits');
        return BigInt.asIntN(64, result);
      }
    }
    return malformed('varint longer than 10 bytes');
  }

  /** Reads a varint of up to 64 bits and reports whether it was non-zero (proto3 bool). */
  bool(): boolean {
    // Any non-zero varint is true; read it as bytes so no BigInt is made.
    let nonZero = false;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) malformed('truncated varint');
      const b = this.buf[this.pos++]!;
      if ((b & 0x7f) !== 0) nonZero = true;
      if ((b & 0x80) === 0) return nonZero;
    }
    return malformed('varint longer than 10 bytes');
  }

  /** Reads a little-endian IEEE 754 double. */
  double(): number {
    if (this.end - this.pos < 8) malformed('truncated 64-bit field');
    const view = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 8);
    this.pos += 8;
    return view.getFloat64(0, true);
  }

  /** Reads a field tag and returns [fieldNumber, wireType]. */
  tag(): [number, number] {
    const t = this.uint32();
    const field = t >>> 3;
    if (field === 0) malformed('field number 0 is not allowed');
    return [field, t & 7];
  }

  /** Reads a length prefix and returns the [start, end) of the delimited bytes. */
  delimited(): [number, number] {
    const len = this.uint32();
    if (len > this.end - this.pos) malformed('length-delimited field runs past the end of the message');
    const start = this.pos;
    this.pos += len;
    return [start, this.pos];
  }

  /** Reads a length-delimited UTF-8 string; invalid UTF-8 is an error, as proto3 requires. */
  string(): string {
    const [start, end] = this.delimited();
    if (start === end) return '';
    const slice = this.bytes.subarray(start, end);
    if (!isUtf8(slice)) malformed('string field is not valid UTF-8');
    return slice.toString('utf8');
  }

  /** Skips one field of the given wire type (unknown fields are ignored, as proto3 says). */
  skip(wireType: number): void {
    switch (wireType) {
      case WireType.VARINT:
        this.bool();
        return;
      case WireType.I64:
        if (this.end - this.pos < 8) malformed('truncated 64-bit field');
        this.pos += 8;
        return;
      case WireType.LEN:
        this.delimited();
        return;
      case WireType.I32:
        if (this.end - this.pos < 4) malformed('truncated 32-bit field');
        this.pos += 4;
        return;
      default:
        // Groups (3, 4) are proto2-only and unused by this API; 6 and 7 are not wire types.
        malformed(`unsupported wire type ${wireType}`);
    }
  }

  /** Checks that a known field arrived with the wire type its declaration implies. */
  expect(field: string, wireType: number, want: number): void {
    if (wireType !== want) malformed(`field ${field} has wire type ${wireType}, expected ${want}`);
  }
}
