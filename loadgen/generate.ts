/**
 * Deterministic event generation for the three input topics: sensor readings, meter
 * readings and weather, shaped exactly as the contract's messages (section 1), with a
 * chosen share of out-of-order, late and bad records. Pure: no I/O, no clock, no global
 * randomness; the same options (seed included) give the same events, byte for byte.
 *
 * Event time. Event i carries the base time `startMs + floor(i · spanMs / events)` (or
 * `i · timeStepMs` without a fixed count), so simulated time only moves forward and every
 * record's timestamp is ≤ the base time when it is produced. Hence:
 * - an on-time record is never late: the watermark of its topic is at most its own
 *   partition's maximum event time minus the lateness, which is ≤ base − lateness;
 * - an out-of-order record is jittered back by less than half the lateness, so it is on
 *   time for the same reason;
 * - a late record is generated only once every partition of its topic that receives keys
 *   has progressed, with a timestamp at least (lateness + 2 × window) behind a third of
 *   the slowest partition's progress (see `lateCeiling`), so its window has ended before
 *   the watermark whatever the order in which the engine interleaves partitions, within
 *   reason.
 * - bad records carry the base time where they carry a readable timestamp at all, so they
 *   cannot move a watermark past what on-time records do.
 *
 * Counts are exact for a fixed number of events: the kinds are drawn by selection
 * sampling (Knuth's algorithm S), so `round(events × share)` records of each kind come out.
 */
import { byStream, KIND_NAMES, type StreamName } from '../src/common/streams.js';
import type { WeatherMessage } from '../src/producer/weather.js';
import { Climate, ClimateStation, DEFAULT_WEATHER_EFFECT, weatherEffectKwh, type WeatherEffect } from './climate.js';
import { partitionForKey } from './partition.js';
import { gaussian, mulberry32, randInt, subSeed, type Rng } from './random.js';

export type Source = StreamName;
export const SOURCES: readonly Source[] = KIND_NAMES;
export type EventKind = 'on_time' | 'out_of_order' | 'late' | 'bad';
export type BadReason = 'invalid_json' | 'invalid_record' | 'out_of_range';
export const BAD_REASONS: readonly BadReason[] = ['invalid_json', 'invalid_record', 'out_of_range'];
export type DeadLetterReason = BadReason | 'late';

export interface Windows {
  /** Sensor window size (ms), default 5 min. */
  sensorMs: number;
  /** Meter (consumption) window size (ms), default 1 h. */
  meterMs: number;
  /** Weather window size (ms), default 1 h. */
  weatherMs: number;
}

export interface Topics {
  sensor: string;
  meter: string;
  weather: string;
}

export interface GenerateOptions {
  /** Seed of the PRNG; the same seed and options give the same bytes. */
  seed: number;
  /** Number of events in all; `Infinity` for an endless stream (then `timeStepMs` sets event time). */
  events: number;
  sensors: number;
  meters: number;
  /** Meters are spread over customers round-robin: meter j belongs to customer j mod customers. */
  customers: number;
  /** Weather stations; with one the Kafka key is `weather`, with more it is the city name. */
  weatherLocations: number;
  /** Event time of the first event (epoch ms). */
  startMs: number;
  /** Simulated event time covered by `events` events (ms). */
  spanMs: number;
  /** Event time per event when `events` is infinite (ms). */
  timeStepMs: number;
  /** Relative weights of the three sources. */
  mix: Record<Source, number>;
  /** Shares of all events (0–1). */
  outOfOrderShare: number;
  lateShare: number;
  badShare: number;
  /** Partitions per topic. */
  partitions: Record<Source, number>;
  topics: Topics;
  /** The engine's allowed lateness (ms), default 10 min. */
  latenessMs: number;
  windows: Windows;
  /** 'contract': timestamps and numbers exactly as the contract's examples; 'mixed': also
   * the lenient forms (space separator, zone offsets, epoch ms, numbers in strings). */
  timestampStyle: 'contract' | 'mixed';
  /** How consumption answers the weather (kWh per reading per heating / cooling degree). */
  weatherEffect: WeatherEffect;
  /** Sensor faults planted for the health views (see `Anomalies`). */
  anomalies: Anomalies;
}

/**
 * Sensor faults to plant, each on its own sensor (so a sensor has at most one fault):
 * - `spikes`: one sensor window whose readings jump halfway from the sensor's level to the
 *   upper edge of its type's band (`SENSOR_BANDS`): far from its own baseline, still in band;
 * - `outOfBand`: one sensor window whose readings sit beyond the band (above and below in
 *   turn), by half the distance from the sensor's level to that edge;
 * - `silenced`: sensors that send nothing for the last `silenceMs` of the span.
 * Spike and out-of-band windows lie in the second half of the span, so that a trailing
 * baseline of up to half the span's windows exists before them. Needs a fixed number of
 * events. `EventGenerator.planted` lists what was planted.
 */
export interface Anomalies {
  spikes: number;
  outOfBand: number;
  silenced: number;
  silenceMs: number;
}

