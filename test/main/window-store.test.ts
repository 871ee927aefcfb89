import { test } from 'node:test';
import assert from 'node:assert/strict';
import { aggregateBatch } from '../../src/workers/aggregate.js';
import { Kind } from '../../src/workers/protocol.js';
import { WindowStore } from '../../src/main/window-store.js';
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
