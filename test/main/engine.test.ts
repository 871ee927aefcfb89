/**
 * The engine's coordination logic on fakes (engine-driver.ts): offsets, seeks, the
 * checkpoint barrier, sink failures, finality, available-now, rebalances, stopping.
 * Each test runs in milliseconds and needs no Kafka or PostgreSQL.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, MIN, sensor, startDriver, TOPICS, until, type Driver } from './engine-driver.js';

const S = TOPICS.sensor;
const both = [
  { topic: S, partition: 0 },
  { topic: S, partition: 1 },
];
/** n sensor readings a minute apart from BASE + startMin. */
const minutes = (n: number, startMin = 0, id = 's') => Array.from({ length: n }, (_, i) => sensor(id, BASE + (startMin + i) * MIN));

async function stopped(d: Driver): Promise<void> {
  await d.engine.stop();
  await d.running;
}

test('offsets: after a batch the committed position is the next unread record, and a restart resumes there', async () => {
  const d = await startDriver();
  d.source.produce(S, 0, minutes(10));
  d.source.assign(both);
  assert.equal(await d.source.deliver(S, 0, { count: 4 }), true);
  await until('the first commit after the batch', () =>
    d.source.commits.some((c) => c.some((o) => o.partition === 0 && o.offset === 4)),
  );
  await stopped(d);
  const snap = d.checkpoints.saved.at(-1)!;
  assert.deepEqual(snap.topics[0].offsets.find((o) => o.partition === 0), { partition: 0, offset: 4 });
  // A new engine on the same snapshots seeks to offset 4 when assigned, whatever Kafka says.
  const again = await startDriver({}, (p) => {
    Object.assign(p.checkpoints.saved, d.checkpoints.saved);
    p.source.produce(S, 0, minutes(10));
    p.source.committedOffsets.set(`${S}:0`, 1);
  });
  again.source.assign(both);
  assert.deepEqual(again.source.seeks.find((s) => s.partition === 0), { topic: S, partition: 0, offset: 4 });
  await stopped(again);
});

test('a stale fetch from before a seek is dropped unprocessed and the seek repeated', async () => {
  const d = await startDriver({}, (p) => {
    p.checkpoints.saved.push({
      format: 4, seq: 1, createdAt: '', groupId: 'g',
      topics: [{ topic: S, windowMs: 5 * MIN, watermark: null, partitions: [], offsets: [{ partition: 0, offset: 3 }], windows: [] }],
    });
    p.source.produce(S, 0, minutes(10));
  });
  d.source.assign(both);
  // The client delivers from offset 5 (its own position), not 3: those records must not count.
  assert.equal(await d.source.deliver(S, 0, { from: 5 }), false);
  assert.equal(d.source.seeks.filter((s) => s.partition === 0 && s.offset === 3).length, 2, 'sought at assignment, and again');
  assert.equal(await d.source.deliver(S, 0, { count: 2 }), true, 'from the sought position');
  await stopped(d);
  assert.deepEqual(d.checkpoints.saved.at(-1)!.topics[0].offsets.find((o) => o.partition === 0), { partition: 0, offset: 5 });
  assert.equal(d.metrics.recordsIn[0].aggregated, 2, 'only offsets 3 and 4 were aggregated');
});

test('the barrier: no batch is in flight while a snapshot is taken', async () => {
  const inFlightAtSave: number[] = [];
  const d = await startDriver({ checkpointIntervalMs: 10 });
  d.checkpoints.onSave = () => inFlightAtSave.push(d.pool.running);
  d.source.produce(S, 0, minutes(6));
  d.source.assign(both);
  d.pool.hold();
  await d.source.deliver(S, 0, { count: 3 });
  const savesBefore = d.checkpoints.saved.length;
  // While the batch is held in a worker, checkpoints wait at the barrier.
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(d.checkpoints.saved.length, savesBefore, 'no snapshot while a batch is in flight');
  d.pool.release();
  await until('the batch merged', () => d.metrics.batches === 1 || undefined);
  await until('a snapshot after the merge', () => d.checkpoints.saved.length > savesBefore || undefined);
  const snap = d.checkpoints.saved.at(-1)!;
  assert.equal(snap.topics[0].windows.reduce((n, w) => n + w.keys.length, 0), 1, 'the snapshot holds the merged batch');
  await stopped(d);
  assert.ok(inFlightAtSave.length > 0 && inFlightAtSave.every((n) => n === 0), `tasks in flight at each save: ${inFlightAtSave}`);
});

