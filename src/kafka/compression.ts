/**
 * Decompression of a record batch's records section. Pure functions with no main-thread
 * assumptions, so a worker thread can call them.
 *
 * - gzip: node:zlib.
 * - zstd: Node 20's zlib has no zstd (added in 22.15/23.8), so fzstd (pure JS decoder).
 * - lz4: Kafka writes the LZ4 frame format (KafkaLZ4BlockOutputStream; since magic 1 with a
 *   correct header checksum, KIP-57); lz4js decodes frames in pure JS.
 * - snappy: the Java producer wraps raw snappy blocks in snappy-java's (xerial) stream
 *   framing; librdkafka does the same for compatibility. Each framed chunk is raw snappy,
 *   decoded with snappyjs (pure JS).
 */
import { gunzipSync } from 'node:zlib';
import { decompress as zstdDecompress } from 'fzstd';
import { decompress as lz4Decompress } from 'lz4js';
import { uncompress as snappyUncompress } from 'snappyjs';
import { KafkaWireError } from './errors.js';
import { CODEC_NAMES } from './record-batch.js';

// snappy-java's SnappyOutputStream header: 0x82 'SNAPPY' 0x00, then version and
// compatible-version int32s; chunks follow as int32 length + raw snappy.
const XERIAL_MAGIC = [0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00];
const XERIAL_HEADER = 16;

function isXerial(b: Uint8Array): boolean {
  if (b.length < XERIAL_HEADER) return false;
  for (let i = 0; i < XERIAL_MAGIC.length; i++) if (b[i] !== XERIAL_MAGIC[i]) return false;
  return true;
}

function snappy(b: Uint8Array): Uint8Array {
  if (!isXerial(b)) return snappyUncompress(b);
  const parts: Uint8Array[] = [];
  let total = 0;
  let pos = XERIAL_HEADER;
  while (pos + 4 <= b.length) {
    const n = ((b[pos] << 24) | (b[pos + 1] << 16) | (b[pos + 2] << 8) | b[pos + 3]) >>> 0;
    pos += 4;
    if (pos + n > b.length) throw new Error(`snappy chunk of ${n} bytes overruns the batch`);
    const part = snappyUncompress(b.subarray(pos, pos + n));
    parts.push(part);
    total += part.length;
    pos += n;
  }
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Codec ids (attributes & 7) this decoder reads. */
export const SUPPORTED_CODECS: readonly number[] = [0, 1, 2, 3, 4];

/**
 * The decompressed records section of a batch compressed with `codec` (1 gzip, 2 snappy,
 * 3 lz4, 4 zstd). An unknown codec id is an UNSUPPORTED_CODEC error naming it; corrupt
 * input is CORRUPT_MESSAGE with the codec's own error as cause.
 */
export function decompress(codec: number, data: Uint8Array): Uint8Array {
  const name = CODEC_NAMES[codec] ?? `codec id ${codec}`;
  if (codec < 1 || codec > 4) {
    throw new KafkaWireError('UNSUPPORTED_CODEC', `record batch compressed with ${name}, which this decoder does not support (gzip, snappy, lz4, zstd)`);
  }
  try {
    switch (codec) {
      case 1:
        return gunzipSync(data);
      case 2:
        return snappy(data);
      case 3:
        return lz4Decompress(data);
      default:
        return zstdDecompress(data);
    }
  } catch (e) {
    throw new KafkaWireError('CORRUPT_MESSAGE', `cannot decompress a ${name} record batch: ${(e as Error).message}`, { cause: e });
  }
}
