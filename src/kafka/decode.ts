/**
 * Worker-side decoding of a partition's fetched record batches into packed arrays: no
 * object per record, no main-thread assumptions (usable in a worker thread; the input may
 * live in a transferred ArrayBuffer).
 *
 * Follows the Java consumer's CompletedFetch rules:
 * - every batch's CRC-32C is verified before anything in it is read;
 * - a trailing partial batch (the broker cuts at max_bytes) is ignored;
 * - records below `fetchOffset` are dropped: the broker returns whole batches, so a fetch
 *   into the middle of a (compressed) batch starts at the batch's base offset;
 * - control batches (transaction markers) are never records;
 * - with read_committed, a transactional batch of a producer whose transaction the
 *   response lists as aborted (from its first offset until that producer's ABORT marker)
 *   is dropped.
 */
import { KafkaWireError } from './errors.js';
import { decompress } from './compression.js';
import { ATTR, BATCH, CODEC_NAMES, readInt32, readInt64AsNumber, scanBatches } from './record-batch.js';
import { crc32c } from './crc32c.js';

export interface AbortedTransaction {
  producerId: bigint;
  firstOffset: bigint;
}

export interface DecodeOptions {
  /** Records with a lower offset are dropped (the offset the fetch asked for). Default: keep all. */
  fetchOffset?: number;
  /** Drop records of aborted transactions (needs `abortedTransactions` from the same fetch). */
  readCommitted?: boolean;
  /** The partition's aborted_transactions from the Fetch response (null or [] when none). */
  abortedTransactions?: readonly AbortedTransaction[] | null;
  /** Verify each batch's CRC-32C (default true). */
  verifyCrc?: boolean;
}

/**
 * Records as packed arrays. Record i's key is
 * `buffers[buffer[i]].subarray(keyStart[i], keyStart[i] + keyLength[i])`, null when
 * keyLength[i] is -1; likewise the value. buffers[0] is the input; each compressed batch
 * adds its decompressed records section.
 */
export interface DecodedRecords {
  count: number;
  buffers: Uint8Array[];
  buffer: Uint16Array;
  /** Offsets as Numbers: exact below 2^53, far beyond any real log. */
  offsets: Float64Array;
  /** Record timestamps (epoch ms): CreateTime, or the batch's LogAppendTime when the topic uses it. */
  timestamps: Float64Array;
  keyStart: Int32Array;
  keyLength: Int32Array;
  valueStart: Int32Array;
  valueLength: Int32Array;
  /**
   * Last offset of the last complete batch, control and emptied batches included (-1 when
   * there is none): the next fetch starts at lastOffset + 1 even when no record was kept.
   */
  lastOffset: number;
  /** Bytes of the input the complete batches take; the rest is a partial batch. */
  bytesUsed: number;
  batches: number;
  /** Control records skipped (transaction markers). */
  controlRecords: number;
  /** Records dropped as part of aborted transactions (read_committed only). */
  abortedRecords: number;
}

let vpos = 0;

/** Zig-zag varint at buf[pos]; the end position goes to `vpos` (one module slot, no allocation). */
function readVarint(buf: Uint8Array, pos: number, end: number): number {
  let b = buf[pos++];
  let v = b & 0x7f;
  if (b & 0x80) {
    let mul = 128;
    do {
      if (pos >= end) throw new KafkaWireError('CORRUPT_MESSAGE', 'record varint runs past the end of its batch');
      b = buf[pos++];
      v += (b & 0x7f) * mul;
      mul *= 128;
      if (mul > 2 ** 63) throw new KafkaWireError('CORRUPT_MESSAGE', 'record varint longer than 10 bytes');
    } while (b & 0x80);
  }
  vpos = pos;
  // zig-zag: (v >>> 1) ^ -(v & 1), in arithmetic so values past 2^31 stay right
  return v % 2 === 0 ? v / 2 : -(v + 1) / 2;
}

function corrupt(what: string, baseOffset: number): KafkaWireError {
  return new KafkaWireError('CORRUPT_MESSAGE', `record batch at offset ${baseOffset}: ${what}`);
}

