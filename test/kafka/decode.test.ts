/**
 * The worker-side decoder on bytes built here (no broker): round trip, partial trailing
 * batches, fetch offsets inside a batch, CRC corruption, codecs and magics it must refuse.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RecordBatchBuilder, BATCH, crc32c, decodeRecordBatches, scanBatches, KafkaWireError } from '../../src/kafka/index.js';

/** Batches with base offsets as the broker would assign them. */
function batches(sizes: number[], first = 0): { bytes: Buffer; values: string[] } {
  const parts: Buffer[] = [];
  const values: string[] = [];
  let offset = first;
  const b = new RecordBatchBuilder(1024);
  for (const n of sizes) {
    for (let i = 0; i < n; i++) {
      const v = `{"o":${offset + i},"é":"${'z'.repeat((offset + i) % 300)}"}`;
      b.add(i % 4 === 1 ? null : `key-${offset + i}`, (offset + i) % 11 === 5 ? null : v);
      values.push(v);
    }
    const batch = b.seal(1_700_000_000_000);
    batch.writeBigInt64BE(BigInt(offset), BATCH.BASE_OFFSET); // not covered by the CRC
    parts.push(batch);
    offset += n;
  }
  return { bytes: Buffer.concat(parts), values };
}

function text(d: ReturnType<typeof decodeRecordBatches>, i: number, which: 'key' | 'value'): string | null {
  const start = which === 'key' ? d.keyStart[i] : d.valueStart[i];
  const len = which === 'key' ? d.keyLength[i] : d.valueLength[i];
  return len < 0 ? null : Buffer.from(d.buffers[d.buffer[i]].subarray(start, start + len)).toString('utf8');
}

function resealed(bytes: Buffer, at: number, mutate: (b: Buffer) => void): Buffer {
  const out = Buffer.from(bytes);
  mutate(out.subarray(at));
  const end = at + BATCH.LOG_OVERHEAD + out.readInt32BE(at + BATCH.LENGTH);
  out.writeUInt32BE(crc32c(out, at + BATCH.ATTRIBUTES, end), at + BATCH.CRC);
  return out;
}

test('records decode to packed offsets, keys and values, nulls included', () => {
  const { bytes } = batches([3, 200, 1], 1000);
  const d = decodeRecordBatches(bytes);
  assert.equal(d.count, 204);
  assert.equal(d.batches, 3);
  assert.equal(d.lastOffset, 1203);
  assert.equal(d.bytesUsed, bytes.length);
  for (let i = 0; i < d.count; i++) {
    const o = 1000 + i;
    assert.equal(d.offsets[i], o);
    assert.equal(d.timestamps[i], 1_700_000_000_000);
    assert.equal(text(d, i, 'value'), o % 11 === 5 ? null : `{"o":${o},"é":"${'z'.repeat(o % 300)}"}`);
  }
  // keys: record index within its batch decides null
  assert.equal(text(d, 0, 'key'), 'key-1000');
  assert.equal(text(d, 1, 'key'), null);
  assert.equal(text(d, 203, 'key'), 'key-1203');
});

test('a trailing partial batch (cut at max_bytes) is ignored, at every cut point', () => {
  const { bytes } = batches([5, 7], 0);
  const firstEnd = BATCH.LOG_OVERHEAD + bytes.readInt32BE(BATCH.LENGTH);
  for (let cut = 0; cut < bytes.length; cut++) {
    const d = decodeRecordBatches(bytes.subarray(0, cut));
    const complete = cut >= firstEnd;
    assert.equal(d.count, complete ? 5 : 0, `cut at ${cut}`);
    assert.equal(d.lastOffset, complete ? 4 : -1);
    assert.equal(d.bytesUsed, complete ? firstEnd : 0);
    assert.deepEqual(scanBatches(bytes.subarray(0, cut)).bytes, d.bytesUsed);
  }
  assert.equal(decodeRecordBatches(bytes).count, 12);
});

test('records below the fetch offset are dropped (the broker returns whole batches)', () => {
  const { bytes } = batches([10, 10], 50);
  const d = decodeRecordBatches(bytes, { fetchOffset: 57 });
  assert.equal(d.count, 13);
  assert.equal(d.offsets[0], 57);
  assert.equal(d.lastOffset, 69);
});

