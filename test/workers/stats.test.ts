import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  STATS_WIDTH, divideToDecimal, exactSum, meanText, sampleStddev, sampleVariance, statsAdd, statsInit, statsMerge, sumText,
  S_COUNT, S_MAX, S_MEAN, S_MIN,
} from '../../src/workers/stats.js';

function fold(xs: number[], scale = 1e9): Float64Array {
  const s = new Float64Array(STATS_WIDTH);
  statsInit(s, 0);
  for (const x of xs) statsAdd(s, 0, x, scale);
  return s;
}

test('Welford gives sample variance 30 for 1e9 + {4, 7, 13, 16} (the naive formula gives -170.67)', () => {
  const xs = [4, 7, 13, 16].map((d) => 1e9 + d);
  const s = fold(xs, 1);
  assert.equal(sampleVariance(s, 0), 30);
  const naive = (xs.reduce((a, x) => a + x * x, 0) - xs.reduce((a, x) => a + x, 0) ** 2 / 4) / 3;
  assert.notEqual(Math.round(naive), 30, 'the naive formula really is wrong in doubles');
  assert.equal(s[S_COUNT], 4);
  assert.equal(s[S_MIN], 1e9 + 4);
  assert.equal(s[S_MAX], 1e9 + 16);
  assert.equal(s[S_MEAN], 1e9 + 10);
  assert.equal(exactSum(s, 0), 4000000040n);
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

test('exact sums do not depend on the order or the batching of the values', () => {
  const xs = Array.from({ length: 1000 }, (_, i) => ((i * 7919) % 1000) / 10 + 0.1 * (i % 3) - 999999.9999 * (i % 2));
  const whole = fold(xs);
  const halves = fold(xs.slice(0, 333));
  statsMerge(halves, 0, fold(xs.slice(333)), 0);
  const reversed = fold(xs.slice().reverse());
  assert.equal(exactSum(halves, 0), exactSum(whole, 0));
  assert.equal(exactSum(reversed, 0), exactSum(whole, 0));
  assert.equal(meanText(reversed, 0, 1e9, 4), meanText(whole, 0, 1e9, 4));
  // 0.1 + 0.2 + 0.3 is not 0.6 in doubles, but it is in the exact sum.
  assert.equal(sumText(fold([0.1, 0.2, 0.3]), 0, 1e9, 4), '0.6000');
  // Sums far beyond 2^53 units stay exact (carried into the high part).
  const big = fold(Array.from({ length: 20000 }, () => 999999.9999));
  assert.equal(sumText(big, 0, 1e9, 4), '19999999998.0000');
  assert.equal(meanText(big, 0, 1e9, 4), '999999.9999');
});

test('decimal rounding is half away from zero, as PostgreSQL rounds NUMERIC input', () => {
  assert.equal(divideToDecimal(229058955n, 100000n, 4), '2290.5896', 'an exact half rounds up');
  assert.equal(divideToDecimal(-229058955n, 100000n, 4), '-2290.5896');
  assert.equal(divideToDecimal(1n, 3n, 4), '0.3333');
  assert.equal(divideToDecimal(2n, 3n, 2), '0.67');
  assert.equal(divideToDecimal(-1n, 1000000n, 4), '0.0000', 'no negative zero');
  assert.equal(divideToDecimal(5n, 10n, 0), '1');
  assert.equal(meanText(fold([]), 0, 1e9, 4), null);
  assert.equal(meanText(fold([1.0001, 1.0002]), 0, 1e9, 4), '1.0002', '1.00015 rounds up');
});
