/**
 * Several instances: a partition is never written for by two members at once. The lease
 * rows in PostgreSQL fence every write of a member whose generation is over (or whose
 * instance id was taken over by a restarted process), against the real database; and a
 * real engine frozen past its session (SIGSTOP, as a long GC pause or a stalled VM would)
 * writes nothing for the partitions another member took over meanwhile, so the tables
 * still equal the load generator's exact expectation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLoad } from '../../loadgen/index.js';
import { silentLogger } from '../../src/common/log.js';
import { SmartGridError } from '../../src/common/errors.js';
import { Kind, STREAM_LIST } from '../../src/common/streams.js';
import { STATS_WIDTH, statsAdd, statsInit } from '../../src/workers/stats.js';
import { PgSink } from '../../src/main/pg-sink.js';
import { PartitionStateStore } from '../../src/main/partition-state.js';
import type { MemberFence } from '../../src/main/member-sink.js';
import type { SinkBatch } from '../../src/main/sink.js';
import { WindowStore } from '../../src/main/window-store.js';
import { createSchema, createTopics, KAFKA_BROKER, PG, uniqueName } from '../helpers.js';
import { assertTablesMatch } from '../expected-rows.js';
import { startEngine, type EngineProcess } from '../integrity/harness.js';

const TOPIC = 'fence-sensor';
const START = Date.UTC(2026, 10, 28, 0, 0, 0);
const WINDOW = 300_000;

/** A flush of one sensor window of partition 0 (values `xs` for sensor s1) and one dead letter. */
function flush(xs: number[], offset: number): SinkBatch {
  const stats = new Float64Array(STATS_WIDTH);
  statsInit(stats, 0);
  for (const x of xs) statsAdd(stats, 0, x, STREAM_LIST[Kind.sensor].sumScale);
  const store = new WindowStore(Kind.sensor, WINDOW);
  store.mergeStats(START, 'voltage\u0000s1', stats, null);
  const windows = store.takeFinal(Infinity).map((w) => Object.assign(w, { topic: TOPIC, partition: 0 }));
  return {
    sensor: windows,
    meter: [],
    weather: [],
    windowMs: { sensor: WINDOW, meter: 3600_000, weather: 3600_000 },
    deadLetters: [{ topic: TOPIC, partition: 0, offset, key: null, payload: Buffer.from('{'), reason: 'invalid_json', error: 'test' }],
  };
}

const snapshotOf = (offset: number) => ({
  groupId: 'g',
  topics: [{ topic: TOPIC, windowMs: WINDOW, watermark: null, partitions: [{ partition: 0, maxTs: START }], offsets: [{ partition: 0, offset }], windows: [] }],
});

async function fenced(p: Promise<unknown>, what: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof SmartGridError && e.code === 'PARTITION_FENCED', what);
}

test('leases: a member of an ended generation, or replaced under its instance id, writes nothing', async (t) => {
  const db = await createSchema('fence');
  t.after(db.cleanup);
  const member = (generation: number, memberId: string) => {
    const fence: MemberFence = { groupId: 'g', generation, memberId, instanceId: memberId };
    const sink = new PgSink({ ...PG, schema: db.schema }, silentLogger, { fence: () => fence });
    t.after(() => sink.close());
    return { fence, sink, states: new PartitionStateStore(sink, () => fence, silentLogger) };
  };
  const x = member(1, 'x');
  await x.sink.init();
  const q = async (sql: string) => (await db.client.query(sql)).rows;
  const rows = () => q(`SELECT count::int, avg_value::text FROM sensor_aggregates_realtime`);

  assert.equal((await x.states.claim([{ topic: TOPIC, partition: 0 }])).get(TOPIC + ':0'), null, 'no state yet');
  await x.sink.write(flush([230, 232], 10));
  await x.states.save(snapshotOf(11));
  assert.deepEqual(await rows(), [{ count: 2, avg_value: '231.0000' }]);

  // The group moves the partition to y in generation 2: y resumes from x's snapshot.
  const y = member(2, 'y');
  const snap = (await y.states.claim([{ topic: TOPIC, partition: 0 }])).get(TOPIC + ':0');
  assert.equal(snap?.offsets[0].offset, 11, "y resumes where x's snapshot ends");

  // x, a zombie now, can write nothing for the partition, nor take it back.
  await fenced(x.sink.write(flush([100, 100, 100], 12)), 'rows of a zombie');
  await fenced(x.states.save(snapshotOf(99)), 'snapshot of a zombie');
  await fenced(x.states.claim([{ topic: TOPIC, partition: 0 }]), 'claim from an older generation');
  assert.deepEqual(await rows(), [{ count: 2, avg_value: '231.0000' }], 'rows unchanged');
  assert.deepEqual(await q(`SELECT kafka_offset::int FROM dead_letters`), [{ kafka_offset: 10 }], 'no dead letter of the zombie');
  assert.deepEqual(await q(`SELECT next_offset::int, member_id FROM smartgrid_partition_state`), [{ next_offset: 11, member_id: 'y' }]);

  // y's own writes go through, and its partial replaces the previous one of the partition.
  await y.sink.write(flush([230, 232, 240], 12));
  assert.deepEqual(await rows(), [{ count: 3, avg_value: '234.0000' }]);

  // y's process is replaced by a restart with the same instance id (same generation, new member id).
  const y2 = member(2, 'y-restarted');
  await y2.states.claim([{ topic: TOPIC, partition: 0 }]);
  await fenced(y.sink.write(flush([1], 13)), 'rows of the replaced process');
  await y2.sink.write(flush([230, 232, 240, 250], 13));
  assert.deepEqual(await rows(), [{ count: 4, avg_value: '238.0000' }]);
});

