/**
 * Command-line and environment settings of the load generator, turned into typed run
 * options. Kept apart from the entry point so that tests (and the compose drift test)
 * can use them without starting anything.
 */
import { parseArgs } from 'node:util';
import { ConfigError } from '../src/common/errors.js';
import { DEFAULT_GENERATE_OPTIONS, DEFAULT_TOPICS, type GenerateInput, type Source } from './generate.js';
import type { RunOptions } from './run.js';

/** Every environment variable the load generator reads. */
export const LOADGEN_ENV_VARS = ['KAFKA_BROKER', 'KAFKA_TOPIC_SENSOR_DATA', 'KAFKA_TOPIC_METER_READINGS', 'KAFKA_TOPIC_WEATHER'] as const;
export type LoadgenEnv = Partial<Record<(typeof LOADGEN_ENV_VARS)[number], string>>;

export const LOADGEN_USAGE = `Usage: npm run loadgen -- [options]

Produces sensor readings, meter readings and weather into the three topics (and/or an
NDJSON file), shaped as the contract's messages, reproducibly from a seed.

Amount and pace
  --events N               events in all (default 1000000)
  --duration D             run for this long instead (e.g. 90s, 10m); event time then
                           advances --step per event
  --rate N                 target events/s (default 0: as fast as possible); low rates
                           are paced event by event
  For a live run: --start now --duration 10m --rate 200 (event time follows the wall
  clock: one event every 1/rate s)
Simulated world
  --sensors N              (default ${DEFAULT_GENERATE_OPTIONS.sensors})
  --meters N               (default ${DEFAULT_GENERATE_OPTIONS.meters}); meter j belongs to customer j mod customers
  --customers N            (default ${DEFAULT_GENERATE_OPTIONS.customers})
  --weather-locations N    (default 1: key "weather"; more: one key per city)
  --mix S,M,W              weights of sensor/meter/weather events (default 0.6,0.35,0.05)
  --start ISO|now|now-D    event time of the first event (default 2026-11-28T00:00:00Z);
                           now: the wall clock at start; now-6h: six hours before
  --span D                 event time covered by --events (default 24h)
  --step D                 event time per event in --duration runs (default 1/rate with
                           --rate, else 10ms)
  --timestamps STYLE       contract (default) or mixed (also the lenient forms)
  --weather-effect K[,C]   kWh added to each meter reading per degree below 18 °C (K) and
                           above 22 °C (C, default K) of the regional temperature
                           (default 0.02; 0 = consumption follows the hour of day only)
Sensor faults (for the health views; each on its own sensor, needs --events)
  --spikes N               N windows far from their sensor's baseline, within band
  --out-of-band N          N windows whose mean is outside the type's band
  --silence N              N sensors send nothing for the last --silence-for of the span
  --silence-for D          (default 1h)
Record kinds (shares of all events, exact counts with --events)
  --out-of-order X         jittered back by less than half the lateness (default 0)
  --late X                 certainly late for the engine (default 0)
  --bad X                  invalid_json / invalid_record / out_of_range, evenly (default 0)
  --lateness D             the engine's allowed lateness (default 10m)
  --sensor-window D        (default 5m)   --consumption-window D (default 1h)
  --weather-window D       (default 1h)
  --seed N                 (default 1)
Outputs
  --partitions N           partitions per topic, created if missing (default 3)
  --brokers H:P[,H:P]      (default $KAFKA_BROKER or 127.0.0.1:9092)
  --topic-sensor T, --topic-meter T, --topic-weather T
                           (default $KAFKA_TOPIC_SENSOR_DATA etc., else the contract's names)
  --no-kafka               do not produce to Kafka
  --file PATH              write the events as NDJSON
  --expected PATH          write the expected aggregate rows and dead-letter counts (JSON)
  --summary PATH           write the run summary (JSON)
  --acks 1|all             (default 1)
  --batch-bytes N          bytes per partition batch (default 262144)
  --max-in-flight N        produce requests in flight per broker (default 6)
  --quiet                  no progress output
  --help
`;

