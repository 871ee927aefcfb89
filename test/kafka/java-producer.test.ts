/**
 * Record batches written by a real Kafka Java producer (kafka-clients 4.1.1, the broker's
 * own jars): each compression codec, and transactions with an aborted one, read back
 * through the wire Fetcher and the worker-side decoder.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KafkaWireClient, decodeRecordBatches, KafkaWireError } from '../../src/kafka/index.js';
import { KAFKA_BROKER, createTopics, uniqueName } from '../helpers.js';
import { javaProducer } from './java.js';
import { readAll } from './reader.js';
import { BATCH } from '../../src/kafka/record-batch.js';

const COUNT = 3000;

for (const codec of ['gzip', 'snappy', 'lz4', 'zstd'] as const) {
  test(`a ${codec} topic written by the Java producer reads back record for record`, async (t) => {
    const topic = uniqueName(`wire_${codec}`);
    const { cleanup } = await createTopics([topic], 1);
    const client = new KafkaWireClient({ brokers: [KAFKA_BROKER] });
    t.after(async () => {
      await client.close();
      await cleanup();
    });
    await javaProducer(topic, 'compressed', codec, String(COUNT));
    await client.connect();
    const [end] = await client.listOffsets([{ topic, partition: 0 }], 'latest');
    assert.equal(end.offset, BigInt(COUNT));
    const r = await readAll(client, topic, [0], new Map([[0, end.offset]]));
    // The batches really are compressed with this codec (attributes bits 0-2).
    const codecId = { gzip: 1, snappy: 2, lz4: 3, zstd: 4 }[codec];
    assert.ok(r.raw.length > 0);
    for (const raw of r.raw) assert.equal(raw.readInt16BE(BATCH.ATTRIBUTES) & 7, codecId);
    assert.equal(r.records.length, COUNT);
    r.records.forEach((rec, i) => {
      assert.equal(rec.offset, i);
      assert.equal(rec.key, i % 7 === 3 ? null : `k${i}`);
      assert.equal(rec.value, `{"i":${i},"s":"${codec}","pad":"${'x'.repeat(i % 50)}"}`);
    });

    if (codec === 'gzip') {
      // Captured broker bytes with one bit flipped inside the compressed records: the CRC catches it.
      const bad = Buffer.from(r.raw[0]);
      bad[BATCH.HEADER + 10] ^= 0x01;
      assert.throws(() => decodeRecordBatches(bad), (e: unknown) => e instanceof KafkaWireError && e.code === 'CRC_MISMATCH');
      // The same bytes unflipped decode (the flip, not the capture, is what fails).
      assert.equal(decodeRecordBatches(r.raw[0]).buffers.length > 1, true);
    }
  });
}

test('transactions: read_committed drops the aborted transaction, read_uncommitted keeps it; markers are never records', async (t) => {
  const topic = uniqueName('wire_txn');
  const { cleanup } = await createTopics([topic], 1);
  const client = new KafkaWireClient({ brokers: [KAFKA_BROKER] });
  t.after(async () => {
    await client.close();
    await cleanup();
  });
  await javaProducer(topic, 'transactions');
  await client.connect();
  const [end] = await client.listOffsets([{ topic, partition: 0 }], 'latest');
  const [stable] = await client.listOffsets([{ topic, partition: 0 }], 'latest', { readCommitted: true });
  // 30 data records and 4 markers (commit, abort, commit by A; commit by B), all decided.
  assert.equal(end.offset, 34n);
  assert.equal(stable.offset, 34n);

  const committed = await readAll(client, topic, [0], new Map([[0, end.offset]]), { readCommitted: true });
  const values = committed.records.map((r) => r.value);
  const cs = Array.from({ length: 20 }, (_, i) => `c${i}`);
  const bs = Array.from({ length: 5 }, (_, i) => `b${i}`);
  assert.deepEqual(values, [...cs.slice(0, 10), ...bs, ...cs.slice(10)]);
  assert.equal(committed.abortedRecords, 5);
  assert.equal(committed.controlRecords, 4);
  // Offsets are the log's own, gaps where markers and aborted records sit.
  assert.deepEqual(
    committed.records.slice(0, 11).map((r) => r.offset),
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12],
  );

  const all = await readAll(client, topic, [0], new Map([[0, end.offset]]), { readCommitted: false });
  const uv = all.records.map((r) => r.value);
  assert.equal(all.records.length, 30);
  assert.equal(all.abortedRecords, 0);
  assert.equal(all.controlRecords, 4);
  assert.deepEqual(uv.slice(0, 10), cs.slice(0, 10));
  assert.deepEqual(uv.slice(10, 20), ['a0', 'b0', 'a1', 'b1', 'a2', 'b2', 'a3', 'b3', 'a4', 'b4']);
  assert.deepEqual(uv.slice(20), cs.slice(10));
});
