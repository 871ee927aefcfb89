/**
 * Running statistics in the numerically stable form.
 *
 * Each statistic occupies STATS_WIDTH consecutive slots of a Float64Array:
 *   [count, mean, m2, min, max, sumHi, sumLo]
 * Updates use Welford's method and partial results are merged with the pairwise formula
 * of Chan, Golub and LeVeque (1979). Variance is never computed as Σx² − (Σx)²/n: for
 * 1e9 + {4, 7, 13, 16} that form gives −170.67 in doubles while the true sample variance
 * is 30.
 *
 * The sum is also kept exactly, as an integer count of 1/scale units split over two
 * doubles (sumHi · 2^32 + sumLo), so that sums and averages do not depend on how the
 * input was split into batches: floating-point addition is not associative, and an
 * average that lies exactly halfway between two 4-decimal values (common with a handful
 * of 4-decimal readings) would otherwise round either way depending on the batching —
 * and a replay after a crash batches differently.
 */
export const STATS_WIDTH = 7;
export const S_COUNT = 0;
export const S_MEAN = 1;
export const S_M2 = 2;
export const S_MIN = 3;
export const S_MAX = 4;
export const S_HI = 5;
export const S_LO = 6;

const TWO32 = 4294967296;
const LO_LIMIT = 2 ** 52;

/** Initialise one statistic slot at `o` as empty. */
export function statsInit(s: Float64Array, o: number): void {
  s[o + S_COUNT] = 0;
  s[o + S_MEAN] = 0;
  s[o + S_M2] = 0;
  s[o + S_MIN] = Infinity;
  s[o + S_MAX] = -Infinity;
  s[o + S_HI] = 0;
  s[o + S_LO] = 0;
}

/** Keeps sumLo within ±2^52 so that every addition to it stays exact. */
function carry(s: Float64Array, o: number): void {
  const lo = s[o + S_LO];
  if (lo >= LO_LIMIT || lo <= -LO_LIMIT) {
    const c = Math.trunc(lo / TWO32);
    s[o + S_HI] += c;
    s[o + S_LO] = lo - c * TWO32;
  }
}

/**
 * Welford update with one value. `scale` is the exact sum's unit (1e9 counts
 * nanounits); |x| · scale must stay below 2^52.
 */
export function statsAdd(s: Float64Array, o: number, x: number, scale: number): void {
  const n = s[o + S_COUNT] + 1;
  const d = x - s[o + S_MEAN];
  const mean = s[o + S_MEAN] + d / n;
  s[o + S_COUNT] = n;
  s[o + S_MEAN] = mean;
  s[o + S_M2] += d * (x - mean);
  if (x < s[o + S_MIN]) s[o + S_MIN] = x;
  if (x > s[o + S_MAX]) s[o + S_MAX] = x;
  s[o + S_LO] += Math.round(x * scale);
  carry(s, o);
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
  a[ao + S_HI] += b[bo + S_HI];
  a[ao + S_LO] += b[bo + S_LO];
  carry(a, ao);
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

/** The exact sum in units of 1/scale. */
export function exactSum(s: ArrayLike<number>, o: number): bigint {
  return BigInt(s[o + S_HI]) * 4294967296n + BigInt(s[o + S_LO]);
}

/**
 * `num / den` rounded half away from zero to `places` decimals, as a decimal string
 * (PostgreSQL rounds NUMERIC input the same way).
 */
export function divideToDecimal(num: bigint, den: bigint, places: number): string {
  const f = 10n ** BigInt(places);
  const neg = num < 0n !== den < 0n && num !== 0n;
  const an = num < 0n ? -num : num;
  const ad = den < 0n ? -den : den;
  let q = (an * f) / ad;
  const r = (an * f) % ad;
  if (2n * r >= ad) q += 1n;
  const digits = q.toString().padStart(places + 1, '0');
  const text = places === 0 ? digits : digits.slice(0, -places) + '.' + digits.slice(-places);
  return neg && q !== 0n ? '-' + text : text;
}

/** The exact sum, rounded to `places` decimals. */
export function sumText(s: ArrayLike<number>, o: number, scale: number, places: number): string {
  return divideToDecimal(exactSum(s, o), BigInt(scale), places);
}

/** The exact mean, rounded to `places` decimals, or null for no values. */
export function meanText(s: ArrayLike<number>, o: number, scale: number, places: number): string | null {
  const n = s[o + S_COUNT];
  if (n === 0) return null;
  return divideToDecimal(exactSum(s, o), BigInt(scale) * BigInt(n), places);
}