export interface LoadgenConfig {
  run: RunOptions;
  expectedPath?: string;
  summaryPath?: string;
  quiet: boolean;
  help: boolean;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "90s", "10m", "1.5h", "250ms", "2d"; a bare number is seconds. */
export function parseDuration(setting: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (m === null) throw new ConfigError(setting, `"${text}" is not a duration (use e.g. 90s, 10m, 24h)`);
  const ms = Number(m[1]) * UNITS[m[2] ?? 's'];
  if (!(ms > 0)) throw new ConfigError(setting, 'must be more than zero');
  return Math.round(ms);
}

function int(setting: string, text: string | undefined, min = 1): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text.replace(/_/g, ''));
  if (!Number.isInteger(n) || n < min) throw new ConfigError(setting, `"${text}" must be an integer ≥ ${min}`);
  return n;
}

function shareOf(setting: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!(n >= 0 && n <= 1)) throw new ConfigError(setting, `"${text}" must be a share between 0 and 1`);
  return n;
}

/** `--start`: an ISO 8601 time, `now`, or `now-D` (D a duration: 90s, 10m, 6h). */
export function parseStart(text: string, nowMs: number): number {
  const rel = /^now(?:-(.+))?$/.exec(text.trim());
  if (rel !== null) return nowMs - (rel[1] === undefined ? 0 : parseDuration('--start', rel[1]));
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new ConfigError('--start', `"${text}" is not an ISO 8601 time, now, or now-<duration>`);
  return ms;
}