test('the barrier: a batch fetched while a snapshot is being written waits at the gate until the snapshot is done', { timeout: 10000 }, async () => {
  const d = await startDriver({ checkpointIntervalMs: 10 });
  d.source.produce(S, 0, minutes(6));
  d.source.assign(both);
  await d.source.deliver(S, 0, { count: 2 });
  await until('the first batch merged', () => d.metrics.batches === 1 || undefined);
  let openSave: () => void = () => {};
  d.checkpoints.saveGate = new Promise<void>((r) => (openSave = r));
  let delivered: Promise<boolean> | null = null;
  const saving = new Promise<void>((r) => {
    d.checkpoints.onSave = () => {
      d.checkpoints.onSave = null;
      // A fetch arrives while the snapshot is on its way to disk.
      delivered = d.source.deliver(S, 0, { from: 2, count: 2 });
      r();
    };
  });
  await saving;
  await new Promise((r) => setTimeout(r, 40));
  assert.equal(d.pool.running, 0, 'no task dispatched while the snapshot is written');
  assert.equal(d.metrics.batches, 1, 'no batch merged while the snapshot is written');
  d.checkpoints.saveGate = null;
  openSave();
  assert.equal(await delivered, true, 'the batch is taken once the barrier lifts');
  await until('the second batch merged', () => d.metrics.batches === 2 || undefined);
  await stopped(d);
});

test('sink failure: fetching pauses, the write is retried, and fetching resumes once it succeeds', async () => {
  const d = await startDriver();
  d.source.produce(S, 0, minutes(30));
  d.source.produce(S, 1, minutes(30));
  d.source.assign(both);
  d.sink.failNext = 3;
  await d.source.deliver(S, 0, { count: 15 });
  await d.source.deliver(S, 1, { count: 15 });
  await until('a failed write', () => d.sink.writes >= 1 || undefined);
  // While the sink fails, a delivered batch waits at the gate.
  let taken: boolean | null = null;
  const waiting = d.source.deliver(S, 0, { count: 15 }).then((t) => (taken = t));
  await new Promise((r) => setTimeout(r, 20));
  if (d.sink.failNext > 0) assert.equal(taken, null, 'fetching is paused while writes fail');
  await waiting;
  assert.equal(taken, true);
  await until('the rows written after the retries', () => d.sink.rows.length > 0 || undefined);
  assert.ok(d.sink.writes >= 4, `${d.sink.writes} writes`);
  assert.ok(d.log.has('PostgreSQL writes succeed again; resuming'));
  await stopped(d);
});

test('a sink error that is not the sink\'s own is a bug: the engine fails instead of retrying forever', async () => {
  const d = await startDriver();
  d.source.produce(S, 0, minutes(20));
  d.source.produce(S, 1, minutes(20));
  d.source.assign(both);
  d.sink.failNext = 1;
  d.sink.fatal = true;
  await d.source.deliver(S, 0);
  await d.source.deliver(S, 1);
  await assert.rejects(d.running, /a bug, not a PostgreSQL error/);
  assert.equal(d.sink.writes, 1, 'not retried');
});

test('finality: an idle partition stops holding the watermark back; a partition with backlog holds it', async () => {
  const d = await startDriver({ idleTimeoutMs: 30 });
  d.source.produce(S, 0, minutes(20));
  d.source.produce(S, 1, minutes(2)); // partition 1 ends at BASE + 1 min
  d.source.assign(both);
  await d.source.deliver(S, 1);
  await d.source.deliver(S, 0, { count: 20 });
  // Partition 1 is caught up: after the idle timeout only partition 0 counts, and the
  // watermark reaches BASE + 19 − 1 min: windows up to BASE + 15 min are final.
  await until('three final windows', () => (new Set(d.sink.rows.map((r) => r.start)).size >= 3 ? true : undefined));
  assert.deepEqual([...new Set(d.sink.rows.map((r) => r.start))].sort(), [BASE, BASE + 5 * MIN, BASE + 10 * MIN]);
  await stopped(d);
});

