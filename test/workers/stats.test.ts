import { test } from 'node:test';
import assert from 'node:assert/strict';
import { STATS_WIDTH, sampleStddev, sampleVariance, statsAdd, statsInit, statsMerge, S_COUNT, S_MAX, S_MEAN, S_MIN, S_SUM } from '../../src/workers/stats.js';

function fold(xs: number[]): Float64Array {
  const s = new Float64Array(STATS_WIDTH);
  statsInit(s, 0);
  for (const x of xs) statsAdd(s, 0, x);
  return s;
}

test('Welford gives sample variance 30 for 1e9 + {4, 7, 13, 16} (the naive formula gives -170.67)', () => {
  const xs = [4, 7, 13, 16].map((d) => 1e9 + d);
  const s = fold(xs);
  assert.equal(sampleVariance(s, 0), 30);
  const naive = (xs.reduce((a, x) => a + x * x, 0) - xs.reduce((a, x) => a + x, 0) ** 2 / 4) / 3;
  assert.notEqual(Math.round(naive), 30, 'the naive formula really is wrong in doubles');
  assert.equal(s[S_COUNT], 4);
  assert.equal(s[S_MIN], 1e9 + 4);
  assert.equal(s[S_MAX], 1e9 + 16);
  assert.equal(s[S_MEAN], 1e9 + 10);
  assert.equal(s[S_SUM], 4e9 + 40);
});

test('Chan merge of two halves equals folding all values, in any split', () => {
  const xs = Array.from({ length: 101 }, (_, i) => 999000 + Math.sin(i) * 0.0009 + (i % 3) * 0.0001);
  const whole = fold(xs);
  for (const cut of [0, 1, 37, 100, 101]) {
    const a = fold(xs.slice(0, cut));
    const b = fold(xs.slice(cut));
    statsMerge(a, 0, b, 0);
    assert.equal(a[S_COUNT], whole[S_COUNT]);
    assert.ok(Math.abs(a[S_MEAN] - whole[S_MEAN]) < 1e-9, `mean at cut ${cut}`);
    const v = sampleVariance(whole, 0)!;
    assert.ok(v > 1e-8);
    // Inputs near 999000 carry ~1e-10 of representation error, so agreement to 1e-6 relative is exact.
    assert.ok(Math.abs(sampleVariance(a, 0)! - v) <= 1e-6 * v, `variance at cut ${cut}`);
    assert.equal(a[S_MIN], whole[S_MIN]);
    assert.equal(a[S_MAX], whole[S_MAX]);
  }
});

test('merging into or from an empty statistic is the identity', () => {
  const a = fold([]);
  const b = fold([1, 2, 3]);
  statsMerge(a, 0, b, 0);
  assert.deepEqual(Array.from(a), Array.from(b));
  statsMerge(b, 0, fold([]), 0);
  assert.deepEqual(Array.from(a), Array.from(b));
});

test('stddev is null for one value and 0 for equal values', () => {
  assert.equal(sampleStddev(fold([5]), 0), null);
  assert.equal(sampleStddev(fold([5, 5, 5]), 0), 0);
  assert.equal(sampleStddev(fold([2, 4, 4, 4, 5, 5, 7, 9]), 0), Math.sqrt(32 / 7));
});
