/**
 * Running statistics in the numerically stable form.
 *
 * Each statistic occupies STATS_WIDTH consecutive slots of a Float64Array:
 *   [count, mean, m2, min, max, sum]
 * Updates use Welford's method and partial results are merged with the pairwise formula
 * of Chan, Golub and LeVeque (1979). Variance is never computed as Σx² − (Σx)²/n: for
 * 1e9 + {4, 7, 13, 16} that form gives −170.67 in doubles while the true sample variance
 * is 30.
 */
export const STATS_WIDTH = 6;
export const S_COUNT = 0;
export const S_MEAN = 1;
export const S_M2 = 2;
export const S_MIN = 3;
export const S_MAX = 4;
export const S_SUM = 5;

/** Initialise one statistic slot at `o` as empty. */
export function statsInit(s: Float64Array, o: number): void {
  s[o + S_COUNT] = 0;
  s[o + S_MEAN] = 0;
  s[o + S_M2] = 0;
  s[o + S_MIN] = Infinity;
  s[o + S_MAX] = -Infinity;
  s[o + S_SUM] = 0;
}

/** Welford update with one value. */
export function statsAdd(s: Float64Array, o: number, x: number): void {
  const n = s[o + S_COUNT] + 1;
  const d = x - s[o + S_MEAN];
  const mean = s[o + S_MEAN] + d / n;
  s[o + S_COUNT] = n;
  s[o + S_MEAN] = mean;
  s[o + S_M2] += d * (x - mean);
  if (x < s[o + S_MIN]) s[o + S_MIN] = x;
  if (x > s[o + S_MAX]) s[o + S_MAX] = x;
  s[o + S_SUM] += x;
}

/** Chan et al. merge of slot `bo` of `b` into slot `ao` of `a`. */
export function statsMerge(a: Float64Array, ao: number, b: ArrayLike<number>, bo: number): void {
  const nb = b[bo + S_COUNT];
  if (nb === 0) return;
  const na = a[ao + S_COUNT];
  if (na === 0) {
    for (let k = 0; k < STATS_WIDTH; k++) a[ao + k] = b[bo + k];
    return;
  }
  const n = na + nb;
  const d = b[bo + S_MEAN] - a[ao + S_MEAN];
  a[ao + S_MEAN] = a[ao + S_MEAN] + (d * nb) / n;
  a[ao + S_M2] = a[ao + S_M2] + b[bo + S_M2] + (d * d * na * nb) / n;
  a[ao + S_COUNT] = n;
  if (b[bo + S_MIN] < a[ao + S_MIN]) a[ao + S_MIN] = b[bo + S_MIN];
  if (b[bo + S_MAX] > a[ao + S_MAX]) a[ao + S_MAX] = b[bo + S_MAX];
  a[ao + S_SUM] += b[bo + S_SUM];
}

/** Sample variance (n − 1), or null for fewer than two values. */
export function sampleVariance(s: ArrayLike<number>, o: number): number | null {
  const n = s[o + S_COUNT];
  if (n < 2) return null;
  const v = s[o + S_M2] / (n - 1);
  return v < 0 ? 0 : v;
}

/** Sample standard deviation, as Spark's `stddev`, or null for fewer than two values. */
export function sampleStddev(s: ArrayLike<number>, o: number): number | null {
  const v = sampleVariance(s, o);
  return v === null ? null : Math.sqrt(v);
}