/** Decodes the complete record batches in `bytes` (one partition's `records` from a Fetch response). */
export function decodeRecordBatches(bytes: Uint8Array, options: DecodeOptions = {}): DecodedRecords {
  const fetchOffset = options.fetchOffset ?? -Infinity;
  const readCommitted = options.readCommitted ?? false;
  const verifyCrc = options.verifyCrc ?? true;
  const scan = scanBatches(bytes);
  const cap = scan.records;
  const out: DecodedRecords = {
    count: 0,
    buffers: [bytes],
    buffer: new Uint16Array(cap),
    offsets: new Float64Array(cap),
    timestamps: new Float64Array(cap),
    keyStart: new Int32Array(cap),
    keyLength: new Int32Array(cap),
    valueStart: new Int32Array(cap),
    valueLength: new Int32Array(cap),
    lastOffset: scan.lastOffset,
    bytesUsed: scan.bytes,
    batches: scan.batches,
    controlRecords: 0,
    abortedRecords: 0,
  };

  // Aborted transactions in first-offset order; a producer enters `abortedProducers` when
  // a batch reaches its first offset and leaves it at its ABORT marker (Java: CompletedFetch).
  const aborted = readCommitted && options.abortedTransactions ? [...options.abortedTransactions].sort((a, b) => (a.firstOffset < b.firstOffset ? -1 : a.firstOffset > b.firstOffset ? 1 : 0)) : [];
  let nextAborted = 0;
  const abortedProducers = new Set<bigint>();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);

  let pos = 0;
  while (pos < scan.bytes) {
    const baseOffset = readInt64AsNumber(bytes, pos);
    const batchEnd = pos + BATCH.LOG_OVERHEAD + readInt32(bytes, pos + BATCH.LENGTH);
    const magic = bytes[pos + BATCH.MAGIC];
    if (magic !== 2) {
      throw new KafkaWireError('UNSUPPORTED_MAGIC', `record batch at offset ${baseOffset} has magic ${magic}; only RecordBatch v2 (magic 2) is read`);
    }
    if (verifyCrc) {
      const stored = view.getUint32(pos + BATCH.CRC);
      const actual = crc32c(bytes, pos + BATCH.ATTRIBUTES, batchEnd);
      if (stored !== actual) {
        throw new KafkaWireError('CRC_MISMATCH', `record batch at offset ${baseOffset}: CRC-32C is ${actual.toString(16)}, the batch says ${stored.toString(16)}`);
      }
    }
    const attributes = view.getInt16(pos + BATCH.ATTRIBUTES);
    const lastOffset = baseOffset + readInt32(bytes, pos + BATCH.LAST_OFFSET_DELTA);
    const count = readInt32(bytes, pos + BATCH.RECORD_COUNT);
    const isControl = (attributes & ATTR.CONTROL) !== 0;
    const isTransactional = (attributes & ATTR.TRANSACTIONAL) !== 0;
    const batchStart = pos;
    pos = batchEnd;
    if (lastOffset < fetchOffset) continue;

    let records: Uint8Array = bytes;
    let rpos = batchStart + BATCH.HEADER;
    let rend = batchEnd;
    const codec = attributes & ATTR.CODEC_MASK;
    let bufIndex = 0;
    if (codec !== 0 && count > 0) {
      records = decompress(codec, bytes.subarray(rpos, rend));
      rpos = 0;
      rend = records.length;
      bufIndex = out.buffers.length;
      if (bufIndex > 0xffff) throw corrupt('more than 65535 compressed batches in one fetch', baseOffset);
      out.buffers.push(records);
    }

    if (readCommitted && view.getBigInt64(batchStart + BATCH.PRODUCER_ID) >= 0n) {
      const producerId = view.getBigInt64(batchStart + BATCH.PRODUCER_ID);
      while (nextAborted < aborted.length && Number(aborted[nextAborted].firstOffset) <= lastOffset) {
        abortedProducers.add(aborted[nextAborted++].producerId);
      }
      if (isControl) {
        // A control record's key is version int16 + type int16: 0 ABORT, 1 COMMIT.
        if (count > 0) {
          readVarint(records, rpos, rend); // length
          let p = vpos + 1; // attributes
          readVarint(records, p, rend); // timestampDelta
          readVarint(records, vpos, rend); // offsetDelta
          const keyLen = readVarint(records, vpos, rend);
          p = vpos;
          if (keyLen >= 4 && p + 4 <= rend && ((records[p + 2] << 8) | records[p + 3]) === 0) abortedProducers.delete(producerId);
        }
      } else if (isTransactional && abortedProducers.has(producerId)) {
        out.abortedRecords += count;
        continue;
      }
    }
    if (isControl) {
      out.controlRecords += count;
      continue;
    }

    const baseTimestamp = Number(view.getBigInt64(batchStart + BATCH.BASE_TIMESTAMP));
    // timestamp type bit 3: LogAppendTime puts the broker's time in maxTimestamp for every record
    const logAppendTime = (attributes & 0x08) !== 0 ? Number(view.getBigInt64(batchStart + BATCH.MAX_TIMESTAMP)) : NaN;
    for (let r = 0; r < count; r++) {
      if (rpos >= rend) throw corrupt(`${count} records announced, ${r} found`, baseOffset);
      const length = readVarint(records, rpos, rend);
      const recEnd = vpos + length;
      if (length < 0 || recEnd > rend) throw corrupt(`record ${r} length ${length} overruns the batch`, baseOffset);
      let p = vpos + 1; // attributes (unused)
      const tsDelta = readVarint(records, p, recEnd);
      const offsetDelta = readVarint(records, vpos, recEnd);
      const keyLen = readVarint(records, vpos, recEnd);
      const keyAt = vpos;
      p = keyAt + (keyLen > 0 ? keyLen : 0);
      const valueLen = readVarint(records, p, recEnd);
      const valueAt = vpos;
      if (valueAt + (valueLen > 0 ? valueLen : 0) > recEnd) throw corrupt(`record ${r} value overruns the record`, baseOffset);
      // Headers are skipped: the records' end is known from their length.
      rpos = recEnd;
      const offset = baseOffset + offsetDelta;
      if (offset < fetchOffset) continue;
      const i = out.count++;
      out.buffer[i] = bufIndex;
      out.offsets[i] = offset;
      out.timestamps[i] = logAppendTime === logAppendTime ? logAppendTime : baseTimestamp + tsDelta;
      out.keyStart[i] = keyAt;
      out.keyLength[i] = keyLen;
      out.valueStart[i] = valueAt;
      out.valueLength[i] = valueLen;
    }
  }
  return out;
}

/** Human name of a codec id, for messages. */
export function codecName(codec: number): string {
  return CODEC_NAMES[codec] ?? `codec id ${codec}`;
}
