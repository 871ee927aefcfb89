/**
 * The wire client against the real broker: metadata and ListOffsets, everything kafkajs
 * wrote read back exactly, OFFSET_OUT_OF_RANGE surfaced with the log bounds, offsets
 * committed as a non-member (and seen by kafkajs' admin, as lag tools would), partial
 * last batches, and a dropped connection.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KafkaWireClient, KafkaWireError, OffsetOutOfRangeError, scanBatches } from '../../src/kafka/index.js';
import { KAFKA_BROKER, createTopics, kafka, uniqueName } from '../helpers.js';
import { readAll } from './reader.js';
import { javaProducer } from './java.js';

function client(): KafkaWireClient {
  return new KafkaWireClient({ brokers: [KAFKA_BROKER], retryBackoffMs: 50, retryTimeoutMs: 20_000 });
}

test('metadata and ListOffsets: partition counts, earliest/latest, by timestamp, unknown topics', async (t) => {
  const topic = uniqueName('wire_md');
  const { cleanup } = await createTopics([topic], 3);
  const c = client();
  t.after(async () => {
    await c.close();
    await cleanup();
  });
  const p = kafka('wire-md').producer();
  await p.connect();
  const t0 = Date.now();
  await p.send({ topic, messages: Array.from({ length: 30 }, (_, i) => ({ partition: i % 3, value: `v${i}`, timestamp: String(t0 + i) })) });
  await p.disconnect();
  await c.connect();
  assert.equal(await c.partitionCount(topic), 3);
  assert.equal(await c.partitionCount(uniqueName('wire_absent')), 0);
  const tps = [0, 1, 2].map((partition) => ({ topic, partition }));
  assert.deepEqual((await c.listOffsets(tps, 'earliest')).map((x) => x.offset), [0n, 0n, 0n]);
  assert.deepEqual((await c.listOffsets(tps, 'latest')).map((x) => x.offset), [10n, 10n, 10n]);
  // record i is at partition i % 3, offset floor(i / 3), timestamp t0 + i
  const [at] = await c.listOffsets([{ topic, partition: 1 }], t0 + 13);
  assert.equal(at.offset, 4n); // partition 1 holds i = 1, 4, 7, 10, 13 …: i = 13 at offset 4
  const [none] = await c.listOffsets([{ topic, partition: 1 }], t0 + 1e7);
  assert.equal(none.offset, -1n);
});

test('everything kafkajs wrote reads back with the same offsets, keys and values', async (t) => {
  const topic = uniqueName('wire_kjs');
  const { cleanup } = await createTopics([topic], 3);
  const c = client();
  t.after(async () => {
    await c.close();
    await cleanup();
  });
  const expected = new Map<number, { key: string | null; value: string | null }[]>([[0, []], [1, []], [2, []]]);
  const p = kafka('wire-kjs').producer();
  await p.connect();
  let n = 0;
  for (let send = 0; send < 20; send++) {
    const messages = Array.from({ length: 500 }, () => {
      const i = n++;
      const partition = (i * 7) % 3;
      const key = i % 13 === 0 ? null : `sensor-${i % 97}`;
      const value = i % 17 === 0 ? null : JSON.stringify({ i, v: Math.sin(i), s: 'ü€'.repeat(i % 4) });
      expected.get(partition)!.push({ key, value });
      return { partition, key, value, headers: i % 3 === 0 ? { trace: `t${i}` } : undefined };
    });
    await p.send({ topic, messages });
  }
  await p.disconnect();
  await c.connect();
  const until = new Map([0, 1, 2].map((q) => [q, BigInt(expected.get(q)!.length)]));
  const r = await readAll(c, topic, [0, 1, 2], until);
  assert.equal(r.records.length, n);
  for (const q of [0, 1, 2]) {
    const got = r.records.filter((x) => x.partition === q);
    assert.deepEqual(
      got.map((x) => ({ key: x.key, value: x.value })),
      expected.get(q),
    );
    assert.deepEqual(
      got.map((x) => x.offset),
      got.map((_, i) => i),
    );
  }
});

test('OFFSET_OUT_OF_RANGE is surfaced with the log bounds and pauses the partition until seek', async (t) => {
  const topic = uniqueName('wire_oor');
  const { cleanup } = await createTopics([topic], 1);
  const c = client();
  t.after(async () => {
    await c.close();
    await cleanup();
  });
  const p = kafka('wire-oor').producer();
  await p.connect();
  await p.send({ topic, messages: Array.from({ length: 200 }, (_, i) => ({ value: `v${i}` })) });
  await p.disconnect();
  // kafkajs' DeleteRecords fails against Kafka 4 (v0, removed by KIP-896): the Java admin does it.
  await javaProducer(topic, 'delete-records', '120');
  await c.connect();
  const f = c.createFetcher({ maxWaitMs: 50 });
  for (const [offset, what] of [[5n, 'below the log start'], [500n, 'past the end']] as const) {
    f.assign([{ topic, partition: 0, offset }]);
    const [res] = await f.fetch();
    assert.ok(res.error instanceof OffsetOutOfRangeError, what);
    assert.equal(res.error.code, 'OFFSET_OUT_OF_RANGE');
    assert.equal(res.error.offset, offset);
    assert.equal(res.error.logStartOffset, 120n);
    assert.equal(res.error.logEndOffset, 200n);
    assert.equal(res.records.length, 0);
    assert.deepEqual(await f.fetch(), [], 'paused: nothing fetched until seek');
    f.seek(topic, 0, res.error.logStartOffset);
    const [ok] = await f.fetch();
    assert.equal(ok.error, undefined);
    assert.equal(ok.fetchOffset, 120n);
    assert.equal(ok.nextOffset, 200n);
  }
});

test('offsets committed as a non-member are visible to the group tools; a group with a live member refuses them', async (t) => {
  const topic = uniqueName('wire_commit');
  const group = uniqueName('wire_g');
  const busyGroup = uniqueName('wire_busy');
  const { admin, cleanup } = await createTopics([topic], 2);
  const c = client();
  const consumer = kafka('wire-member').consumer({ groupId: busyGroup, sessionTimeout: 10_000 });
  t.after(async () => {
    await consumer.disconnect().catch(() => {});
    await c.close();
    await cleanup();
  });
  await c.connect();
  const tps = [0, 1].map((partition) => ({ topic, partition }));
  assert.deepEqual((await c.fetchCommittedOffsets(group, tps)).map((x) => x.offset), [-1n, -1n]);
  await c.commitOffsets(group, [{ topic, partition: 0, offset: 17n }, { topic, partition: 1, offset: 4n, metadata: 'snapshot-3' }]);
  const back = await c.fetchCommittedOffsets(group, tps);
  assert.deepEqual(back.map((x) => x.offset), [17n, 4n]);
  assert.equal(back[1].metadata, 'snapshot-3');
  const seen = await admin.fetchOffsets({ groupId: group, topics: [topic] });
  assert.deepEqual(seen[0].partitions.map((x) => [x.partition, x.offset]).sort(), [[0, '17'], [1, '4']]);

  // A group with an active member: the coordinator rejects a commit from outside it.
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
  await consumer.connect();
  await consumer.subscribe({ topic });
  await consumer.run({ eachMessage: async () => {} });
  await joined;
  await assert.rejects(
    c.commitOffsets(busyGroup, [{ topic, partition: 0, offset: 1n }]),
    (e: unknown) => e instanceof KafkaWireError && e.code === 'KAFKA_ERROR' && e.kafkaCode !== undefined && /active members/.test(e.message),
  );
});

test('a response cut inside a batch: the partial batch is dropped and read again next round', async (t) => {
  const topic = uniqueName('wire_partial');
  const { cleanup } = await createTopics([topic], 1);
  const c = client();
  t.after(async () => {
    await c.close();
    await cleanup();
  });
  const p = kafka('wire-partial').producer();
  await p.connect();
  for (let s = 0; s < 10; s++) await p.send({ topic, messages: Array.from({ length: 40 }, (_, i) => ({ value: `${s}:${i}:${'p'.repeat(1000)}` })) });
  await p.disconnect();
  await c.connect();
  // What the broker itself sends for 70 000 bytes: more than one ~41 kB batch, less than two.
  const { leaderId } = await c.leaderFor(topic, 0);
  const raw = await c.fetchFrom(leaderId, [{ topic, partition: 0, offset: 0n, leaderEpoch: -1, maxBytes: 70_000 }], { maxWaitMs: 0, minBytes: 1, maxBytes: 70_000, readCommitted: false });
  const records = raw.partitions[0].records;
  const scan = scanBatches(records);
  assert.equal(scan.batches, 1);
  assert.ok(records.length > scan.bytes, `the broker sent a partial batch (${records.length} bytes, ${scan.bytes} complete)`);

  const r = await readAll(c, topic, [0], new Map([[0, 400n]]), { partitionMaxBytes: 70_000 });
  assert.equal(r.records.length, 400);
  assert.deepEqual(r.records.map((x) => x.offset), Array.from({ length: 400 }, (_, i) => i));
  assert.ok(r.raw.length >= 5, 'read in several rounds');
});

test('a dropped connection is reopened and fetching goes on where it was', async (t) => {
  const topic = uniqueName('wire_drop');
  const { cleanup } = await createTopics([topic], 1);
  const c = client();
  t.after(async () => {
    await c.close();
    await cleanup();
  });
  const p = kafka('wire-drop').producer();
  await p.connect();
  await p.send({ topic, messages: Array.from({ length: 100 }, (_, i) => ({ value: `a${i}` })) });
  await c.connect();
  const f = c.createFetcher({ maxWaitMs: 2000, partitionMaxBytes: 1 << 20 });
  f.assign([{ topic, partition: 0, offset: 0n }]);
  const [first] = await f.fetch();
  assert.equal(first.nextOffset, 100n);
  // Fault injection on the real connection: destroy its socket (as a broker restart or
  // a network fault would) while a fetch waits.
  const pending = f.fetch();
  await new Promise((r) => setTimeout(r, 200));
  const conns = (c as unknown as { connections: Map<string, Promise<{ socket: { destroy: () => void } }>> }).connections;
  for (const conn of conns.values()) (await conn).socket.destroy();
  const during = await pending;
  assert.deepEqual(during, [], 'the round that lost its connection returns nothing');
  await p.send({ topic, messages: Array.from({ length: 50 }, (_, i) => ({ value: `b${i}` })) });
  await p.disconnect();
  let got: number | undefined;
  for (let i = 0; i < 20 && got === undefined; i++) {
    const res = await f.fetch();
    if (res.length > 0 && res[0].records.length > 0) {
      assert.equal(res[0].fetchOffset, 100n);
      got = Number(res[0].nextOffset);
    }
  }
  assert.equal(got, 150);
});

test('batches larger than the partition fetch size: every partition gets one in every round (KIP-74 would serve only the first)', async (t) => {
  const topic = uniqueName('wire_big');
  const { cleanup } = await createTopics([topic], 3);
  const c = client();
  t.after(async () => {
    await c.close();
    await cleanup();
  });
  // kafkajs sends one batch per partition per send: 3 sends of 40 records of ~500 bytes
  // make batches of ~20 KB, larger than the 16 KB fetch size below.
  const p = kafka('wire-big').producer();
  await p.connect();
  for (let send = 0; send < 3; send++) {
    await p.send({ topic, messages: Array.from({ length: 120 }, (_, i) => ({ partition: i % 3, value: 'x'.repeat(500) })) });
  }
  await p.disconnect();
  await c.connect();
  const f = c.createFetcher({ maxWaitMs: 50, partitionMaxBytes: 16384 });
  f.assign([0, 1, 2].map((partition) => ({ topic, partition, offset: 0n })));
  const got = new Map<number, number>([[0, 0], [1, 0], [2, 0]]);
  const rounds: number[][] = [];
  for (let round = 0; round < 8 && [...got.values()].some((n) => n < 120); round++) {
    const served: number[] = [];
    for (const r of await f.fetch()) {
      if (r.records.length === 0) continue;
      served.push(r.partition);
      got.set(r.partition, Number(r.nextOffset));
    }
    rounds.push(served);
  }
  assert.deepEqual([...got.values()], [120, 120, 120], `rounds: ${JSON.stringify(rounds)}`);
  // Round 1 serves only the first partition (the others' batches do not fit); from then
  // on their fetch size has grown and every round serves all of them.
  assert.ok(rounds.length <= 5, `took ${rounds.length} rounds: ${JSON.stringify(rounds)}`);
});