export function parseLoadgenArgs(argv: string[], env: LoadgenEnv): LoadgenConfig {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      allowPositionals: false,
      options: {
        events: { type: 'string' },
        duration: { type: 'string' },
        rate: { type: 'string' },
        sensors: { type: 'string' },
        meters: { type: 'string' },
        customers: { type: 'string' },
        'weather-locations': { type: 'string' },
        mix: { type: 'string' },
        start: { type: 'string' },
        span: { type: 'string' },
        step: { type: 'string' },
        timestamps: { type: 'string' },
        'weather-effect': { type: 'string' },
        spikes: { type: 'string' },
        'out-of-band': { type: 'string' },
        silence: { type: 'string' },
        'silence-for': { type: 'string' },
        'out-of-order': { type: 'string' },
        late: { type: 'string' },
        bad: { type: 'string' },
        lateness: { type: 'string' },
        'sensor-window': { type: 'string' },
        'consumption-window': { type: 'string' },
        'weather-window': { type: 'string' },
        seed: { type: 'string' },
        partitions: { type: 'string' },
        brokers: { type: 'string' },
        'topic-sensor': { type: 'string' },
        'topic-meter': { type: 'string' },
        'topic-weather': { type: 'string' },
        'no-kafka': { type: 'boolean' },
        file: { type: 'string' },
        expected: { type: 'string' },
        summary: { type: 'string' },
        acks: { type: 'string' },
        'batch-bytes': { type: 'string' },
        'max-in-flight': { type: 'string' },
        quiet: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    throw new ConfigError('arguments', (e as Error).message);
  }
  const v = values;
  const gen: GenerateInput = {};
  const durationMs = v.duration === undefined ? undefined : parseDuration('--duration', v.duration);
  if (v.events !== undefined) gen.events = int('--events', v.events);
  else if (durationMs === undefined) gen.events = 1_000_000;
  if (v.seed !== undefined) {
    const s = Number(v.seed);
    if (!Number.isInteger(s)) throw new ConfigError('--seed', `"${v.seed}" must be an integer`);
    gen.seed = s;
  }
  gen.sensors = int('--sensors', v.sensors);
  gen.meters = int('--meters', v.meters);
  gen.customers = int('--customers', v.customers);
  gen.weatherLocations = int('--weather-locations', v['weather-locations']);
  if (v.mix !== undefined) {
    const parts = v.mix.split(',').map(Number);
    if (parts.length !== 3 || parts.some((x) => !(x >= 0)) || parts[0] + parts[1] + parts[2] <= 0) {
      throw new ConfigError('--mix', `"${v.mix}" must be three weights ≥ 0, e.g. 0.6,0.35,0.05`);
    }
    gen.mix = { sensor: parts[0], meter: parts[1], weather: parts[2] };
  }
  if (v.start !== undefined) gen.startMs = parseStart(v.start, Date.now());
  if (v.span !== undefined) gen.spanMs = parseDuration('--span', v.span);
  if (v.step !== undefined) {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(v.step.trim());
    if (m === null || !(Number(m[1]) > 0)) throw new ConfigError('--step', `"${v.step}" is not a duration`);
    gen.timeStepMs = Number(m[1]) * UNITS[m[2] ?? 's'];
  }
  if (v.timestamps !== undefined) {
    if (v.timestamps !== 'contract' && v.timestamps !== 'mixed') throw new ConfigError('--timestamps', 'must be contract or mixed');
    gen.timestampStyle = v.timestamps;
  }
  if (v['weather-effect'] !== undefined) {
    const parts = v['weather-effect'].split(',').map((x) => (x.trim() === '' ? NaN : Number(x)));
    if (parts.length > 2 || parts.some((x) => !(Number.isFinite(x) && Math.abs(x) <= 10))) {
      throw new ConfigError('--weather-effect', `"${v['weather-effect']}" must be one or two numbers from -10 to 10 (kWh per reading per degree)`);
    }
    gen.weatherEffect = { heatingKwhPerDegree: parts[0], coolingKwhPerDegree: parts[1] ?? parts[0] };
  }
  const anomalies = {
    spikes: int('--spikes', v.spikes, 0),
    outOfBand: int('--out-of-band', v['out-of-band'], 0),
    silenced: int('--silence', v.silence, 0),
    silenceMs: v['silence-for'] === undefined ? undefined : parseDuration('--silence-for', v['silence-for']),
  };
  if (Object.values(anomalies).some((x) => x !== undefined)) {
    gen.anomalies = Object.fromEntries(Object.entries(anomalies).filter(([, x]) => x !== undefined));
  }
  gen.outOfOrderShare = shareOf('--out-of-order', v['out-of-order']);
  gen.lateShare = shareOf('--late', v.late);
  gen.badShare = shareOf('--bad', v.bad);
  if (v.lateness !== undefined) gen.latenessMs = parseDuration('--lateness', v.lateness);
  gen.windows = {};
  if (v['sensor-window'] !== undefined) gen.windows.sensorMs = parseDuration('--sensor-window', v['sensor-window']);
  if (v['consumption-window'] !== undefined) gen.windows.meterMs = parseDuration('--consumption-window', v['consumption-window']);
  if (v['weather-window'] !== undefined) gen.windows.weatherMs = parseDuration('--weather-window', v['weather-window']);
  gen.partitions = int('--partitions', v.partitions) ?? 3;
  gen.topics = {
    sensor: v['topic-sensor'] ?? (env.KAFKA_TOPIC_SENSOR_DATA || DEFAULT_TOPICS.sensor),
    meter: v['topic-meter'] ?? (env.KAFKA_TOPIC_METER_READINGS || DEFAULT_TOPICS.meter),
    weather: v['topic-weather'] ?? (env.KAFKA_TOPIC_WEATHER || DEFAULT_TOPICS.weather),
  };
  for (const [s, t] of Object.entries(gen.topics) as [Source, string][]) {
    if (t.trim() === '') throw new ConfigError(`topic of ${s}`, 'must not be empty');
  }
  for (const k of Object.keys(gen) as (keyof GenerateInput)[]) if (gen[k] === undefined) delete gen[k];

  const brokers = (v.brokers ?? (env.KAFKA_BROKER || '127.0.0.1:9092')).split(',').map((b) => b.trim());
  for (const b of brokers) {
    if (!/^[^\s:]+:\d+$/.test(b)) throw new ConfigError(v.brokers ? '--brokers' : 'KAFKA_BROKER', `"${b}" must be host:port`);
  }
  let acks: 1 | -1 = 1;
  if (v.acks !== undefined) {
    if (v.acks === '1') acks = 1;
    else if (v.acks === 'all' || v.acks === '-1') acks = -1;
    else throw new ConfigError('--acks', 'must be 1 or all');
  }
  const rate = v.rate === undefined ? 0 : int('--rate', v.rate, 0)!;
  const noKafka = v['no-kafka'] === true;
  if (noKafka && v.file === undefined && v.expected === undefined) {
    throw new ConfigError('--no-kafka', 'needs --file or --expected, or nothing would be written');
  }
  const run: RunOptions = {
    generate: gen,
    kafka: noKafka
      ? undefined
      : {
          brokers,
          acks,
          batchBytes: int('--batch-bytes', v['batch-bytes'], 1024),
          maxInFlight: int('--max-in-flight', v['max-in-flight']),
        },
    file: v.file,
    expected: v.expected !== undefined,
    durationMs,
    rate,
  };
  return { run, expectedPath: v.expected, summaryPath: v.summary, quiet: v.quiet === true, help: v.help === true };
}
