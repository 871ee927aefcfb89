import { test } from 'node:test';
import assert from 'node:assert/strict';
import { splitBatch } from '../../src/main/pg-sink.js';
import type { SinkBatch } from '../../src/main/sink.js';
import type { WindowState } from '../../src/main/window-store.js';
import { STATS_WIDTH } from '../../src/workers/stats.js';

const WIDTH = STATS_WIDTH; // one variable (sensor and meter streams)
const win = (start: number, n: number): WindowState => ({
  start,
  keys: Array.from({ length: n }, (_, i) => `k${i}`),
  slots: new Map(),
  // Each row's statistics say which row they are: start + key index.
  stats: Float64Array.from({ length: n * WIDTH }, (_, j) => start + Math.floor(j / WIDTH)),
  conds: null,
});

const batch = (sensor: number[], meter: number[], deadLetters = 0): SinkBatch => ({
  sensor: sensor.map((n, i) => win(i * 300_000, n)),
  meter: meter.map((n, i) => win(1e9 + i * 3_600_000, n)),
  weather: [],
  windowMs: { sensor: 300_000, meter: 3_600_000, weather: 3_600_000 },
  deadLetters: Array.from({ length: deadLetters }, (_, i) => ({ topic: 't', partition: 0, offset: i, key: null, value: null, reason: 1, error: 'x' })) as never,
});

const windows = (b: SinkBatch): WindowState[] => [...b.sensor, ...b.meter, ...b.weather];
const rows = (b: SinkBatch): number => windows(b).reduce((n, w) => n + w.keys.length, 0);
/** Every row as "window:key:its statistics", checking that a row's statistics moved with its key. */
const cells = (bs: SinkBatch[]): string[] =>
  bs
    .flatMap((b) => windows(b).flatMap((w) => w.keys.map((k, i) => `${w.start}:${k}:${[...w.stats.subarray(i * WIDTH, (i + 1) * WIDTH)].join(',')}`)))
    .sort();

/** The same rows in both (a short message instead of a diff of tens of thousands of lines). */
function sameRows(parts: SinkBatch[], b: SinkBatch): void {
  const got = cells(parts);
  const want = cells([b]);
  assert.equal(got.length, want.length, 'row count');
  const i = got.findIndex((x, j) => x !== want[j]);
  assert.equal(i, -1, i < 0 ? '' : `first difference at row ${i}: ${got[i]} instead of ${want[i]}`);
}

test('a large flush splits into parts of equal row counts, cutting windows; every row with its statistics and every dead letter exactly once', () => {
  const b = batch([10_000, 10_000, 10_000, 9_000, 10_000, 10_000], [500], 7);
  const parts = splitBatch(b, 20_000, 2);
  assert.equal(parts.length, 2);
  assert.deepEqual(parts.map(rows), [29_750, 29_750]);
  sameRows(parts, b);
  assert.equal(parts[0].deadLetters.length, 7);
  assert.equal(parts[1].deadLetters.length, 0);
  for (const p of parts) assert.deepEqual(p.windowMs, b.windowMs);
});

test('three ways, an odd total and one large window: sizes differ by at most one row', () => {
  const b = batch([50_001], [2]);
  const parts = splitBatch(b, 20_000, 3);
  assert.deepEqual(parts.map(rows), [16_668, 16_668, 16_667]);
  sameRows(parts, b);
  // A window that fits in one part is passed on as it is.
  assert.ok(parts[2].meter.length === 1 && parts[2].meter[0] === b.meter[0]);
});

test('small flushes and one-way settings stay whole', () => {
  assert.equal(splitBatch(batch([10_000], [500]), 20_000, 2).length, 1);
  assert.equal(splitBatch(batch([15_000, 15_000], []), 20_000, 1).length, 1);
  const b = batch([15_000, 15_000], []);
  assert.deepEqual(splitBatch(b, 20_000, 2).map((p) => p.sensor.length), [1, 1]);
  assert.deepEqual(splitBatch(batch([50_000], []), 20_000, 2).map(rows), [25_000, 25_000]);
});