test('a flipped bit anywhere after the CRC field is a CRC_MISMATCH; verifyCrc: false skips the check', () => {
  const { bytes } = batches([4, 4]);
  const second = BATCH.LOG_OVERHEAD + bytes.readInt32BE(BATCH.LENGTH);
  for (const at of [BATCH.ATTRIBUTES + 1, BATCH.RECORD_COUNT + 3, BATCH.HEADER + 2, second + BATCH.HEADER + 20, bytes.length - 1]) {
    const bad = Buffer.from(bytes);
    bad[at] ^= 0x10;
    assert.throws(
      () => decodeRecordBatches(bad),
      (e: unknown) => e instanceof KafkaWireError && e.code === 'CRC_MISMATCH' && /record batch at offset \d+/.test(e.message),
      `flip at ${at}`,
    );
  }
  const bad = Buffer.from(bytes);
  bad[bytes.length - 2] ^= 0x01; // inside the last record's value
  assert.equal(decodeRecordBatches(bad, { verifyCrc: false }).count, 8);
});

test('a codec id the decoder does not know is an UNSUPPORTED_CODEC error naming it, never a skip', () => {
  const { bytes } = batches([3]);
  for (const codec of [5, 6, 7]) {
    const bad = resealed(bytes, 0, (b) => b.writeInt16BE((b.readInt16BE(BATCH.ATTRIBUTES) & ~7) | codec, BATCH.ATTRIBUTES));
    assert.throws(
      () => decodeRecordBatches(bad),
      (e: unknown) => e instanceof KafkaWireError && e.code === 'UNSUPPORTED_CODEC' && e.message.includes(`codec id ${codec}`),
    );
  }
  // gzip announced but the bytes are not gzip: CORRUPT_MESSAGE with zlib's error as cause
  const notGzip = resealed(bytes, 0, (b) => b.writeInt16BE(1, BATCH.ATTRIBUTES));
  assert.throws(
    () => decodeRecordBatches(notGzip),
    (e: unknown) => e instanceof KafkaWireError && e.code === 'CORRUPT_MESSAGE' && e.message.includes('gzip') && e.cause instanceof Error,
  );
});

test('magic 0/1 message sets are refused by name', () => {
  const { bytes } = batches([2]);
  const old = Buffer.from(bytes);
  old[BATCH.MAGIC] = 1;
  assert.throws(() => decodeRecordBatches(old), (e: unknown) => e instanceof KafkaWireError && e.code === 'UNSUPPORTED_MAGIC');
});

test('read_committed with hand-built markers: aborted producer dropped until its ABORT marker', () => {
  // producer 7 writes offsets 0-1 (aborted), marker at 2; then 3-4 from producer 7 again (committed), marker at 5.
  const data = (base: number, n: number): Buffer => {
    const b = new RecordBatchBuilder(256);
    for (let i = 0; i < n; i++) b.add(null, `p7-${base + i}`);
    return b.seal(0);
  };
  const marker = (type: 0 | 1): Buffer => {
    const b = new RecordBatchBuilder(256);
    const key = Buffer.alloc(4);
    key.writeInt16BE(0, 0);
    key.writeInt16BE(type, 2);
    b.add(key.toString('latin1'), Buffer.from([0, 0, 0, 0, 0, 0]));
    return b.seal(0);
  };
  const txn = (buf: Buffer, base: number, control: boolean): Buffer =>
    resealed(buf, 0, (x) => {
      x.writeBigInt64BE(BigInt(base), BATCH.BASE_OFFSET);
      x.writeBigInt64BE(7n, BATCH.PRODUCER_ID);
      x.writeInt16BE(0x10 | (control ? 0x20 : 0), BATCH.ATTRIBUTES);
    });
  const bytes = Buffer.concat([txn(data(0, 2), 0, false), txn(marker(0), 2, true), txn(data(3, 2), 3, false), txn(marker(1), 5, true)]);
  const aborted = [{ producerId: 7n, firstOffset: 0n }];
  const rc = decodeRecordBatches(bytes, { readCommitted: true, abortedTransactions: aborted });
  assert.deepEqual([...rc.offsets.subarray(0, rc.count)], [3, 4]);
  assert.equal(rc.abortedRecords, 2);
  assert.equal(rc.controlRecords, 2);
  assert.equal(rc.lastOffset, 5);
  const ru = decodeRecordBatches(bytes, { readCommitted: false, abortedTransactions: aborted });
  assert.deepEqual([...ru.offsets.subarray(0, ru.count)], [0, 1, 3, 4]);
});
