/**
 * RecordBatch v2 (magic 2, KIP-98), the only record format Kafka 4 writes: its layout,
 * a builder (used by the load generator's producer) and a header-only scan for the main
 * thread (batch boundaries and offsets, no per-record work).
 *
 *   baseOffset int64 | batchLength int32 | partitionLeaderEpoch int32 | magic int8 |
 *   crc uint32 | attributes int16 | lastOffsetDelta int32 | baseTimestamp int64 |
 *   maxTimestamp int64 | producerId int64 | producerEpoch int16 | baseSequence int32 |
 *   records int32 | records...
 */
import { crc32c } from './crc32c.js';
import { varintSize, writeVarint } from './codec.js';

export const BATCH = {
  BASE_OFFSET: 0,
  LENGTH: 8,
  LEADER_EPOCH: 12,
  MAGIC: 16,
  CRC: 17,
  ATTRIBUTES: 21,
  LAST_OFFSET_DELTA: 23,
  BASE_TIMESTAMP: 27,
  MAX_TIMESTAMP: 35,
  PRODUCER_ID: 43,
  PRODUCER_EPOCH: 51,
  BASE_SEQUENCE: 53,
  RECORD_COUNT: 57,
  /** Size of the header; the records (possibly compressed) follow. */
  HEADER: 61,
  /** baseOffset + batchLength: batchLength counts the bytes after itself. */
  LOG_OVERHEAD: 12,
} as const;

/** attributes: bits 0-2 codec, bit 3 timestamp type, bit 4 transactional, bit 5 control. */
export const ATTR = { CODEC_MASK: 0x07, TRANSACTIONAL: 0x10, CONTROL: 0x20 } as const;

/** Codec ids in the attributes (org.apache.kafka.common.compress / CompressionType). */
export const CODEC_NAMES = ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const;

function readInt64AsNumber(buf: Uint8Array, pos: number): number {
  // Offsets stay below 2^53 in any real log; a Number is exact there and cheaper than a bigint.
  const hi = (buf[pos] << 24) | (buf[pos + 1] << 16) | (buf[pos + 2] << 8) | buf[pos + 3];
  const lo = ((buf[pos + 4] << 24) | (buf[pos + 5] << 16) | (buf[pos + 6] << 8) | buf[pos + 7]) >>> 0;
  return hi * 4294967296 + lo;
}

function readInt32(buf: Uint8Array, pos: number): number {
  return (buf[pos] << 24) | (buf[pos + 1] << 16) | (buf[pos + 2] << 8) | buf[pos + 3];
}

export { readInt64AsNumber, readInt32 };

export interface BatchScan {
  /** Complete batches found. */
  batches: number;
  /** Bytes they take from the start; a trailing partial batch (cut at max_bytes) is left out. */
  bytes: number;
  /** Last offset of the last complete batch (-1 if none): the next fetch starts after it. */
  lastOffset: number;
  /** Sum of the record counts in the batch headers (an upper bound on records to decode). */
  records: number;
}

/**
 * Walks batch headers only. The broker may end a partition's records with a partial batch
 * when it reaches partition_max_bytes / max_bytes (the Fetch API says clients must ignore
 * it); this finds where the complete batches end and the offset to fetch next, also past
 * control batches and batches emptied by compaction, whose lastOffsetDelta still counts.
 */
export function scanBatches(bytes: Uint8Array): BatchScan {
  let pos = 0;
  let batches = 0;
  let records = 0;
  let lastOffset = -1;
  while (pos + BATCH.LOG_OVERHEAD <= bytes.length) {
    const size = BATCH.LOG_OVERHEAD + readInt32(bytes, pos + BATCH.LENGTH);
    if (size < BATCH.HEADER || pos + size > bytes.length) break;
    lastOffset = readInt64AsNumber(bytes, pos) + readInt32(bytes, pos + BATCH.LAST_OFFSET_DELTA);
    records += Math.max(0, readInt32(bytes, pos + BATCH.RECORD_COUNT));
    batches++;
    pos += size;
  }
  return { batches, bytes: pos, lastOffset, records };
}