test('finality waits for batches in flight: a window is not written while a batch that may add to it is in a worker', async () => {
  const d = await startDriver({ idleTimeoutMs: 30 });
  d.source.produce(S, 0, minutes(20));
  d.source.produce(S, 1, minutes(20));
  d.source.assign(both);
  await d.source.deliver(S, 0, { count: 20 });
  await d.source.deliver(S, 1, { count: 20 });
  await until('windows up to 06:15 written', () => d.sink.rows.length === 3 || undefined);
  await new Promise((r) => setTimeout(r, 60)); // partition 0 is caught up and idle now
  // A late-arriving but on-time record for the 06:15 window is dispatched on partition 0 and held in a worker…
  d.source.produce(S, 0, [sensor('s', BASE + 16 * MIN)]);
  d.pool.hold(1);
  await d.source.deliver(S, 0);
  // …while partition 1 moves event time far ahead (idle partition 0 no longer holds the watermark).
  d.source.produce(S, 1, minutes(20, 20));
  await d.source.deliver(S, 1, { count: 20 });
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(d.sink.rows.filter((r) => r.start === BASE + 15 * MIN).length, 0, 'the 06:15 window waits for the batch in flight');
  d.pool.release();
  await until('the 06:15 window', () => d.sink.rows.find((r) => r.start === BASE + 15 * MIN));
  await stopped(d);
  const w = d.sink.rows.filter((r) => r.start === BASE + 15 * MIN);
  assert.deepEqual(w.map((r) => r.count), [11], 'one row, with the held record in it');
});

test('a partition with records left holds the watermark back, even before its first batch', async () => {
  const d = await startDriver({ idleTimeoutMs: 30 });
  d.source.produce(S, 0, minutes(20));
  d.source.produce(S, 1, minutes(20)); // not delivered yet
  d.source.assign(both);
  await d.source.deliver(S, 0, { count: 20 });
  await new Promise((r) => setTimeout(r, 120));
  assert.equal(d.sink.rows.length, 0, 'nothing is final while partition 1 has its backlog');
  await d.source.deliver(S, 1, { count: 20 });
  await until('final windows', () => d.sink.rows.length > 0 || undefined);
  assert.equal(d.metrics.recordsIn[0].late, 0);
  await stopped(d);
});

test('available-now: stops at the end offsets seen at start, writes every window and ends', async () => {
  const d = await startDriver({ availableNow: true }, (p) => {
    p.source.produce(S, 0, minutes(7));
    p.source.produce(S, 1, minutes(3));
  });
  d.source.produce(S, 0, minutes(5, 100)); // arrives after the start: left for a later run
  d.source.assign(both);
  await d.source.deliver(S, 1);
  await d.source.deliver(S, 0);
  await d.running;
  const snap = d.checkpoints.saved.at(-1)!;
  assert.deepEqual(snap.topics[0].offsets.sort((a, b) => a.partition - b.partition), [
    { partition: 0, offset: 7 },
    { partition: 1, offset: 3 },
  ]);
  assert.equal(d.sink.rows.reduce((n, r) => n + r.count, 0), 10, 'every record at start, none after');
  assert.equal(snap.topics[0].watermark, BASE + 10 * MIN, 'the watermark moved to the end of the latest window');
});

test('a rebalance mid-flight: the in-flight batch is merged once, the source seeks to where the state stands', async () => {
  const d = await startDriver();
  d.source.produce(S, 0, minutes(10));
  d.source.produce(S, 1, minutes(10));
  d.source.assign(both);
  d.pool.hold();
  await d.source.deliver(S, 0, { count: 4 });
  // Reassigned while offsets 0–3 are still in a worker: the source continues after them.
  d.source.assign(both);
  assert.deepEqual(d.source.seeks.at(-2), { topic: S, partition: 0, offset: 4 });
  d.pool.release();
  await d.source.deliver(S, 0, { count: 6 });
  await d.source.deliver(S, 1, { count: 10 });
  await stopped(d);
  assert.equal(d.metrics.recordsIn[0].aggregated, 20, 'each record exactly once');
  assert.deepEqual(d.checkpoints.saved.at(-1)!.topics[0].offsets.sort((a, b) => a.partition - b.partition), [
    { partition: 0, offset: 10 },
    { partition: 1, offset: 10 },
  ]);
});

test('graceful stop: fetching pauses, in-flight work finishes, a checkpoint is written, the source is closed', async () => {
  const d = await startDriver();
  d.source.produce(S, 0, minutes(4));
  d.source.assign(both);
  d.pool.hold();
  await d.source.deliver(S, 0);
  const stopping = d.engine.stop();
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(d.source.paused, true);
  d.pool.release();
  await stopping;
  await d.running;
  assert.equal(d.source.stopped, true);
  const snap = d.checkpoints.saved.at(-1)!;
  assert.equal(snap.topics[0].windows[0].keys.length, 1, 'the open window is in the final snapshot');
  assert.deepEqual(d.source.commits.at(-1)!.find((c) => c.partition === 0), { topic: S, partition: 0, offset: 4 });
});