export const NO_ANOMALIES: Anomalies = { spikes: 0, outOfBand: 0, silenced: 0, silenceMs: 3_600_000 };

/** What `Anomalies` planted, by sensor; window starts in epoch ms. */
export interface Planted {
  spikes: { sensorId: string; sensorType: string; windowStartMs: number }[];
  outOfBand: { sensorId: string; sensorType: string; windowStartMs: number; side: 'above' | 'below' }[];
  silenced: { sensorId: string; sensorType: string; fromMs: number }[];
}

/** The engine's default topics (the contract's names). */
export const DEFAULT_TOPICS: Topics = byStream((s) => s.topic.def);

export const DEFAULT_WINDOWS: Windows = { sensorMs: 300_000, meterMs: 3_600_000, weatherMs: 3_600_000 };

export const DEFAULT_GENERATE_OPTIONS: GenerateOptions = {
  seed: 1,
  events: 100_000,
  sensors: 100,
  meters: 200,
  customers: 50,
  weatherLocations: 1,
  startMs: Date.UTC(2026, 10, 28, 0, 0, 0),
  spanMs: 24 * 3_600_000,
  timeStepMs: 10,
  mix: { sensor: 0.6, meter: 0.35, weather: 0.05 },
  outOfOrderShare: 0,
  lateShare: 0,
  badShare: 0,
  partitions: { sensor: 1, meter: 1, weather: 1 },
  topics: DEFAULT_TOPICS,
  latenessMs: 600_000,
  windows: DEFAULT_WINDOWS,
  timestampStyle: 'contract',
  weatherEffect: DEFAULT_WEATHER_EFFECT,
  anomalies: NO_ANOMALIES,
};

export type GenerateInput = Partial<
  Omit<GenerateOptions, 'partitions' | 'mix' | 'topics' | 'windows' | 'weatherEffect' | 'anomalies'>
> & {
  partitions?: number | Partial<Record<Source, number>>;
  mix?: Partial<Record<Source, number>>;
  topics?: Partial<Topics>;
  windows?: Partial<Windows>;
  weatherEffect?: Partial<WeatherEffect>;
  anomalies?: Partial<Anomalies>;
};

/** The typed values of a valid record, as the engine should read them. */
export type ValidRecord =
  | { source: 'sensor'; sensor_id: string; sensor_type: string; value: number }
  | { source: 'meter'; customer_id: string; meter_id: string; reading: number }
  | {
      source: 'weather';
      temperature: number;
      humidity: number;
      pressure: number;
      wind_speed: number;
      weather_condition: string;
    };

export interface LoadEvent {
  /** Position in the generated stream, from 0. */
  index: number;
  source: Source;
  topic: string;
  partition: number;
  key: string;
  /** The payload: a string (UTF-8) or, for payloads that are deliberately not UTF-8, bytes. */
  value: string | Buffer;
  kind: EventKind;
  /** For bad records: the dead-letter reason the engine must give. */
  reason?: BadReason;
  /** Event time (epoch ms) the record carries; for bad records the base time. */
  eventTimeMs: number;
  /** For valid records (on_time, out_of_order, late): the values as the engine reads them. */
  record?: ValidRecord;
}

function positiveInt(name: string, v: number, allowInfinity = false): void {
  if (allowInfinity && v === Infinity) return;
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`options.${name} must be a positive integer (got ${v})`);
}
function share(name: string, v: number): void {
  if (!(v >= 0 && v <= 1)) throw new RangeError(`options.${name} must be a share between 0 and 1 (got ${v})`);
}