/**
 * Accumulates records for one partition into a RecordBatch v2 (no compression, one
 * CreateTime for the batch, optionally an idempotent producer's id). `seal()` writes the header and CRC and
 * returns the bytes.
 */
export class RecordBatchBuilder {
  private buf: Buffer;
  private pos: number = BATCH.HEADER;
  count = 0;

  constructor(initialBytes = 256 * 1024) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  /** Bytes the batch holds so far. */
  get size(): number {
    return this.pos;
  }

  private ensure(extra: number): void {
    if (this.pos + extra <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + extra));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  add(key: string | null, value: string | Buffer | null): void {
    const kl = key === null ? -1 : Buffer.byteLength(key, 'utf8');
    const vl = value === null ? -1 : typeof value === 'string' ? Buffer.byteLength(value, 'utf8') : value.length;
    const offsetDelta = this.count;
    const keyPart = kl < 0 ? 1 : varintSize(kl) + kl;
    const valuePart = vl < 0 ? 1 : varintSize(vl) + vl;
    const body = 1 + 1 + varintSize(offsetDelta) + keyPart + valuePart + 1;
    this.ensure(body + 5);
    const buf = this.buf;
    this.pos = writeVarint(buf, this.pos, body);
    buf[this.pos++] = 0; // attributes
    buf[this.pos++] = 0; // timestampDelta
    this.pos = writeVarint(buf, this.pos, offsetDelta);
    if (kl < 0) buf[this.pos++] = 1; // zig-zag(-1): null key
    else {
      this.pos = writeVarint(buf, this.pos, kl);
      this.pos += buf.write(key!, this.pos, 'utf8');
    }
    if (vl < 0) buf[this.pos++] = 1;
    else {
      this.pos = writeVarint(buf, this.pos, vl);
      if (typeof value === 'string') this.pos += buf.write(value, this.pos, 'utf8');
      else this.pos += value!.copy(buf, this.pos);
    }
    buf[this.pos++] = 0; // headers
    this.count++;
  }

  /**
   * The finished batch (a copy), with `timestampMs` as CreateTime; the builder is reset.
   * With `producer`, the batch carries an idempotent producer's id, epoch and the sequence
   * number of its first record, by which the broker recognises a resent batch.
   */
  seal(timestampMs: number, producer?: { producerId: bigint; producerEpoch: number; baseSequence: number }): Buffer {
    const buf = this.buf;
    const len = this.pos;
    buf.writeBigInt64BE(0n, BATCH.BASE_OFFSET); // the broker assigns offsets
    buf.writeInt32BE(len - BATCH.LOG_OVERHEAD, BATCH.LENGTH);
    buf.writeInt32BE(-1, BATCH.LEADER_EPOCH);
    buf[BATCH.MAGIC] = 2;
    buf.writeInt16BE(0, BATCH.ATTRIBUTES);
    buf.writeInt32BE(this.count - 1, BATCH.LAST_OFFSET_DELTA);
    const ts = BigInt(timestampMs);
    buf.writeBigInt64BE(ts, BATCH.BASE_TIMESTAMP);
    buf.writeBigInt64BE(ts, BATCH.MAX_TIMESTAMP);
    buf.writeBigInt64BE(producer?.producerId ?? -1n, BATCH.PRODUCER_ID);
    buf.writeInt16BE(producer?.producerEpoch ?? -1, BATCH.PRODUCER_EPOCH);
    buf.writeInt32BE(producer?.baseSequence ?? -1, BATCH.BASE_SEQUENCE);
    buf.writeInt32BE(this.count, BATCH.RECORD_COUNT);
    // The CRC covers attributes to the end, so it is written last.
    buf.writeUInt32BE(crc32c(buf, BATCH.ATTRIBUTES, len), BATCH.CRC);
    const out = Buffer.allocUnsafe(len);
    buf.copy(out, 0, 0, len);
    this.pos = BATCH.HEADER;
    this.count = 0;
    return out;
  }
}
