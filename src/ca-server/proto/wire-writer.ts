/**
 * An append-only protobuf encoder into one growing buffer. Nested messages are written by
 * reserving nothing up front: the caller encodes the child with its own writer and appends the
 * bytes, which is simple and fast enough for the few small nested values this API has.
 */
export class WireWriter {
  private buf: Buffer;
  private len = 0;

  constructor(initialSize = 256) {
    this.buf = Buffer.allocUnsafe(initialSize);
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  /** Appends an unsigned varint of up to 32 bits. */
  uint32(value: number): this {
    this.reserve(5);
    let v = value >>> 0;
    while (v > 0x7f) {
      this.buf[this.len++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[this.len++] = v;
    return this;
  }

  /** Appends a signed int64 as a varint (negative values take ten bytes, as the spec says). */
  int64(value: bigint): this {
    this.reserve(10);
    let v = BigInt.asUintN(64, value);
    while (v > 0x7fn) {
      this.buf[this.len++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.len++] = Number(v);
    return this;
  }

  /** Appends a field tag. */
  tag(field: number, wireType: number): this {
    return this.uint32(((field << 3) | wireType) >>> 0);
  }

  /** Appends a little-endian double. */
  double(value: number): this {
    this.reserve(8);
    this.buf.writeDoubleLE(value, this.len);
    this.len += 8;
    return this;
  }

  /** Appends a length-prefixed UTF-8 string. */
  string(value: string): this {
    const n = Buffer.byteLength(value, 'utf8');
    this.uint32(n);
    this.reserve(n);
    this.len += this.buf.write(value, this.len, n, 'utf8');
    return this;
  }

  /** Appends length-prefixed bytes. */
  bytes(value: Uint8Array): this {
    this.uint32(value.length);
    this.reserve(value.length);
    this.buf.set(value, this.len);
    this.len += value.length;
    return this;
  }

  /** The encoded bytes (a view into the writer's buffer). */
  finish(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}