/** Fills in defaults and checks every option; throws a RangeError naming the option. */
export function resolveGenerateOptions(input: GenerateInput = {}): GenerateOptions {
  const d = DEFAULT_GENERATE_OPTIONS;
  const p = input.partitions;
  const partitions =
    typeof p === 'number' ? { sensor: p, meter: p, weather: p } : { ...d.partitions, ...(p ?? {}) };
  const o: GenerateOptions = {
    ...d,
    ...input,
    partitions,
    mix: { ...d.mix, ...(input.mix ?? {}) },
    topics: { ...d.topics, ...(input.topics ?? {}) },
    windows: { ...d.windows, ...(input.windows ?? {}) },
    weatherEffect: { ...d.weatherEffect, ...(input.weatherEffect ?? {}) },
    anomalies: { ...d.anomalies, ...(input.anomalies ?? {}) },
  } as GenerateOptions;
  if (!Number.isInteger(o.seed)) throw new RangeError(`options.seed must be an integer (got ${o.seed})`);
  positiveInt('events', o.events, true);
  positiveInt('sensors', o.sensors);
  positiveInt('meters', o.meters);
  positiveInt('customers', o.customers);
  positiveInt('weatherLocations', o.weatherLocations);
  if (!Number.isInteger(o.startMs)) throw new RangeError(`options.startMs must be an integer epoch ms`);
  positiveInt('spanMs', o.spanMs);
  if (!(o.timeStepMs > 0)) throw new RangeError(`options.timeStepMs must be positive`);
  for (const s of SOURCES) {
    positiveInt(`partitions.${s}`, o.partitions[s]);
    if (!(o.mix[s] >= 0)) throw new RangeError(`options.mix.${s} must be ≥ 0`);
    if (typeof o.topics[s] !== 'string' || o.topics[s] === '') throw new RangeError(`options.topics.${s} must be a topic name`);
  }
  if (!(o.mix.sensor + o.mix.meter + o.mix.weather > 0)) throw new RangeError('options.mix must give some source a weight > 0');
  share('outOfOrderShare', o.outOfOrderShare);
  share('lateShare', o.lateShare);
  share('badShare', o.badShare);
  if (o.outOfOrderShare + o.lateShare + o.badShare > 1) throw new RangeError('options: outOfOrderShare + lateShare + badShare must be ≤ 1');
  positiveInt('latenessMs', o.latenessMs);
  positiveInt('windows.sensorMs', o.windows.sensorMs);
  positiveInt('windows.meterMs', o.windows.meterMs);
  positiveInt('windows.weatherMs', o.windows.weatherMs);
  if (o.timestampStyle !== 'contract' && o.timestampStyle !== 'mixed') {
    throw new RangeError(`options.timestampStyle must be 'contract' or 'mixed'`);
  }
  for (const k of ['heatingKwhPerDegree', 'coolingKwhPerDegree'] as const) {
    const v = o.weatherEffect[k];
    if (!(Number.isFinite(v) && Math.abs(v) <= 10)) throw new RangeError(`options.weatherEffect.${k} must be a number from -10 to 10 (got ${v})`);
  }
  const a = o.anomalies;
  for (const k of ['spikes', 'outOfBand', 'silenced'] as const) {
    if (!Number.isInteger(a[k]) || a[k] < 0) throw new RangeError(`options.anomalies.${k} must be an integer ≥ 0 (got ${a[k]})`);
  }
  positiveInt('anomalies.silenceMs', a.silenceMs);
  if (a.spikes + a.outOfBand + a.silenced > 0) {
    if (o.events === Infinity) throw new RangeError('options.anomalies need a fixed number of events');
    if (a.spikes + a.outOfBand + a.silenced > o.sensors) {
      throw new RangeError(`options.anomalies: ${a.spikes + a.outOfBand + a.silenced} faults need as many sensors (got ${o.sensors})`);
    }
    if (Math.floor(o.spanMs / o.windows.sensorMs) < 4) throw new RangeError('options.anomalies need a span of at least 4 sensor windows');
    if (a.silenced > 0 && a.silenceMs >= o.spanMs) throw new RangeError('options.anomalies.silenceMs must be shorter than the span');
  }
  return o;
}

// ------------------------------------------------------------------ the simulated world

const SENSOR_TYPES = [
  { type: 'voltage', unit: 'V', lo: 200, hi: 250, center: 230, sd: 4, dp: 1 },
  { type: 'current', unit: 'A', lo: 0, hi: 100, center: 35, sd: 12, dp: 2 },
  { type: 'power', unit: 'W', lo: 0, hi: 5000, center: 1800, sd: 600, dp: 1 },
  { type: 'frequency', unit: 'Hz', lo: 49, hi: 51, center: 50, sd: 0.04, dp: 3 },
  { type: 'temperature', unit: 'C', lo: -10, hi: 50, center: 18, sd: 6, dp: 2 },
  { type: 'humidity', unit: '%', lo: 20, hi: 90, center: 60, sd: 10, dp: 1 },
] as const;

/**
 * The bands the health views' default limits hold (sql/health.sql, sensor_limits): a
 * normal reading never leaves them (noise is cut at 4 standard deviations), so only
 * planted faults do. Voltage: 230 V ± 10 % (EN 50160); frequency: 50 Hz ± 0.2 Hz.
 */
export const SENSOR_BANDS: Record<(typeof SENSOR_TYPES)[number]['type'], readonly [number, number]> = {
  voltage: [207, 253],
  current: [0, 100],
  power: [0, 5000],
  frequency: [49.8, 50.2],
  temperature: [-10, 50],
  humidity: [0, 100],
};

const CITIES = [
  { name: 'prishtina', lat: 42.66, lon: 21.17 },
  { name: 'tirana', lat: 41.33, lon: 19.82 },
  { name: 'skopje', lat: 41.99, lon: 21.43 },
  { name: 'prizren', lat: 42.21, lon: 20.74 },
  { name: 'tetovo', lat: 42.01, lon: 20.97 },
  { name: 'durres', lat: 41.32, lon: 19.45 },
  { name: 'peja', lat: 42.66, lon: 20.29 },
  { name: 'ohrid', lat: 41.12, lon: 20.8 },
];