test('a failed checkpoint is survived (up to the tolerance) and reported; the next one succeeds', async () => {
  const d = await startDriver({ checkpointIntervalMs: 10, checkpointFailuresTolerated: 2 });
  d.checkpoints.failNext = 2;
  d.source.produce(S, 0, minutes(3));
  d.source.assign(both);
  await d.source.deliver(S, 0);
  await until('a snapshot after two failures', () => d.checkpoints.saved.length > 0 || undefined);
  assert.equal(d.metrics.checkpointFailures, 2);
  assert.equal(d.metrics.checkpointFailuresInRow, 0);
  await stopped(d);
});

test('the future guard: a record an hour ahead is a dead letter and does not move the watermark', async () => {
  const d = await startDriver({ maxFutureSkewMs: 5 * MIN }, (p) => (p.clock.offsetMs = BASE + 30 * MIN - Date.now()));
  d.source.produce(S, 0, [...minutes(10), sensor('s', BASE + 90 * MIN), ...minutes(10, 10)]);
  d.source.assign([{ topic: S, partition: 0 }]);
  await d.source.deliver(S, 0, { count: 10 });
  await d.source.deliver(S, 0, { count: 11 });
  await stopped(d);
  assert.deepEqual(d.sink.deadLetters.map((x) => [x.offset, x.reason]), [[10, 'future']]);
  assert.equal(d.metrics.recordsIn[0].late, 0);
  assert.ok(d.engine.watermarks().sensor < BASE + 30 * MIN);
});

test('a write that neither succeeds nor fails counts as failing after --sink-stall-timeout, and recovers', async () => {
  const d = await startDriver({ sinkStallTimeoutMs: 30 });
  let unblock = (): void => {};
  d.sink.stuck = new Promise((r) => (unblock = r));
  d.source.produce(S, 0, minutes(20));
  d.source.produce(S, 1, minutes(20));
  d.source.assign(both);
  await d.source.deliver(S, 0, { count: 20 });
  await d.source.deliver(S, 1, { count: 20 });
  await until('the write counted as stalled', () => d.metrics.sinkStalled || undefined);
  assert.notEqual(d.metrics.sinkFailingSince, null, '/health and smartgrid_sink_failing see it');
  unblock();
  await until('the write done', () => !d.metrics.sinkStalled || undefined);
  assert.equal(d.metrics.sinkFailingSince, null);
  assert.ok(d.sink.rows.length > 0);
  await stopped(d);
});

test('--max-open-states: at the bound fetching pauses; when no window can become final the engine fails with STATE_LIMIT', async () => {
  // Partition 1 has a backlog that holds the watermark, so nothing of partition 0 can become final.
  const d = await startDriver({ maxOpenStates: 12, stateLimitGraceMs: 150 });
  const six = (m: number) => Array.from({ length: 6 }, (_, i) => sensor(`s${i}`, BASE + m * MIN));
  d.source.produce(S, 0, [...six(0), ...six(6), ...six(12)]);
  d.source.produce(S, 1, minutes(20));
  d.source.assign(both);
  await d.source.deliver(S, 0, { count: 12 }); // two windows × 6 sensors = 12 states
  await until('12 open states', () => d.engine.openStates() === 12 || undefined);
  let taken: boolean | null = null;
  const waiting = d.source.deliver(S, 0, { count: 6 }).then((t) => (taken = t));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(taken, null, 'the next batch waits at the bound');
  assert.ok(d.log.has('open states reached --max-open-states; fetching paused until windows become final'));
  await assert.rejects(d.running, (e: Error & { code?: string }) => e.code === 'STATE_LIMIT' && /raise --max-open-states/.test(e.message));
  await waiting;
  assert.equal(taken, false, 'the waiting batch was not taken');
  assert.equal(d.metrics.recordsIn[0].aggregated, 12);
});

test('a partition not assigned yet still holds the watermark: an assignment of only some partitions finalises nothing early', async () => {
  const d = await startDriver({ idleTimeoutMs: 30 }, (p) => {
    p.source.produce(S, 0, minutes(20));
    p.source.produce(S, 1, minutes(20));
  });
  // The group hands this single instance partition 0 only (another member holds 1 for a while).
  d.source.assign([{ topic: S, partition: 0 }]);
  await d.source.deliver(S, 0, { count: 20 });
  await new Promise((r) => setTimeout(r, 120));
  assert.equal(d.sink.rows.length, 0, 'partition 1 has records left: nothing is final');
  d.source.assign(both);
  await d.source.deliver(S, 1, { count: 20 });
  await until('final windows', () => d.sink.rows.length >= 3 || undefined);
  await stopped(d);
  assert.equal(d.metrics.recordsIn[0].late, 0, 'no record of partition 1 was made late');
  assert.ok(d.sink.rows.filter((r) => r.start === BASE).every((r) => r.count === 10));
});
