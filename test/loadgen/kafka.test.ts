/**
 * The load generator against the real broker: the same seed twice gives the same bytes in
 * every partition (and in the NDJSON file), and what a consumer reads back, judged and
 * aggregated independently, matches the generator's expected output.
 */
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Consumer } from 'kafkajs';
import { KAFKA_BROKER, kafka, uniqueName } from '../helpers.js';
import { runLoad } from '../../loadgen/run.js';
import type { GenerateInput } from '../../loadgen/generate.js';
import { mean, replay, stddev, type RawMessage } from './reference.js';

const EVENTS = 30_000;
const GEN: GenerateInput = {
  seed: 7,
  events: EVENTS,
  sensors: 20,
  meters: 40,
  customers: 8,
  weatherLocations: 3,
  spanMs: 12 * 3_600_000,
  partitions: 3,
  outOfOrderShare: 0.05,
  lateShare: 0.02,
  badShare: 0.04,
  timestampStyle: 'mixed',
};

async function consumeAll(topics: string[], count: number, consumers: Consumer[]): Promise<Map<string, RawMessage[]>> {
  const c = kafka('loadgen-test').consumer({ groupId: uniqueName('g'), maxBytesPerPartition: 4 << 20 });
  consumers.push(c);
  await c.connect();
  await c.subscribe({ topics, fromBeginning: true });
  const out = new Map<string, RawMessage[]>();
  let n = 0;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${n} of ${count} messages read back`)), 60_000);
    c.run({
      eachBatch: async ({ batch }) => {
        const k = `${batch.topic}:${batch.partition}`;
        let l = out.get(k);
        if (l === undefined) out.set(k, (l = []));
        for (const m of batch.messages) {
          l.push({ topic: batch.topic, partition: batch.partition, key: m.key!.toString(), value: m.value! });
          n++;
        }
        if (n >= count) {
          clearTimeout(timer);
          resolve();
        }
      },
    }).catch(reject);
  });
  await c.disconnect();
  return out;
}

test('the load generator produces reproducible bytes that read back as the expected aggregates', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'loadgen-'));
  const topicSets = [0, 1].map(() => ({ sensor: uniqueName('lg_sensor'), meter: uniqueName('lg_meter'), weather: uniqueName('lg_weather') }));
  const consumers: Consumer[] = [];
  t.after(async () => {
    for (const c of consumers) await c.disconnect().catch(() => {});
    const admin = kafka('loadgen-test-admin').admin();
    await admin.connect();
    await admin.deleteTopics({ topics: topicSets.flatMap((s) => [s.sensor, s.meter, s.weather]) }).catch(() => {});
    await admin.disconnect();
    await rm(dir, { recursive: true, force: true });
  });

  const runs = [];
  for (const [i, topics] of topicSets.entries()) {
    runs.push(
      await runLoad({
        generate: { ...GEN, topics },
        kafka: { brokers: [KAFKA_BROKER], batchBytes: 64 * 1024 },
        file: path.join(dir, `events-${i}.ndjson`),
        expected: true,
      }),
    );
  }
  for (const r of runs) {
    assert.equal(r.events, EVENTS);
    assert.equal(r.kafka!.messages, EVENTS);
    assert.equal(r.generated.byKind.late, 600);
    assert.equal(r.generated.byKind.bad, 1200);
    assert.equal(r.generated.byKind.out_of_order, 1500);
  }
  // Same file bytes; topic names differ, so compare with the names swapped back.
  const [f0, f1] = await Promise.all([0, 1].map((i) => readFile(path.join(dir, `events-${i}.ndjson`), 'utf8')));
  let f1named = f1;
  for (const s of ['sensor', 'meter', 'weather'] as const) f1named = f1named.split(topicSets[1][s]).join(topicSets[0][s]);
  assert.equal(f1named, f0);
  const { deadLetters: d1, ...rest1 } = runs[1].expected!;
  const { deadLetters: d0, ...rest0 } = runs[0].expected!;
  assert.deepEqual(rest1, rest0);
  assert.deepEqual(d1.byReason, d0.byReason);

  // Same bytes in every partition.
  const read = await Promise.all(topicSets.map((s) => consumeAll([s.sensor, s.meter, s.weather], EVENTS, consumers)));
  for (const s of ['sensor', 'meter', 'weather'] as const) {
    for (let p = 0; p < 3; p++) {
      const a = read[0].get(`${topicSets[0][s]}:${p}`) ?? [];
      const b = read[1].get(`${topicSets[1][s]}:${p}`) ?? [];
      assert.equal(a.length, b.length, `${s}[${p}] lengths`);
      for (let i = 0; i < a.length; i++) {
        assert.equal(a[i].key, b[i].key);
        assert.ok(a[i].value.equals(b[i].value), `${s}[${p}] offset ${i}`);
      }
    }
  }
  // The file holds the same records, in the same order per partition.
  const fromFile = new Map<string, RawMessage[]>();
  for (const line of f0.trimEnd().split('\n')) {
    const o = JSON.parse(line) as { topic: string; partition: number; key: string; value?: string; value_base64?: string };
    const value = o.value !== undefined ? Buffer.from(o.value, 'utf8') : Buffer.from(o.value_base64!, 'base64');
    const k = `${o.topic}:${o.partition}`;
    (fromFile.get(k) ?? fromFile.set(k, []).get(k)!).push({ topic: o.topic, partition: o.partition, key: o.key, value });
  }
  for (const [k, l] of fromFile) {
    const got = read[0].get(k)!;
    assert.equal(got.length, l.length, k);
    l.forEach((m, i) => assert.ok(m.value.equals(got[i].value) && m.key === got[i].key, `${k} #${i}`));
  }

  // Judged and aggregated independently from the bytes read back.
  const ex = runs[0].expected!;
  const o = runs[0].options;
  const r = replay(o.topics, read[0], { latenessMs: o.latenessMs, windows: o.windows, fetch: 100 });
  for (const reason of ['invalid_json', 'invalid_record', 'out_of_range', 'late'] as const) {
    assert.equal(r.dead[reason] ?? 0, ex.deadLetters.byReason[reason], reason);
  }
  assert.equal(ex.deadLetters.byReason.late, 600);
  assert.equal(ex.deadLetters.total - ex.deadLetters.byReason.late, 1200);
  assert.equal(r.sensor.size, ex.sensor.length);
  for (const row of ex.sensor) {
    const xs = r.sensor.get(`${Date.parse(row.window_start)}|${row.sensor_type}|${row.sensor_id}`)!;
    assert.equal(xs.length, row.count);
    assert.ok(Math.abs(Number(row.avg_value) - mean(xs)) <= 0.00005 + 1e-9);
    if (xs.length > 1) assert.ok(Math.abs(Number(row.stddev_value) - stddev(xs)) <= 0.00005 + 1e-9);
  }
  assert.equal(r.consumption.size, ex.consumption.length);
  for (const row of ex.consumption) {
    const xs = r.consumption.get(`${Date.parse(row.window_start)}|${row.customer_id}`)!;
    assert.equal(xs.length, row.reading_count);
    assert.ok(Math.abs(Number(row.total_consumption) - xs.reduce((a, b) => a + b, 0)) <= 0.00005 + 1e-9);
  }
  assert.equal(r.weather.size, ex.weather.length);
});
