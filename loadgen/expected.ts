/**
 * The reference computation of the aggregate rows the engine must write for a set of
 * generated events, written independently of src/workers: exact decimal arithmetic on
 * scaled integers (BigInt), so there is no floating-point order to argue about, and
 * rounding as PostgreSQL rounds a NUMERIC on insert (half away from zero).
 *
 * Rows have the tables' columns; NUMERIC columns are strings with the column's scale, as
 * `pg` returns them (`"231.7000"`); `count` and `reading_count` are numbers; window bounds
 * are ISO 8601 UTC strings (`2026-11-28T00:05:00.000Z`). Bad and late records are left out
 * and counted by dead-letter reason instead.
 *
 * An engine that computes in doubles may differ from these rows by one unit in the last
 * place where the exact average lies exactly halfway (e.g. 0.12625 → 0.1263): compare
 * averages and standard deviations with a tolerance of one unit of the column's scale.
 */
import {
  DEFAULT_WINDOWS,
  type DeadLetterReason,
  type LoadEvent,
  type Source,
  type Windows,
} from './generate.js';

export interface SensorRow {
  window_start: string;
  window_end: string;
  sensor_type: string;
  sensor_id: string;
  avg_value: string;
  min_value: string;
  max_value: string;
  count: number;
  stddev_value: string | null;
}

export interface ConsumptionRow {
  window_start: string;
  window_end: string;
  customer_id: string;
  total_consumption: string;
  avg_consumption: string;
  reading_count: number;
}

export interface WeatherRow {
  window_start: string;
  window_end: string;
  avg_temperature: string;
  avg_humidity: string;
  avg_pressure: string;
  avg_wind_speed: string;
  weather_condition: string;
}

export type ReasonCounts = Record<DeadLetterReason, number>;

export interface ExpectedOutput {
  sensor: SensorRow[];
  consumption: ConsumptionRow[];
  weather: WeatherRow[];
  deadLetters: {
    total: number;
    byReason: ReasonCounts;
    /** Keyed by topic name. */
    byTopic: Record<string, ReasonCounts>;
  };
  /** Records that went into some aggregate row, per source. */
  aggregated: Record<Source, number>;
  events: number;
}

export interface ExpectedOptions {
  windows?: Partial<Windows>;
}

const SCALE4 = 10_000;
const SCALE2 = 100;

/** x as an exact integer multiple of 1/scale; throws if x has more decimals than that. */
function scaled(x: number, scale: number, what: string): bigint {
  const r = Math.round(x * scale);
  if (r / scale !== x || !Number.isSafeInteger(r)) {
    throw new RangeError(`expected: ${what} ${x} has more decimal places than the reference computes exactly`);
  }
  return BigInt(r);
}

/** num / den rounded half away from zero (den > 0). */
function roundDiv(num: bigint, den: bigint): bigint {
  const neg = num < 0n;
  const a = neg ? -num : num;
  const q = (2n * a + den) / (2n * den);
  return neg ? -q : q;
}

function isqrt(n: bigint): bigint {
  if (n < 2n) return n;
  let x = BigInt(Math.floor(Math.sqrt(Number(n))));
  // Newton steps from the double estimate until it is exact.
  while (true) {
    const y = (x + n / x) >> 1n;
    if (y >= x) break;
    x = y;
  }
  while (x * x > n) x--;
  while ((x + 1n) * (x + 1n) <= n) x++;
  return x;
}

/** An integer number of units of 10^-digits, as a decimal string with that many places. */
function formatUnits(units: bigint, digits: number): string {
  const neg = units < 0n;
  const s = (neg ? -units : units).toString().padStart(digits + 1, '0');
  return `${neg ? '-' : ''}${s.slice(0, s.length - digits)}.${s.slice(s.length - digits)}`;
}

function windowStart(ts: number, size: number): number {
  return ts - (((ts % size) + size) % size);
}

const iso = (ms: number): string => new Date(ms).toISOString();

interface SensorAcc {
  start: number;
  type: string;
  id: string;
  n: number;
  sum: bigint;
  sumSq: bigint;
  min: bigint;
  max: bigint;
}
interface ConsumptionAcc {
  start: number;
  customer: string;
  n: number;
  sum: bigint;
}
interface WeatherAcc {
  start: number;
  n: number;
  temperature: bigint;
  humidity: bigint;
  pressure: bigint;
  wind: bigint;
  conditions: Map<string, number>;
}

const zeroReasons = (): ReasonCounts => ({ invalid_json: 0, invalid_record: 0, out_of_range: 0, late: 0 });

/** Accumulates events one by one (for streams too large to hold), then gives the rows. */
export class ExpectedAggregator {
  private readonly windows: Windows;
  private readonly sensor = new Map<string, SensorAcc>();
  private readonly consumption = new Map<string, ConsumptionAcc>();
  private readonly weather = new Map<number, WeatherAcc>();
  private readonly reasons = zeroReasons();
  private readonly byTopic: Record<string, ReasonCounts> = {};
  private readonly aggregated: Record<Source, number> = { sensor: 0, meter: 0, weather: 0 };
  private events = 0;

  constructor(opts: ExpectedOptions = {}) {
    this.windows = { ...DEFAULT_WINDOWS, ...(opts.windows ?? {}) };
  }

