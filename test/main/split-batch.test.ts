import { test } from 'node:test';
import assert from 'node:assert/strict';
import { splitBatch } from '../../src/main/pg-sink.js';
import type { SinkBatch } from '../../src/main/sink.js';
import type { WindowState } from '../../src/main/window-store.js';

const win = (start: number, n: number): WindowState => ({
  start,
  keys: Array.from({ length: n }, (_, i) => `k${i}`),
  slots: new Map(),
  stats: new Float64Array(0),
  conds: null,
});

const batch = (sensor: number[], meter: number[], deadLetters = 0): SinkBatch => ({
  sensor: sensor.map((n, i) => win(i * 300_000, n)),
  meter: meter.map((n, i) => win(i * 3_600_000, n)),
  weather: [],
  windowMs: { sensor: 300_000, meter: 3_600_000, weather: 3_600_000 },
  deadLetters: Array.from({ length: deadLetters }, (_, i) => ({ topic: 't', partition: 0, offset: i, key: null, value: null, reason: 1, error: 'x' })) as never,
});

const rows = (b: SinkBatch): number => [...b.sensor, ...b.meter, ...b.weather].reduce((n, w) => n + w.keys.length, 0);

test('a large flush splits by whole windows into balanced parts; every window and dead letter exactly once', () => {
  const b = batch([10_000, 10_000, 10_000, 9_000, 10_000, 10_000], [500], 7);
  const parts = splitBatch(b, 20_000, 2);
  assert.equal(parts.length, 2);
  assert.deepEqual(parts.map(rows).sort(), [29_500, 30_000]);
  const seen = parts.flatMap((p) => [...p.sensor, ...p.meter]).map((w) => w.start + ':' + w.keys.length).sort();
  assert.deepEqual(seen, [...b.sensor, ...b.meter].map((w) => w.start + ':' + w.keys.length).sort());
  assert.equal(parts[0].deadLetters.length, 7);
  assert.equal(parts[1].deadLetters.length, 0);
  for (const p of parts) assert.deepEqual(p.windowMs, b.windowMs);
});

test('small flushes, single windows and one-way settings stay whole', () => {
  assert.equal(splitBatch(batch([10_000], [500]), 20_000, 2).length, 1);
  assert.equal(splitBatch(batch([50_000], []), 20_000, 2).length, 1);
  assert.equal(splitBatch(batch([15_000, 15_000], []), 20_000, 1).length, 1);
  const b = batch([15_000, 15_000], []);
  assert.equal(splitBatch(b, 20_000, 2)[0].sensor.length, 1);
});