interface Sensor {
  id: string;
  type: (typeof SENSOR_TYPES)[number];
  location: string;
  center: number;
  partition: number;
  /** A planted fault: this sensor's readings in one window. */
  fault?: { kind: 'spike' | 'above' | 'below'; windowStartMs: number };
  /** Planted silence: no readings from this base time on. */
  silentFrom?: number;
}
interface Meter {
  id: string;
  customer: string;
  solar: boolean;
  partition: number;
}
interface Station {
  key: string;
  sim: ClimateStation;
  partition: number;
}

const roundTo = (x: number, dp: number): number => {
  const f = 10 ** dp;
  return Math.round(x * f) / f;
};
const clamp = (x: number, lo: number, hi: number): number => (x < lo ? lo : x > hi ? hi : x);
const pad = (n: number, w: number): string => String(n).padStart(w, '0');

let cachedSecond = NaN;
let cachedPrefix = '';
/** `2026-11-28T02:51:52.512000`: the contract's sensor/meter form (no zone = UTC). */
function pythonIso(ms: number): string {
  // Formatting a Date is a third of the generator's time; consecutive events mostly share
  // the second, so only the milliseconds are formatted anew.
  const second = Math.floor(ms / 1000);
  if (second !== cachedSecond) {
    cachedSecond = second;
    cachedPrefix = new Date(second * 1000).toISOString().slice(0, 20);
  }
  const m = ms - second * 1000;
  return cachedPrefix + (m < 10 ? '00' : m < 100 ? '0' : '') + m + '000';
}

/** One of the lenient timestamp forms, all meaning exactly `ms`. */
function lenientTimestamp(ms: number, variant: number): string | number {
  switch (variant) {
    case 0:
      return new Date(ms).toISOString();
    case 1:
      return new Date(ms).toISOString().slice(0, 23).replace('T', ' ');
    case 2:
      return new Date(ms + 2 * 3_600_000).toISOString().slice(0, 23) + '+02:00';
    case 3:
      return new Date(ms - 5 * 3_600_000 - 30 * 60_000).toISOString().slice(0, 23) + '123-05:30';
    default:
      return ms;
  }
}

const UNREADABLE_TIMESTAMPS: readonly unknown[] = ['yesterday', '2026-02-30T10:00:00', '28/11/2026 02:51', true, '', { ms: 1 }];
const NON_FINITE = '__NON_FINITE__';
const LATE_DEPTH = 3;
const NOT_UTF8 = '__NOT_UTF8__';

// ------------------------------------------------------------------ the generator

/**
 * The stateful generator behind `generate()`. Use it directly to pull events one by one
 * without the cost of a JS generator (`next()`), or to read the counts so far (`stats`).
 */
export class EventGenerator {
  readonly options: GenerateOptions;
  readonly stats = {
    events: 0,
    bySource: { sensor: 0, meter: 0, weather: 0 } as Record<Source, number>,
    byKind: { on_time: 0, out_of_order: 0, late: 0, bad: 0 } as Record<EventKind, number>,
    byReason: { invalid_json: 0, invalid_record: 0, out_of_range: 0 } as Record<BadReason, number>,
    /** Late records that had to wait until every partition of a topic had progressed. */
    lateDeferred: 0,
  };

  private readonly rng: Rng;
  private readonly sensors: Sensor[];
  private readonly meters: Meter[];
  private readonly stations: Station[];
  private readonly sensorsBy: Sensor[][];
  /** Per partition of sensorsBy, the sensors that are never silenced. */
  private readonly liveSensorsBy: Sensor[][];
  private readonly climate: Climate;
  private readonly metersBy: Meter[][];
  private readonly stationsBy: Station[][];
  private readonly mixCum: [number, number];
  private readonly progress: Record<Source, Float64Array>;
  private readonly inUse: Record<Source, number[]>;
  private readonly margin: Record<Source, number>;
  private readonly windowOf: Record<Source, number>;
  private remaining: { late: number; bad: number; ooo: number };
  private i = 0;