  add(ev: LoadEvent): void {
    this.events++;
    if (ev.kind === 'bad' || ev.kind === 'late') {
      const reason: DeadLetterReason = ev.kind === 'late' ? 'late' : ev.reason!;
      this.reasons[reason]++;
      (this.byTopic[ev.topic] ??= zeroReasons())[reason]++;
      return;
    }
    const r = ev.record;
    if (r === undefined) throw new TypeError(`event ${ev.index} is ${ev.kind} but has no record`);
    this.aggregated[r.source]++;
    const ts = ev.eventTimeMs;
    if (r.source === 'sensor') {
      const start = windowStart(ts, this.windows.sensorMs);
      const k = `${start}\u0000${r.sensor_type}\u0000${r.sensor_id}`;
      const x = scaled(r.value, SCALE4, 'sensor value');
      let a = this.sensor.get(k);
      if (a === undefined) {
        a = { start, type: r.sensor_type, id: r.sensor_id, n: 0, sum: 0n, sumSq: 0n, min: x, max: x };
        this.sensor.set(k, a);
      }
      a.n++;
      a.sum += x;
      a.sumSq += x * x;
      if (x < a.min) a.min = x;
      if (x > a.max) a.max = x;
    } else if (r.source === 'meter') {
      const start = windowStart(ts, this.windows.meterMs);
      const k = `${start}\u0000${r.customer_id}`;
      let a = this.consumption.get(k);
      if (a === undefined) {
        a = { start, customer: r.customer_id, n: 0, sum: 0n };
        this.consumption.set(k, a);
      }
      a.n++;
      a.sum += scaled(r.reading, SCALE4, 'reading');
    } else {
      const start = windowStart(ts, this.windows.weatherMs);
      let a = this.weather.get(start);
      if (a === undefined) {
        a = { start, n: 0, temperature: 0n, humidity: 0n, pressure: 0n, wind: 0n, conditions: new Map() };
        this.weather.set(start, a);
      }
      a.n++;
      a.temperature += scaled(r.temperature, SCALE2, 'temperature');
      a.humidity += scaled(r.humidity, SCALE2, 'humidity');
      a.pressure += scaled(r.pressure, SCALE2, 'pressure');
      a.wind += scaled(r.wind_speed, SCALE2, 'wind_speed');
      a.conditions.set(r.weather_condition, (a.conditions.get(r.weather_condition) ?? 0) + 1);
    }
  }

  result(): ExpectedOutput {
    const ws = this.windows;
    const sensor: SensorRow[] = [...this.sensor.values()]
      .sort((a, b) => a.start - b.start || cmp(a.type, b.type) || cmp(a.id, b.id))
      .map((a) => {
        const n = BigInt(a.n);
        let stddev: string | null = null;
        if (a.n > 1) {
          // stddev in units of 1e-4 = sqrt((n·Σx² − (Σx)²) / (n(n−1))) with x in units of
          // 1e-4; rounded half up via floor(2·sqrt(q)) = isqrt(floor(4q)).
          const num = n * a.sumSq - a.sum * a.sum;
          const den = n * (n - 1n);
          const twice = isqrt((4n * num) / den);
          stddev = formatUnits((twice + 1n) / 2n, 4);
        }
        return {
          window_start: iso(a.start),
          window_end: iso(a.start + ws.sensorMs),
          sensor_type: a.type,
          sensor_id: a.id,
          avg_value: formatUnits(roundDiv(a.sum, n), 4),
          min_value: formatUnits(a.min, 4),
          max_value: formatUnits(a.max, 4),
          count: a.n,
          stddev_value: stddev,
        };
      });
    const consumption: ConsumptionRow[] = [...this.consumption.values()]
      .sort((a, b) => a.start - b.start || cmp(a.customer, b.customer))
      .map((a) => ({
        window_start: iso(a.start),
        window_end: iso(a.start + ws.meterMs),
        customer_id: a.customer,
        total_consumption: formatUnits(a.sum, 4),
        avg_consumption: formatUnits(roundDiv(a.sum, BigInt(a.n)), 4),
        reading_count: a.n,
      }));
    const weather: WeatherRow[] = [...this.weather.values()]
      .sort((a, b) => a.start - b.start)
      .map((a) => {
        const n = BigInt(a.n);
        return {
          window_start: iso(a.start),
          window_end: iso(a.start + ws.weatherMs),
          avg_temperature: formatUnits(roundDiv(a.temperature, n), 2),
          avg_humidity: formatUnits(roundDiv(a.humidity, n), 2),
          avg_pressure: formatUnits(roundDiv(a.pressure, n), 2),
          avg_wind_speed: formatUnits(roundDiv(a.wind, n), 2),
          weather_condition: modeOf(a.conditions),
        };
      });
    const total = this.reasons.invalid_json + this.reasons.invalid_record + this.reasons.out_of_range + this.reasons.late;
    return {
      sensor,
      consumption,
      weather,
      deadLetters: { total, byReason: { ...this.reasons }, byTopic: structuredClone(this.byTopic) },
      aggregated: { ...this.aggregated },
      events: this.events,
    };
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The most frequent condition; a tie goes to the alphabetically first. */
function modeOf(counts: Map<string, number>): string {
  let best = '';
  let bestN = -1;
  for (const [c, n] of counts) {
    if (n > bestN || (n === bestN && c < best)) {
      best = c;
      bestN = n;
    }
  }
  return best;
}

/** The aggregate rows and dead-letter counts the engine must produce for `events`. */
export function expectedAggregates(events: Iterable<LoadEvent>, opts: ExpectedOptions = {}): ExpectedOutput {
  const acc = new ExpectedAggregator(opts);
  for (const ev of events) acc.add(ev);
  return acc.result();
}

