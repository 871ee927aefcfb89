/**
 * Member mode's pieces without services: a partition's snapshot as bytes (what goes into
 * smartgrid_partition_state), merging stored partials, and restoring assigned partitions
 * from their snapshots or from the group's offsets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSnapshot, snapshotBytes, SNAPSHOT_FORMAT, type TopicSnapshot } from '../../src/main/checkpoint.js';
import { restorePartitions } from '../../src/main/assignment.js';
import { groupKeyText } from '../../src/main/member-sink.js';
import { Positions } from '../../src/main/positions.js';
import { StreamOperator } from '../../src/main/stream.js';
import { WindowStore } from '../../src/main/window-store.js';
import { SmartGridError } from '../../src/common/errors.js';
import { silentLogger } from '../../src/common/log.js';
import { Kind, STREAM_LIST } from '../../src/common/streams.js';
import { STATS_WIDTH, S_COUNT, S_MEAN, statsAdd, statsInit } from '../../src/workers/stats.js';

const T0 = Date.UTC(2026, 10, 28);
const W = 3_600_000;

const stats = (xs: number[]): Float64Array => {
  const s = new Float64Array(STATS_WIDTH);
  statsInit(s, 0);
  for (const x of xs) statsAdd(s, 0, x, STREAM_LIST[Kind.meter].sumScale);
  return s;
};

test('a partition snapshot survives the trip through bytes (format 4), keys and statistics exact', async () => {
  const t: TopicSnapshot = {
    topic: 'm',
    windowMs: W,
    watermark: T0 + 5 * W,
    partitions: [{ partition: 2, maxTs: T0 + 6 * W }],
    offsets: [{ partition: 2, offset: 12345 }],
    windows: [{ start: T0 + 5 * W, keys: ['c1', 'ç2'], stats: new Float64Array([...stats([1.5]), ...stats([2, 3.25])]) }],
  };
  const bytes = await snapshotBytes({ format: SNAPSHOT_FORMAT, seq: 7, createdAt: 'now', groupId: 'g', topics: [t] });
  const back = parseSnapshot(bytes, 'test').topics[0];
  assert.deepEqual(back.offsets, t.offsets);
  assert.deepEqual(back.partitions, t.partitions);
  assert.equal(back.watermark, t.watermark);
  assert.deepEqual(back.windows[0].keys, ['c1', 'ç2']);
  assert.deepEqual([...back.windows[0].stats], [...t.windows[0].stats]);
  bytes[bytes.length - 40] ^= 1;
  assert.throws(() => parseSnapshot(bytes, 'test'), (e: unknown) => e instanceof SmartGridError && e.code === 'CHECKPOINT_CORRUPT');
});

test('partials merge as the values would have: counts and exact sums add, conditions add up', () => {
  const store = new WindowStore(Kind.meter, W);
  store.mergeStats(T0, 'c1', stats([1, 2]), null);
  store.mergeStats(T0, 'c1', stats([3]), null);
  store.mergeStats(T0, 'c2', stats([-4]), null);
  const [w] = store.takeFinal(Infinity);
  assert.deepEqual(w.keys, ['c1', 'c2']);
  assert.equal(w.stats[S_COUNT], 3);
  assert.equal(w.stats[S_MEAN], 2);
  assert.equal(w.stats[STREAM_LIST[Kind.meter].variables.length * STATS_WIDTH + S_COUNT], 1);
  assert.throws(() => store.mergeStats(T0, 'c1', new Float64Array(3), null), RangeError);

  const weather = new WindowStore(Kind.weather, W);
  const wstats = new Float64Array(STREAM_LIST[Kind.weather].variables.length * STATS_WIDTH);
  for (let v = 0; v < wstats.length; v += STATS_WIDTH) statsInit(wstats, v);
  weather.mergeStats(T0, '', wstats, [['Rainy', 2], ['Sunny', 1]]);
  weather.mergeStats(T0, '', wstats, [['Sunny', 2]]);
  assert.deepEqual([...weather.takeFinal(Infinity)[0].conds!].sort(), [['Rainy', 2], ['Sunny', 3]]);
});

test('group keys of several parts round-trip through their text form', () => {
  assert.equal(groupKeyText('voltage\u0000sensor_1'), '["voltage","sensor_1"]');
  assert.equal(groupKeyText('a"b\\c'), '["a\\"b\\\\c"]');
});

test('assigned partitions resume from their snapshots, else from committed offsets or the start; committed offsets without state refuse', async () => {
  const streams = new Map(STREAM_LIST.map((s, kind) => [s.name, new StreamOperator(kind as Kind, s.name, W, 600_000, 0)]));
  const source = {
    offsets: () => Promise.resolve([0, 1, 2].map((partition) => ({ partition, low: 100, high: 1000 }))),
    committed: (): Promise<Map<number, number>> => Promise.resolve(new Map([[0, 500], [1, -1], [2, -1]])),
  };
  const opts: { allowedLatenessMs: number; idleTimeoutMs: number; availableNow: boolean; startingOffsets: 'earliest' | 'latest'; ignoreMissingCheckpoint: boolean; groupId: string } = { allowedLatenessMs: 600_000, idleTimeoutMs: 0, availableNow: false, startingOffsets: 'earliest', ignoreMissingCheckpoint: false, groupId: 'g' };
  const restore = (snaps: Map<string, TopicSnapshot | null>, o = opts) => {
    const positions = new Positions(() => Kind.meter);
    const ops = new Map<string, StreamOperator>();
    const from = restorePartitions([{ topic: 'meter', partition: 0 }, { topic: 'meter', partition: 1 }], snaps, {
      streams, positions, source, opts: o, now: 0, log: silentLogger, add: (k, op) => ops.set(k, op),
    });
    return { from, ops, positions };
  };
  // Partition 0 has committed offsets but no state: refused.
  await assert.rejects(restore(new Map()).from, (e: unknown) => e instanceof SmartGridError && e.code === 'CHECKPOINT_MISSING' && /meter\[0\]/.test(e.message));

  const snap: TopicSnapshot = {
    topic: 'meter', windowMs: W, watermark: T0, partitions: [{ partition: 0, maxTs: T0 + 600_000 }], offsets: [{ partition: 0, offset: 700 }],
    windows: [{ start: T0, keys: ['c1'], stats: stats([1]) }],
  };
  const r = restore(new Map([['meter:0', snap]]));
  assert.deepEqual(await r.from, [{ topic: 'meter', partition: 0, offset: 700 }, { topic: 'meter', partition: 1, offset: 100 }]);
  const op0 = r.ops.get('meter:0')!;
  assert.equal(op0.partition, 0);
  assert.equal(op0.store.openStates, 1);
  assert.equal(op0.clock.watermark, T0, 'the watermark resumes where the snapshot left it');
  assert.equal(r.positions.get('meter', 0)!.maxTs, T0 + 600_000);
  assert.ok(r.positions.get('meter', 1)!.assigned);

  // --ignore-missing-checkpoint: from the committed offset with empty state.
  const ig = restore(new Map(), { ...opts, ignoreMissingCheckpoint: true });
  assert.deepEqual((await ig.from).map((f) => f.offset), [500, 100]);
  // --starting-offsets latest: partition 1 has no offset although the group read partition
  // 0, so it was added since: read from its start; for a new group, from the end.
  const latest = { ...opts, ignoreMissingCheckpoint: true, startingOffsets: 'latest' as const };
  assert.deepEqual((await restore(new Map(), latest).from).map((f) => f.offset), [500, 100]);
  source.committed = () => Promise.resolve(new Map([[0, -1], [1, -1], [2, -1]]));
  assert.deepEqual((await restore(new Map(), latest).from).map((f) => f.offset), [1000, 1000]);
});