  constructor(input: GenerateInput | GenerateOptions = {}) {
    const o = (this.options = resolveGenerateOptions(input));
    this.rng = mulberry32(subSeed(o.seed, 0));
    const world = mulberry32(subSeed(o.seed, 1));
    this.sensors = [];
    for (let s = 0; s < o.sensors; s++) {
      const type = SENSOR_TYPES[s % SENSOR_TYPES.length];
      const id = `sensor_${pad(s, 3)}`;
      const lat = roundTo(41 + world() * 2, 2);
      const lon = roundTo(19.5 + world() * 2, 2);
      this.sensors.push({
        id,
        type,
        location: `{"lat":${lat},"lon":${lon}}`,
        center: type.center + (world() - 0.5) * type.sd,
        partition: partitionForKey(id, o.partitions.sensor),
      });
    }
    this.meters = [];
    for (let m = 0; m < o.meters; m++) {
      const id = `meter_${m}`;
      this.meters.push({
        id,
        customer: `customer_${m % o.customers}`,
        solar: m % 7 === 3,
        partition: partitionForKey(id, o.partitions.meter),
      });
    }
    // One regional climate: every station measures it, and consumption answers it.
    this.climate = new Climate({ seed: subSeed(o.seed, 2) });
    this.stations = [];
    for (let w = 0; w < o.weatherLocations; w++) {
      const city = CITIES[w % CITIES.length];
      const name = w < CITIES.length ? city.name : `${city.name}_${Math.floor(w / CITIES.length)}`;
      const key = o.weatherLocations === 1 ? 'weather' : name;
      const sim = new ClimateStation(this.climate, mulberry32(subSeed(o.seed, 100 + w)), city.lat, city.lon);
      this.stations.push({ key, sim, partition: partitionForKey(key, o.partitions.weather) });
    }
    this.plantFaults();
    this.sensorsBy = byPartition(this.sensors);
    this.liveSensorsBy = this.sensorsBy.map((ss) => ss.filter((s) => s.silentFrom === undefined));
    this.metersBy = byPartition(this.meters);
    this.stationsBy = byPartition(this.stations);
    const total = o.mix.sensor + o.mix.meter + o.mix.weather;
    this.mixCum = [o.mix.sensor / total, (o.mix.sensor + o.mix.meter) / total];
    this.progress = {
      sensor: new Float64Array(o.partitions.sensor).fill(-Infinity),
      meter: new Float64Array(o.partitions.meter).fill(-Infinity),
      weather: new Float64Array(o.partitions.weather).fill(-Infinity),
    };
    const used = (ps: number[]): number[] => [...new Set(ps)].sort((a, b) => a - b);
    this.inUse = {
      sensor: used(o.mix.sensor > 0 ? this.sensors.map((s) => s.partition) : []),
      meter: used(o.mix.meter > 0 ? this.meters.map((m) => m.partition) : []),
      weather: used(o.mix.weather > 0 ? this.stations.map((s) => s.partition) : []),
    };
    this.windowOf = { sensor: o.windows.sensorMs, meter: o.windows.meterMs, weather: o.windows.weatherMs };
    this.margin = {
      sensor: o.latenessMs + 2 * o.windows.sensorMs,
      meter: o.latenessMs + 2 * o.windows.meterMs,
      weather: o.latenessMs + 2 * o.windows.weatherMs,
    };
    const n = o.events;
    this.remaining =
      n === Infinity
        ? { late: 0, bad: 0, ooo: 0 }
        : { late: Math.round(n * o.lateShare), bad: Math.round(n * o.badShare), ooo: Math.round(n * o.outOfOrderShare) };
  }

