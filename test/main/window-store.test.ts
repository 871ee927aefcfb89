import { test } from 'node:test';
import assert from 'node:assert/strict';
import { aggregateBatch } from '../../src/workers/aggregate.js';
import { Kind, SUM_SCALE, type AggregateResult } from '../../src/workers/protocol.js';
import { WindowStore, type WindowState } from '../../src/main/window-store.js';
import { S_COUNT, statsAdd, statsInit } from '../../src/workers/stats.js';
import { packTask } from '../helpers.js';

function weatherTask(conds: string[]) {
  const payloads = conds.map((c, i) =>
    JSON.stringify({ timestamp: Date.UTC(2026, 10, 28, i % 2), temperature: 20 + i, humidity: 50, pressure: 1000 + i / 10, wind_speed: 3, weather_condition: c }),
  );
  return packTask(Kind.weather, payloads, -Infinity, 3600000);
}

test('window state survives snapshot and restore exactly, condition counts included', () => {
  const store = new WindowStore(Kind.weather, 3600000);
  store.merge(aggregateBatch(weatherTask(['Sunny', 'Rainy', 'Sunny', 'Cloudy', 'Rainy'])));
  store.merge(aggregateBatch(weatherTask(['Rainy', 'Sunny'])));
  const snap = store.snapshot();
  const again = new WindowStore(Kind.weather, 3600000);
  again.restore(snap);
  assert.equal(again.openStates, store.openStates);
  const a = store.takeFinal(Infinity);
  const b = again.takeFinal(Infinity);
  assert.equal(b.length, 2);
  for (let i = 0; i < a.length; i++) {
    assert.equal(b[i].start, a[i].start);
    assert.deepEqual(b[i].keys, a[i].keys);
    assert.deepEqual(Array.from(b[i].stats.subarray(0, b[i].keys.length * again.width)), Array.from(a[i].stats.subarray(0, a[i].keys.length * store.width)));
    assert.deepEqual([...b[i].conds!], [...a[i].conds!]);
  }
  assert.throws(() => again.restore([{ start: 0, keys: ['', 'x'], stats: snap[0].stats }]), /statistics for 2 keys/);
});

test('a snapshot covers the keys present when it was taken, even if the window grows later', async () => {
  const store = new WindowStore(Kind.sensor, 300000);
  const t = (ids: string[]) => packTask(Kind.sensor, ids.map((id) => JSON.stringify({ sensor_id: id, sensor_type: 'v', value: 1, timestamp: 0 })), -Infinity, 300000);
  store.merge(aggregateBatch(t(['a', 'b'])));
  const snap = store.snapshot();
  store.merge(aggregateBatch(t(['c'])));
  const again = new WindowStore(Kind.sensor, 300000);
  again.restore(snap);
  assert.equal(again.openStates, 2);
  assert.deepEqual(again.takeFinal(Infinity)[0].keys, ['v\u0000a', 'v\u0000b']);
});

test('keys known by their worker ids: the same id in another thread or epoch is another key; renumbering keeps every slot', () => {
  // Synthetic sensor results with one partial per key (count 1 each), carrying key ids as a
  // worker sends them. The store must count each (window, key) once per partial, whatever
  // the ids: thread 1 and thread 2 reuse ids 0..n for different keys, and thread 1 starts
  // a new epoch (its key table was cleared) in which id 0 stands for another key.
  const store = new WindowStore(Kind.sensor, 300000);
  const width = store.width;
  const result = (threadId: number, epoch: number | undefined, start: number, keys: string[], ids: number[] | undefined): AggregateResult => {
    const stats = new Float64Array(keys.length * width);
    for (let i = 0; i < keys.length; i++) {
      statsInit(stats, i * width);
      statsAdd(stats, i * width, 1, SUM_SCALE[Kind.sensor]);
    }
    return {
      kind: Kind.sensor,
      n: keys.length,
      keys,
      windows: new Float64Array(keys.length).fill(start),
      groups: Uint32Array.from(keys.keys()),
      stats,
      condNames: [],
      condCounts: new Uint32Array(0),
      rejected: new Uint32Array(0),
      reasons: new Uint8Array(0),
      errors: [],
      partMaxTs: new Float64Array([start]),
      threadId,
      ...(ids === undefined ? {} : { keyIds: Int32Array.from(ids), keyEpoch: epoch }),
      decodeNs: 0,
      aggregateNs: 0,
    };
  };
  const want = new Map<string, number>();
  const add = (r: AggregateResult): void => {
    store.merge(r);
    for (const k of r.keys) want.set(`${r.windows[0]}|${k}`, (want.get(`${r.windows[0]}|${k}`) ?? 0) + 1);
  };
  // A key numbered first and gone before the renumbering, so that numbers change then.
  store.merge(result(1, 1, -300000 * 500, ['v\u0000old'], [7]));
  assert.equal(store.takeFinal(-300000 * 499).length, 1);
  for (let round = 0; round < 3; round++) {
    add(result(1, 0, 0, ['v\u0000a', 'v\u0000b'], [0, 1]));
    add(result(2, 0, 0, ['v\u0000c', 'v\u0000a'], [0, 1]));
    add(result(1, 1, 0, ['v\u0000d', 'v\u0000a'], [0, 5]));
    add(result(3, undefined, 300000, ['v\u0000a', 'v\u0000e'], undefined));
    add(result(2, 0, 300000, ['v\u0000a'], [1]));
  }
  store.mergeStats(0, 'v\u0000d', result(9, undefined, 0, ['x'], undefined).stats, null);
  want.set('0|v\u0000d', want.get('0|v\u0000d')! + 1);
  const counts = (ws: WindowState[]): Map<string, number> => {
    const got = new Map<string, number>();
    for (const w of ws) w.keys.forEach((k, i) => got.set(`${w.start}|${k}`, w.stats[i * width + S_COUNT]));
    return got;
  };
  assert.equal(store.openStates, want.size);
  // Enough keys that come and go (in windows before window 0, each final at once) to make
  // the store renumber, while windows 0 and 300000 stay open.
  for (let i = 0; i < 120_000; i += 1000) {
    const keys = Array.from({ length: 1000 }, (_, j) => `v\u0000x${i + j}`);
    const start = -300000 * (1 + i / 1000);
    store.merge(result(4, 0, start, keys, keys.map((_, j) => i + j)));
    assert.equal(store.takeFinal(start + 300000).length, 1);
  }
  add(result(1, 1, 0, ['v\u0000a', 'v\u0000d'], [5, 0]));
  add(result(4, 0, 0, ['v\u0000x5'], [5]));
  const final = store.takeFinal(600000);
  assert.deepEqual(new Map([...counts(final)].sort()), new Map([...want].sort()));
});
