/**
 * The load generator's wire producer against the real broker, with faults injected by
 * stubbing one call on a real connection: a lost acknowledgement (the connection drops
 * after the broker wrote the batch), a retriable error on a first attempt while later
 * batches of the partition are in flight, a partition that never recovers, and a produce
 * right after topic creation. Each time the topic must end with exactly the records added,
 * in order, none twice (the high watermarks add up to the count, so nothing extra hides).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KAFKA_BROKER, kafka, uniqueName } from '../helpers.js';
import { KafkaOutput, type KafkaOutputOptions } from '../../loadgen/kafka-output.js';
import { KafkaWireError, type BrokerConnection } from '../../loadgen/kafka-wire.js';
import type { LoadEvent, Topics } from '../../loadgen/generate.js';
import { SmartGridError } from '../../src/common/errors.js';


function topicsFor(prefix: string): Topics {
  return { sensor: uniqueName(`${prefix}_s`), meter: uniqueName(`${prefix}_m`), weather: uniqueName(`${prefix}_w`) };
}

/** Opens an output on fresh topics (it creates them) and deletes them after the test. */
async function open(
  t: { after: (fn: () => Promise<void>) => void },
  prefix: string,
  extra: Partial<KafkaOutputOptions> = {},
  partitions = 2,
): Promise<{ out: KafkaOutput; topics: Topics; partitions: number }> {
  const topics = topicsFor(prefix);
  t.after(async () => {
    const admin = kafka('kafka-output-test').admin();
    await admin.connect();
    await admin.deleteTopics({ topics: Object.values(topics) }).catch(() => {});
    await admin.disconnect();
  });
  // 1 KiB batches: about ten records each, so every partition has several batches in flight.
  const out = await KafkaOutput.open({
    brokers: [KAFKA_BROKER],
    topics,
    partitions: { sensor: partitions, meter: 1, weather: 1 },
    batchBytes: 1024,
    ...extra,
  });
  t.after(() => out.close());
  return { out, topics, partitions };
}

const valueOf = (i: number): string => `{"record":${i},"pad":"${'x'.repeat(80)}"}`;

/** Adds n sensor records, round-robin over the partitions, honouring back-pressure, then flushes. */
async function produce({ out, topics, partitions }: { out: KafkaOutput; topics: Topics; partitions: number }, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const ev = { index: i, source: 'sensor', topic: topics.sensor, partition: i % partitions, key: `k${i}`, value: valueOf(i), kind: 'normal' } as unknown as LoadEvent;
    if (!out.add(ev)) await out.ready();
  }
  await out.flush();
}

/** Asserts the sensor topic holds exactly records 0..n-1, each once, in order per partition. */
async function assertExactly({ topics, partitions }: { topics: Topics; partitions: number }, n: number): Promise<void> {
  const topic = topics.sensor;
  const admin = kafka('kafka-output-test').admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const total = offsets.reduce((s, o) => s + Number(o.high), 0);
  assert.equal(total, n, `the topic holds ${total} records, ${n} were added`);
  const consumer = kafka('kafka-output-test').consumer({ groupId: uniqueName('g') });
  const got = new Map<number, string[]>();
  let count = 0;
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`read ${count} of ${n}`)), 30_000);
      consumer
        .run({
          eachBatch: async ({ batch }) => {
            const l = got.get(batch.partition) ?? got.set(batch.partition, []).get(batch.partition)!;
            for (const m of batch.messages) l.push(m.value!.toString());
            count += batch.messages.length;
            if (count >= n) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  for (let p = 0; p < partitions; p++) {
    const want = Array.from({ length: n }, (_, i) => i)
      .filter((i) => i % partitions === p)
      .map(valueOf);
    assert.deepEqual(got.get(p), want, `partition ${p}: every record once, in order`);
  }
}

const N = 3000;

test('a produce right after topic creation succeeds, every record once (three fresh topic sets)', async (t) => {
  for (let i = 0; i < 3; i++) {
    const o = await open(t, 'kout_new');
    await produce(o, 500);
    await assertExactly(o, 500);
  }
});

/** Drops the connection once, right after the broker answered the `at`-th produce request. */
function loseOneAcknowledgement(out: KafkaOutput, at: number): { injected: number } {
  const conn = out.connections[0];
  const original = conn.produce.bind(conn);
  const state = { injected: 0 };
  let calls = 0;
  conn.produce = async (...args: Parameters<BrokerConnection['produce']>) => {
    const res = await original(...args);
    if (++calls === at) {
      // The broker has written this batch and answered; the answer is "lost" with the connection.
      state.injected++;
      conn.destroy();
      throw new KafkaWireError('connection closed (injected after the broker answered)');
    }
    return res;
  };
  return state;
}

test('regression: a lost acknowledgement (connection dropped after the broker wrote the batch) is resent and written once', async (t) => {
  const o = await open(t, 'kout_drop');
  const fault = loseOneAcknowledgement(o.out, 20);
  await produce(o, N);
  assert.equal(fault.injected, 1);
  assert.ok(o.out.stats.retries >= 1, `retries: ${o.out.stats.retries}`);
  assert.equal(o.out.stats.messages, N);
  await assertExactly(o, N);
});

test('a lost acknowledgement with many requests in flight for one partition: at most five go at once, so the broker still recognises the resent batch', async (t) => {
  const o = await open(t, 'kout_drop1', { maxInFlight: 30 }, 1);
  const fault = loseOneAcknowledgement(o.out, 20);
  await produce(o, N);
  assert.equal(fault.injected, 1);
  await assertExactly(o, N);
});

test('a retriable error on a first attempt (NOT_LEADER_OR_FOLLOWER) is retried with fresh metadata; later batches refused out of order go again behind it', async (t) => {
  const o = await open(t, 'kout_notleader');
  const conn = o.out.connections[0];
  const original = conn.produce.bind(conn);
  let calls = 0;
  conn.produce = (...args: Parameters<BrokerConnection['produce']>) => {
    // Never sent: the partition's next batches reach the broker with a gap in the sequence.
    if (++calls === 20) return Promise.reject(new KafkaWireError(`produce to ${args[0][0].topic}[${args[0][0].partition}] failed with Kafka error code 6`, 6));
    return original(...args);
  };
  await produce(o, N);
  assert.ok(o.out.stats.retries >= 1);
  await assertExactly(o, N);
});

test('a partition that never recovers fails the output within its delivery timeout, naming the error', async (t) => {
  const o = await open(t, 'kout_dead', { deliveryTimeoutMs: 1500 });
  const conn = o.out.connections[0];
  conn.produce = (...args: Parameters<BrokerConnection['produce']>) =>
    Promise.reject(new KafkaWireError(`produce to ${args[0][0].topic}[${args[0][0].partition}] failed with Kafka error code 7`, 7));
  const t0 = Date.now();
  await assert.rejects(produce(o, 50), (e: unknown) => {
    assert.ok(e instanceof SmartGridError && e.code === 'KAFKA_ERROR');
    assert.match(String((e.cause as Error).message), /no acknowledgement within 1500 ms/);
    assert.match(String(((e.cause as Error).cause as Error).message), /code 7/);
    return true;
  });
  assert.ok(Date.now() - t0 < 10_000, `gave up after ${Date.now() - t0} ms`);
  assert.ok(o.out.stats.retries >= 2, `retried ${o.out.stats.retries} times before giving up`);
});