test('an engine frozen past its session (SIGSTOP) writes nothing for partitions another member took over; the tables stay exact', { timeout: 120_000 }, async (t) => {
  const procs: EngineProcess[] = [];
  t.after(async () => {
    for (const p of procs) {
      p.child.kill('SIGCONT');
      p.child.kill('SIGKILL');
    }
    await Promise.all(procs.map((p) => p.exited));
    // SMARTGRID_TEST_LOGS=folder keeps every engine's log lines there.
    const logs = process.env.SMARTGRID_TEST_LOGS;
    if (logs !== undefined) {
      for (const [i, p] of procs.entries()) await writeFile(join(logs, `fz-${i}.log`), p.lines.map((l) => JSON.stringify(l)).join('\n'));
    }
  });
  const topics = { sensor: uniqueName('fz-s'), meter: uniqueName('fz-m'), weather: uniqueName('fz-w') };
  const { cleanup } = await createTopics(Object.values(topics), 3);
  t.after(cleanup);
  const db = await createSchema('fz');
  t.after(db.cleanup);
  const dir = await mkdtemp(join(tmpdir(), 'fz-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const events = 150_000;
  const summary = await runLoad({
    generate: {
      seed: 21, events, sensors: 300, meters: 100, customers: 30, weatherLocations: 3, spanMs: 24 * 3600000,
      partitions: 3, topics, outOfOrderShare: 0.05, lateShare: 0.003, badShare: 0.01, timestampStyle: 'mixed',
    },
    kafka: { brokers: [KAFKA_BROKER], batchBytes: 16384 },
    expected: true,
  });
  const expected = summary.expected!;
  const group = uniqueName('fz');
  const args = (id: string, extra: string[] = []) => [
    '--group-member', '--instance-id', id, '--session-timeout', '2s', '--kafka-broker', KAFKA_BROKER,
    '--postgres-host', PG.host, '--postgres-port', String(PG.port), '--postgres-db', PG.database, '--postgres-schema', db.schema,
    '--topic-sensor', topics.sensor, '--topic-meter', topics.meter, '--topic-weather', topics.weather, '--group-id', group,
    '--checkpoint-dir', dir, '--idle-timeout', '0', '--metrics-port', '0', '--progress-interval', '0', '--no-create-topics',
    '--log-format', 'json', '--max-bytes-per-partition', '16kb', '--checkpoint-interval', '300ms', '--workers', '1', ...extra,
  ];
  const start = (id: string, extra: string[] = []) => {
    const p = startEngine(args(id, extra));
    procs.push(p);
    return p;
  };

  // Each step has a deadline that fails with the engines' last log lines, so that a hang
  // (seen once in CI, not reproduced since) says where it stopped.
  const within = <T>(ms: number, p: Promise<T>, step: string): Promise<T> =>
    Promise.race([
      p,
      new Promise<never>((_, reject) =>
        setTimeout(() => {
          const tail = procs.map((e, i) => `engine ${i}:\n` + e.lines.slice(-12).map((l) => '  ' + JSON.stringify(l)).join('\n')).join('\n');
          reject(new Error(`no progress within ${ms} ms at step '${step}'\n${tail}`));
        }, ms).unref(),
      ),
    ]);
  const x = start('x');
  await within(30_000, x.waitFor('first records processed'), 'x processes records');
  await new Promise((r) => setTimeout(r, 300));
  x.child.kill('SIGSTOP');
  // y joins; the coordinator expires x's session and gives y every partition.
  const y = start('y');
  // Both waiters before either line can arrive (lines of one chunk are handled at once).
  const yAssigned = y.waitFor('the group assigned partitions');
  const yRestored = y.waitFor(/^partitions restored$/);
  assert.ok(Number((await within(30_000, yAssigned, 'y is assigned partitions')).generation) > 1);
  await within(30_000, yRestored, 'y restores them');
  // x wakes up with state and writes pending for partitions that are y's now.
  x.child.kill('SIGCONT');
  const xReaction = await within(
    30_000,
    Promise.race([
      x.waitFor(/^partitions lost$/).then(() => 'lost'),
      x.waitFor(/engine failed/).then((l) => String(JSON.stringify(l))),
      x.exited.then((e) => `exited with ${e.code}: ${x.lines.slice(-8).map((l) => JSON.stringify(l)).join('\n')}`),
    ]),
    'x, resumed, notices it was fenced',
  );
  assert.ok(xReaction === 'lost' || xReaction.includes('PARTITION_FENCED') || xReaction.includes('GROUP_FENCED'), `x noticed it was fenced: ${xReaction}`);
  // Whatever x does next (it rejoins, or it stopped), y and the group finish the input.
  y.child.kill('SIGTERM');
  assert.equal((await within(30_000, y.exited, 'y stops on SIGTERM')).code, 0);
  x.child.kill('SIGTERM');
  await within(30_000, x.exited, 'x stops on SIGTERM');
  const last = start('z', ['--available-now']);
  assert.equal((await within(30_000, last.exited, 'z finishes the input')).code, 0, last.lines.slice(-5).map((l) => JSON.stringify(l)).join('\n'));

  await assertTablesMatch(db.client, expected);
});

test('static membership: an instance killed with -9 and restarted within the session timeout gets its own partitions back without a rebalance', { timeout: 120_000 }, async (t) => {
  const procs: EngineProcess[] = [];
  t.after(async () => {
    for (const p of procs) p.child.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
  });
  const topics = { sensor: uniqueName('st-s'), meter: uniqueName('st-m'), weather: uniqueName('st-w') };
  const { cleanup } = await createTopics(Object.values(topics), 2);
  t.after(cleanup);
  const db = await createSchema('st');
  t.after(db.cleanup);
  const dir = await mkdtemp(join(tmpdir(), 'st-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const group = uniqueName('st');
  const start = (id: string) => {
    const p = startEngine([
      '--group-member', '--instance-id', id, '--session-timeout', '20s', '--kafka-broker', KAFKA_BROKER,
      '--postgres-host', PG.host, '--postgres-port', String(PG.port), '--postgres-db', PG.database, '--postgres-schema', db.schema,
      '--topic-sensor', topics.sensor, '--topic-meter', topics.meter, '--topic-weather', topics.weather, '--group-id', group,
      '--checkpoint-dir', dir, '--metrics-port', '0', '--progress-interval', '0', '--no-create-topics', '--log-format', 'json',
    ]);
    procs.push(p);
    return p;
  };
  type Assigned = { generation: number; count: number };
  const assignments = (p: EngineProcess): Assigned[] =>
    p.lines.filter((l) => l.msg === 'the group assigned partitions').map((l) => ({ generation: Number(l.generation), count: Number(l.count) }));
  const x = start('x');
  await x.waitFor('partitions restored');
  const y = start('y');
  await y.waitFor('partitions restored');
  // x rejoins for y (eager rebalance): wait until both hold a share of the six partitions.
  for (let i = 0; i < 100 && !(assignments(x).at(-1)?.count === 3 && assignments(y).at(-1)?.count === 3); i++) await new Promise((r) => setTimeout(r, 100));
  const before = assignments(x).at(-1)!;
  assert.deepEqual([before.count, assignments(y).at(-1)!.count], [3, 3], 'x and y share the partitions');
  const yRevokes = y.lines.filter((l) => l.msg === 'partitions revoked').length;

  x.child.kill('SIGKILL');
  await x.exited;
  const killedAt = Date.now();
  const x2 = start('x');
  const x2Assigned = x2.waitFor('the group assigned partitions');
  const x2Restored = x2.waitFor('partitions restored');
  const back = await x2Assigned;
  await x2Restored;
  const ms = Date.now() - killedAt;
  assert.equal(Number(back.count), 3, 'the restarted x holds its three partitions again');
  assert.equal(Number(back.generation), before.generation, 'in the same generation: no rebalance');
  assert.equal(y.lines.filter((l) => l.msg === 'partitions revoked').length, yRevokes, 'y was not disturbed');
  assert.ok(ms < 20_000, `back within the session timeout (${ms} ms)`);
  t.diagnostic(`restarted member had its partitions back ${ms} ms after the kill (process start included)`);
});