  /**
   * Chooses the sensors and windows of `options.anomalies` from a stream of its own, so
   * that planting nothing leaves every other draw as it was.
   */
  private plantFaults(): void {
    const o = this.options;
    const a = o.anomalies;
    if (a.spikes + a.outOfBand + a.silenced === 0) return;
    const rng = mulberry32(subSeed(o.seed, 3));
    const order = this.sensors.map((_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = randInt(rng, i + 1);
      [order[i], order[j]] = [order[j], order[i]];
    }
    const w = o.windows.sensorMs;
    const firstFull = Math.ceil(o.startMs / w) * w;
    const full = Math.floor((o.startMs + o.spanMs - firstFull) / w);
    // second half of the span, never its last window (it may be cut short by the span's end)
    const lo = Math.floor(full / 2);
    const windowAt = (): number => firstFull + (lo + randInt(rng, Math.max(1, full - 1 - lo))) * w;
    let next = 0;
    for (let k = 0; k < a.spikes; k++) this.sensors[order[next++]].fault = { kind: 'spike', windowStartMs: windowAt() };
    for (let k = 0; k < a.outOfBand; k++) {
      this.sensors[order[next++]].fault = { kind: k % 2 === 0 ? 'above' : 'below', windowStartMs: windowAt() };
    }
    const from = o.startMs + o.spanMs - a.silenceMs;
    const livePer = new Map<number, number>();
    for (const s of this.sensors) livePer.set(s.partition, (livePer.get(s.partition) ?? 0) + 1);
    let silenced = 0;
    for (; next < order.length && silenced < a.silenced; next++) {
      const s = this.sensors[order[next]];
      // a partition keeps one live sensor at least: its share of records needs a key
      if (livePer.get(s.partition)! < 2) continue;
      livePer.set(s.partition, livePer.get(s.partition)! - 1);
      s.silentFrom = from;
      silenced++;
    }
    if (silenced < a.silenced) {
      throw new RangeError(`options.anomalies.silenced: only ${silenced} sensors can be silenced and leave each partition one`);
    }
  }

  /** The faults planted by `options.anomalies`. */
  get planted(): Planted {
    const out: Planted = { spikes: [], outOfBand: [], silenced: [] };
    for (const s of this.sensors) {
      const base = { sensorId: s.id, sensorType: s.type.type };
      if (s.fault?.kind === 'spike') out.spikes.push({ ...base, windowStartMs: s.fault.windowStartMs });
      else if (s.fault !== undefined) out.outOfBand.push({ ...base, windowStartMs: s.fault.windowStartMs, side: s.fault.kind });
      if (s.silentFrom !== undefined) out.silenced.push({ ...base, fromMs: s.silentFrom });
    }
    return out;
  }

  /** The regional temperature (°C) at `ms`, as consumption answers it (no measurement noise). */
  temperatureAt(ms: number): number {
    return this.climate.temperatureAt(ms);
  }

  /** Whether there are events left (always true for an endless stream). */
  get done(): boolean {
    return this.i >= this.options.events;
  }

  /** The partitions of each topic that receive keys (the others stay empty). */
  partitionsInUse(source: Source): readonly number[] {
    return this.inUse[source];
  }

  private baseTime(i: number): number {
    const o = this.options;
    return o.events === Infinity ? o.startMs + Math.floor(i * o.timeStepMs) : o.startMs + Math.floor((i * o.spanMs) / o.events);
  }

  /**
   * The latest timestamp a late record may carry now, or NaN if none can be placed yet:
   * a third of the way from the start to the slowest partition's progress, minus the
   * margin. A third, not all the way, because an engine replaying a backlog reads its
   * partitions at different speeds in event time (a partition with more records falls
   * behind one with fewer when both are fetched record for record or byte for byte); the
   * watermark it keeps is the slowest partition's, and this stays late as long as no
   * partition has got through less than a third of its event time when another is done.
   */
  private lateCeiling(source: Source): number {
    const ps = this.inUse[source];
    if (ps.length === 0) return NaN;
    const prog = this.progress[source];
    let oldest = Infinity;
    for (const p of ps) if (prog[p] < oldest) oldest = prog[p];
    const start = this.options.startMs;
    const ceiling = start + Math.floor((oldest - start) / LATE_DEPTH) - this.margin[source];
    return ceiling - this.windowOf[source] >= start ? ceiling : NaN;
  }

  /**
   * A partition first (uniformly among those with keys), then a key on it: so partitions
   * get equal shares of the records and advance through event time at the same pace when
   * read record for record, which keeps the watermark of a backlog replay close to the
   * base time whatever the hash does with few keys.
   */
  private pickKey<T>(byPart: T[][]): T {
    const keys = byPart[randInt(this.rng, byPart.length)];
    return keys[randInt(this.rng, keys.length)];
  }

  private pickSource(): Source {
    const r = this.rng();
    return r < this.mixCum[0] ? 'sensor' : r < this.mixCum[1] ? 'meter' : 'weather';
  }

  /** The next event; throws when `done`. */
  next(): LoadEvent {
    const o = this.options;
    const i = this.i;
    if (i >= o.events) throw new RangeError('the generator has produced all its events');
    this.i++;
    const base = this.baseTime(i);
    const rng = this.rng;

    let kind: EventKind;
    if (o.events === Infinity) {
      const r = rng();
      kind = r < o.lateShare ? 'late' : r < o.lateShare + o.badShare ? 'bad' : r < o.lateShare + o.badShare + o.outOfOrderShare ? 'out_of_order' : 'on_time';
    } else {
      const rem = this.remaining;
      const r = rng() * (o.events - i);
      kind = r < rem.late ? 'late' : r < rem.late + rem.bad ? 'bad' : r < rem.late + rem.bad + rem.ooo ? 'out_of_order' : 'on_time';
    }
    let source = this.pickSource();
    let ts = base;
    if (kind === 'late') {
      let ceiling = this.lateCeiling(source);
      if (Number.isNaN(ceiling)) {
        // Not yet placeable on this topic: try the others (in a fixed order), else emit
        // an on-time record now and keep the late one owed (algorithm S places it later).
        for (const s of SOURCES) {
          if (o.mix[s] > 0 && !Number.isNaN(this.lateCeiling(s))) {
            source = s;
            ceiling = this.lateCeiling(s);
            break;
          }
        }
      }
      if (Number.isNaN(ceiling)) {
        kind = 'on_time';
        this.stats.lateDeferred++;
      } else {
        ts = ceiling - randInt(rng, this.windowOf[source]);
        this.remaining.late--;
      }
    } else if (kind === 'bad') {
      this.remaining.bad--;
    } else if (kind === 'out_of_order') {
      this.remaining.ooo--;
      ts = Math.max(o.startMs, base - 1 - randInt(rng, Math.max(1, Math.floor(o.latenessMs / 2) - 1)));
    }

    const ev = this.build(i, source, kind, ts, base);
    if (kind === 'on_time' || kind === 'out_of_order') {
      const prog = this.progress[source];
      if (ts > prog[ev.partition]) prog[ev.partition] = ts;
    }
    const st = this.stats;
    st.events++;
    st.bySource[source]++;
    st.byKind[ev.kind]++;
    if (ev.reason !== undefined) st.byReason[ev.reason]++;
    return ev;
  }

  /** A sensor as `pickKey` picks one, but never one that is silenced at `base`. */
  private pickSensor(base: number): Sensor {
    const p = randInt(this.rng, this.sensorsBy.length);
    const keys = this.sensorsBy[p];
    const s = keys[randInt(this.rng, keys.length)];
    if (s.silentFrom === undefined || base < s.silentFrom) return s;
    const live = this.liveSensorsBy[p];
    return live[randInt(this.rng, live.length)];
  }

  /** A sensor's reading at `ts`: its level plus noise cut at 4 sd, or a planted fault. */
  private sensorValue(s: Sensor, ts: number): number {
    const t = s.type;
    const g = clamp(gaussian(this.rng), -4, 4);
    const f = s.fault;
    if (f !== undefined && ts - (((ts % this.windowOf.sensor) + this.windowOf.sensor) % this.windowOf.sensor) === f.windowStartMs) {
      const [low, high] = SENSOR_BANDS[t.type];
      const level =
        f.kind === 'spike' ? s.center + (high - s.center) / 2 : f.kind === 'above' ? high + (high - s.center) / 2 : low - (s.center - low) / 2;
      return roundTo(level + (g * t.sd) / 4, t.dp);
    }
    return roundTo(clamp(s.center + g * t.sd, t.lo, t.hi), t.dp);
  }

  private build(index: number, source: Source, kind: EventKind, ts: number, base: number): LoadEvent {
    const o = this.options;
    const rng = this.rng;
    const topic = o.topics[source];
    const lenient = o.timestampStyle === 'mixed' && rng() < 0.5;
    const variant = randInt(rng, 5);
    if (source === 'sensor') {
      const s = this.pickSensor(base);
      const t = s.type;
      const value = this.sensorValue(s, ts);
      const ev: LoadEvent = { index, source, topic, partition: s.partition, key: s.id, value: '', kind, eventTimeMs: ts };
      if (kind === 'bad') {
        const obj: Record<string, unknown> = {
          event_id: `${s.id}_${ts / 1000}`,
          sensor_id: s.id,
          sensor_type: t.type,
          value,
          location: JSON.parse(s.location),
          timestamp: pythonIso(ts),
          metadata: { unit: t.unit },
        };
        this.corrupt(ev, obj, ['sensor_id', 'sensor_type', 'value', 'timestamp'], { sensor_id: 100, sensor_type: 50 }, [
          ['value', [1_000_000, -2_500_000.5, 999_999.99995, 1e7]],
        ]);
        return ev;
      }
      const tsText = lenient ? JSON.stringify(lenientTimestamp(ts, variant)) : `"${pythonIso(ts)}"`;
      const valueText = lenient && variant % 2 === 0 ? `"${value}"` : String(value);
      ev.value = `{"event_id":"${s.id}_${ts / 1000}","sensor_id":"${s.id}","sensor_type":"${t.type}","value":${valueText},"location":${s.location},"timestamp":${tsText},"metadata":{"unit":"${t.unit}"}}`;
      ev.record = { source, sensor_id: s.id, sensor_type: t.type, value };
      return ev;
    }
    if (source === 'meter') {
      const m = this.pickKey(this.metersBy);
      const hour = (((ts / 3_600_000) % 24) + 24) % 24;
      const demand = 0.25 + 0.35 * Math.max(0, Math.sin((Math.PI * (hour - 6)) / 16)) + Math.abs(gaussian(rng)) * 0.3;
      const solar = m.solar ? Math.max(0, Math.sin((Math.PI * (hour - 6)) / 12)) * 1.2 : 0;
      const reading = roundTo(demand - solar + weatherEffectKwh(o.weatherEffect, this.climate.temperatureAt(ts)), 3);
      const ev: LoadEvent = { index, source, topic, partition: m.partition, key: m.id, value: '', kind, eventTimeMs: ts };
      if (kind === 'bad') {
        const obj: Record<string, unknown> = {
          event_id: `${m.id}_${ts / 1000}`,
          meter_id: m.id,
          customer_id: m.customer,
          reading,
          unit: 'kWh',
          timestamp: pythonIso(ts),
        };
        this.corrupt(ev, obj, ['customer_id', 'reading', 'timestamp'], { customer_id: 100 }, [
          ['reading', [100_000_000, -123_456_789.1234, 99_999_999.99995]],
        ]);
        return ev;
      }
      const tsText = lenient ? JSON.stringify(lenientTimestamp(ts, variant)) : `"${pythonIso(ts)}"`;
      const readingText = lenient && variant % 2 === 0 ? `"${reading}"` : String(reading);
      ev.value = `{"event_id":"${m.id}_${ts / 1000}","meter_id":"${m.id}","customer_id":"${m.customer}","reading":${readingText},"unit":"kWh","timestamp":${tsText}}`;
      ev.record = { source, customer_id: m.customer, meter_id: m.id, reading };
      return ev;
    }
    const st = this.pickKey(this.stationsBy);
    const w: WeatherMessage = st.sim.next(ts);
    const ev: LoadEvent = { index, source, topic, partition: st.partition, key: st.key, value: '', kind, eventTimeMs: ts };
    if (kind === 'bad') {
      this.corrupt(
        ev,
        { ...w },
        ['timestamp', 'temperature', 'humidity', 'pressure', 'wind_speed', 'weather_condition'],
        { weather_condition: 50 },
        [
          ['temperature', [1000, -1000.5, 999.995]],
          ['humidity', [1200]],
          ['wind_speed', [999.996]],
          ['pressure', [100_000, 99_999.995]],
        ],
      );
      return ev;
    }
    const obj: Record<string, unknown> = { ...w };
    if (lenient) {
      obj.timestamp = lenientTimestamp(ts, variant);
      if (variant % 2 === 0) obj.temperature = String(w.temperature);
    }
    ev.value = JSON.stringify(obj);
    ev.record = {
      source,
      temperature: w.temperature,
      humidity: w.humidity,
      pressure: w.pressure,
      wind_speed: w.wind_speed,
      weather_condition: w.weather_condition,
    };
    return ev;
  }

  /** Turns a valid message object into a bad record of a randomly chosen reason and flavour. */
  private corrupt(
    ev: LoadEvent,
    obj: Record<string, unknown>,
    required: string[],
    texts: Record<string, number>,
    outOfRange: [string, number[]][],
  ): void {
    const rng = this.rng;
    const reason = BAD_REASONS[randInt(rng, BAD_REASONS.length)];
    ev.reason = reason;
    const pick = <T>(xs: readonly T[]): T => xs[randInt(rng, xs.length)];
    if (reason === 'invalid_json') {
      const json = JSON.stringify(obj);
      switch (randInt(rng, 5)) {
        case 0: {
          // Otherwise valid JSON whose text holds a byte sequence that is not UTF-8.
          const field = required.find((f) => typeof obj[f] === 'string') ?? 'timestamp';
          const [a, b] = JSON.stringify({ ...obj, [field]: NOT_UTF8 }).split(NOT_UTF8);
          ev.value = Buffer.concat([Buffer.from(a), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from(b)]);
          break;
        }
        case 1:
          ev.value = json.slice(0, Math.max(1, Math.floor(json.length / 2)));
          break;
        case 2:
          ev.value = JSON.stringify(Object.values(obj));
          break;
        case 3:
          ev.value = pick(['null', '42', '"just a string"', 'true', '[]']);
          break;
        default:
          ev.value = Object.entries(obj)
            .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
            .join(';');
      }
      return;
    }
    if (reason === 'out_of_range') {
      const [field, values] = pick(outOfRange);
      obj[field] = pick(values);
      ev.value = JSON.stringify(obj);
      return;
    }
    // invalid_record
    switch (randInt(rng, 5)) {
      case 0:
        delete obj[pick(required)];
        ev.value = JSON.stringify(obj);
        return;
      case 1: {
        // A required field of the wrong type: numbers where text is due, objects, booleans,
        // null, and text that is not a number where a number is due.
        const field = pick(required);
        if (field === 'timestamp') obj[field] = pick(UNREADABLE_TIMESTAMPS);
        else if (typeof obj[field] === 'number') obj[field] = pick([true, null, { v: 1 }, [1], 'high', 'NaN', 'Infinity']);
        else obj[field] = pick([null, { id: 1 }, [obj[field]], false]);
        ev.value = JSON.stringify(obj);
        return;
      }
      case 2:
        obj.timestamp = pick(UNREADABLE_TIMESTAMPS);
        ev.value = JSON.stringify(obj);
        return;
      case 3: {
        // A JSON number literal too large for a double: JSON.parse gives Infinity.
        const numeric = required.filter((f) => typeof obj[f] === 'number');
        obj[pick(numeric)] = NON_FINITE;
        ev.value = JSON.stringify(obj).replace(`"${NON_FINITE}"`, pick(['1e999', '-1e400']));
        return;
      }
      default: {
        const field = pick(Object.keys(texts));
        const max = texts[field];
        obj[field] = String(obj[field]).padEnd(max + 1 + randInt(rng, 3), 'x');
        ev.value = JSON.stringify(obj);
      }
    }
  }
}

function byPartition<T extends { partition: number }>(items: T[]): T[][] {
  const m = new Map<number, T[]>();
  for (const it of items) {
    let l = m.get(it.partition);
    if (l === undefined) m.set(it.partition, (l = []));
    l.push(it);
  }
  return [...m.keys()].sort((a, b) => a - b).map((p) => m.get(p)!);
}

/** The events for `options`, one by one (a fresh generator each call). */
export function* generate(options: GenerateInput = {}): Generator<LoadEvent, void, undefined> {
  const g = new EventGenerator(options);
  while (!g.done) yield g.next();
}

/** The bytes of an event's payload. */
export function valueBytes(ev: LoadEvent): Buffer {
  return typeof ev.value === 'string' ? Buffer.from(ev.value, 'utf8') : ev.value;
}
