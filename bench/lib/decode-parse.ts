/**
 * The bare work of the wire read path in a worker, shared by bench:wire and the wire
 * client ceiling of bench:e2e: decode one partition's raw record batches (CRC-32C,
 * decompression) and JSON.parse every value, keeping nothing.
 */
import { decodeRecordBatches } from '../../src/kafka/decode.js';

export interface DecodeParseCount {
  /** Records decoded at or above the fetch offset and below the end offset. */
  records: number;
  /** Values parsed (records with a null value are not). */
  parsed: number;
  /** Value bytes parsed. */
  bytes: number;
}

const text = new TextDecoder();

export function decodeAndParse(bytes: Uint8Array, fetchOffset: number, endOffset = Infinity): DecodeParseCount {
  const d = decodeRecordBatches(bytes, { fetchOffset });
  let records = 0;
  let parsed = 0;
  let total = 0;
  for (let i = 0; i < d.count; i++) {
    if (d.offsets[i] >= endOffset) break; // offsets ascend within a partition
    records++;
    const len = d.valueLength[i];
    if (len < 0) continue;
    const b = d.buffers[d.buffer[i]];
    JSON.parse(text.decode(b.subarray(d.valueStart[i], d.valueStart[i] + len)));
    parsed++;
    total += len;
  }
  return { records, parsed, bytes: total };
}
