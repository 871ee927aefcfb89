/**
 * The protocol's primitive types (https://kafka.apache.org/protocol#protocol_types):
 * big-endian fixed-width integers, zig-zag varints (records) and unsigned varints
 * (flexible versions, KIP-482: compact strings/arrays carry length + 1 so that 0 means
 * null, and every structure ends with a tagged-field section).
 */
import { KafkaWireError } from './errors.js';

/** Bytes a zig-zag varint of the non-negative integer `n` takes (zig-zag of n ≥ 0 is 2n). */
export function varintSize(n: number): number {
  let v = n * 2;
  let size = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    size++;
  }
  return size;
}

/**
 * Writes a zig-zag varint of the safe integer `n` at buf[pos]; returns the new position.
 * Arithmetic instead of bit operators so values beyond 2^31 stay exact.
 */
export function writeVarint(buf: Uint8Array, pos: number, n: number): number {
  let v = n >= 0 ? n * 2 : -n * 2 - 1;
  while (v >= 0x80) {
    buf[pos++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  buf[pos++] = v;
  return pos;
}

/** Growable big-endian writer for request bodies. */
export class Writer {
  buf: Buffer;
  pos = 0;

  constructor(initial = 256) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  int8(v: number): this {
    this.ensure(1);
    this.pos = this.buf.writeInt8(v, this.pos);
    return this;
  }
  bool(v: boolean): this {
    return this.int8(v ? 1 : 0);
  }
  int16(v: number): this {
    this.ensure(2);
    this.pos = this.buf.writeInt16BE(v, this.pos);
    return this;
  }
  int32(v: number): this {
    this.ensure(4);
    this.pos = this.buf.writeInt32BE(v, this.pos);
    return this;
  }
  int64(v: bigint): this {
    this.ensure(8);
    this.pos = this.buf.writeBigInt64BE(v, this.pos);
    return this;
  }
  uvarint(v: number): this {
    this.ensure(5);
    while (v >= 0x80) {
      this.buf[this.pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[this.pos++] = v;
    return this;
  }
  bytes(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }
  /** STRING / NULLABLE_STRING: int16 length (-1 for null). */
  string(s: string | null): this {
    if (s === null) return this.int16(-1);
    const n = Buffer.byteLength(s, 'utf8');
    this.int16(n);
    this.ensure(n);
    this.pos += this.buf.write(s, this.pos, 'utf8');
    return this;
  }
  /** COMPACT_(NULLABLE_)STRING: uvarint length + 1 (0 for null). */
  compactString(s: string | null): this {
    if (s === null) return this.uvarint(0);
    const n = Buffer.byteLength(s, 'utf8');
    this.uvarint(n + 1);
    this.ensure(n);
    this.pos += this.buf.write(s, this.pos, 'utf8');
    return this;
  }
  /** COMPACT_ARRAY: uvarint length + 1, then each item; null for a null array. */
  compactArray<T>(items: readonly T[] | null, each: (w: this, item: T) => void): this {
    if (items === null) return this.uvarint(0);
    this.uvarint(items.length + 1);
    for (const it of items) each(this, it);
    return this;
  }
  /** An empty tagged-field section (this client sends no tagged fields). */
  tags(): this {
    return this.uvarint(0);
  }
  uuid(bytes: Uint8Array): this {
    return this.bytes(bytes);
  }
  /** The written bytes (a view, valid until the next write). */
  view(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

/** Big-endian reader over one response frame; every overrun is a CORRUPT_MESSAGE error. */
export class Reader {
  pos: number;

  constructor(
    readonly buf: Buffer,
    pos = 0,
  ) {
    this.pos = pos;
  }

  private need(n: number): void {
    if (this.pos + n > this.buf.length) {
      throw new KafkaWireError('CORRUPT_MESSAGE', `response truncated: need ${n} bytes at ${this.pos} of ${this.buf.length}`);
    }
  }

  int8(): number {
    this.need(1);
    return this.buf.readInt8(this.pos++);
  }
  bool(): boolean {
    return this.int8() !== 0;
  }
  int16(): number {
    this.need(2);
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  int32(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  int64(): bigint {
    this.need(8);
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v;
  }
  uvarint(): number {
    let v = 0;
    let shift = 0;
    for (;;) {
      this.need(1);
      const b = this.buf[this.pos++];
      v += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return v;
      shift += 7;
      if (shift > 28) throw new KafkaWireError('CORRUPT_MESSAGE', `unsigned varint longer than 5 bytes at ${this.pos}`);
    }
  }
  string(): string | null {
    const n = this.int16();
    if (n < 0) return null;
    this.need(n);
    const s = this.buf.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
  compactString(): string | null {
    const n = this.uvarint() - 1;
    if (n < 0) return null;
    this.need(n);
    const s = this.buf.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
  /** COMPACT_BYTES / COMPACT_RECORDS as a view into the frame (no copy); null when null. */
  compactBytes(): Buffer | null {
    const n = this.uvarint() - 1;
    if (n < 0) return null;
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  /** COMPACT_ARRAY: -1 for null. */
  compactArrayLength(): number {
    return this.uvarint() - 1;
  }
  compactArray<T>(each: (r: this) => T): T[] {
    const n = this.compactArrayLength();
    const out: T[] = [];
    for (let i = 0; i < n; i++) out.push(each(this));
    return out;
  }
  uuid(): Buffer {
    this.need(16);
    const b = this.buf.subarray(this.pos, this.pos + 16);
    this.pos += 16;
    return b;
  }
  /** Skips a tagged-field section: fields this client does not know are ignored, as KIP-482 intends. */
  tags(): void {
    const n = this.uvarint();
    for (let i = 0; i < n; i++) {
      this.uvarint(); // tag
      const size = this.uvarint();
      this.need(size);
      this.pos += size;
    }
  }
}
