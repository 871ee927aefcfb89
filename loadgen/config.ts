/**
 * Command-line and environment settings of the load generator, turned into typed run
 * options with the options kit (src/common/options.ts); the topic and window flags are the
 * engine's, from the table of stream facts. Kept apart from the entry point so that tests
 * (and the compose drift test) can use them without starting anything.
 */
import {
  anyText,
  brokers,
  ConfigError,
  duration,
  infoRequest,
  int,
  invalid,
  InvalidValue,
  number,
  oneOf,
  option,
  optional,
  optionsOf,
  parseDuration,
  readConfig,
  text,
  toggle,
  topicName,
  type Env,
  type Parser,
  type Reader,
} from '../src/common/options.js';
import { byStream, Kind, KIND_NAMES, STREAM_LIST } from '../src/common/streams.js';
import type { WeatherEffect } from './climate.js';
import { DEFAULT_GENERATE_OPTIONS, type Anomalies, type GenerateInput, type Source, type Windows } from './generate.js';
import type { RunOptions } from './run.js';

export type LoadgenEnv = Env;

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

/** Durations of the load generator: "90s", "10m", "1.5h", "250ms", "2d"; a bare number is seconds. */
const positiveDuration = duration(1, Infinity, { bare: 's' });

/** `--start`: an ISO 8601 time, `now`, or `now-D` (D a duration: 90s, 10m, 6h). */
export function parseStart(text: string, nowMs: number): number {
  const rel = /^now(?:-(.+))?$/.exec(text.trim());
  try {
    if (rel !== null) return nowMs - (rel[1] === undefined ? 0 : positiveDuration(rel[1]));
  } catch (e) {
    if (e instanceof InvalidValue) throw new ConfigError('--start', e.message);
    throw e;
  }
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new ConfigError('--start', `"${text}" is not an ISO 8601 time, now, or now-<duration>`);
  return ms;
}

/** `--step D`: event time per event, fractions of a millisecond allowed (1/rate). */
const step: Parser<number> = (raw) => {
  const ms = parseDuration(raw, { bare: 's', whole: false });
  return ms > 0 ? ms : invalid(`'${raw}' must be more than 0`);
};

/** `--mix S,M,W`: the weights of the streams' events. */
const mix: Parser<Record<Source, number>> = (raw) => {
  const parts = raw.split(',').map(Number);
  if (parts.length !== KIND_NAMES.length || parts.some((x) => !(x >= 0)) || parts.reduce((a, b) => a + b, 0) <= 0) {
    invalid(`"${raw}" must be three weights ≥ 0, e.g. 0.6,0.35,0.05`);
  }
  return byStream((s) => parts[Kind[s.name]]);
};

/** `--weather-effect K[,C]`: kWh per reading per heating (and cooling) degree. */
const weatherEffect: Parser<WeatherEffect> = (raw) => {
  const parts = raw.split(',').map((x) => (x.trim() === '' ? NaN : Number(x)));
  if (parts.length > 2 || parts.some((x) => !(Number.isFinite(x) && Math.abs(x) <= 10))) {
    invalid(`"${raw}" must be one or two numbers from -10 to 10 (kWh per reading per degree)`);
  }
  return { heatingKwhPerDegree: parts[0], coolingKwhPerDegree: parts[1] ?? parts[0] };
};

const flag = <T>(name: string, parse: Parser<T>) => optional({ flag: name, parse });
const count = (name: string, min = 1) => flag(name, int(min));
const share = (name: string) => flag(name, number(0, 1));

/** The load generator's options (LOADGEN_USAGE documents them), each read into its place. */
const loadgenOptions = (read: Reader) => {
  const durationMs = read(flag('--duration', positiveDuration));
  const gen: GenerateInput = {};
  const set = <K extends keyof GenerateInput>(key: K, value: GenerateInput[K]): void => {
    if (value !== undefined) gen[key] = value;
  };
  set('events', read(count('--events')) ?? (durationMs === undefined ? 1_000_000 : undefined));
  set('seed', read(flag('--seed', int(-Number.MAX_SAFE_INTEGER))));
  set('sensors', read(count('--sensors')));
  set('meters', read(count('--meters')));
  set('customers', read(count('--customers')));
  set('weatherLocations', read(count('--weather-locations')));
  set('mix', read(flag('--mix', mix)));
  const start = read(flag('--start', anyText));
  set('startMs', start === undefined ? undefined : parseStart(start, Date.now()));
  set('spanMs', read(flag('--span', positiveDuration)));
  set('timeStepMs', read(flag('--step', step)));
  set('timestampStyle', read(flag('--timestamps', oneOf('contract', 'mixed'))));
  set('weatherEffect', read(flag('--weather-effect', weatherEffect)));
  const anomalies: Partial<Anomalies> = {};
  const plant = <K extends keyof Anomalies>(key: K, value: Anomalies[K] | undefined): void => {
    if (value !== undefined) anomalies[key] = value;
  };
  plant('spikes', read(count('--spikes', 0)));
  plant('outOfBand', read(count('--out-of-band', 0)));
  plant('silenced', read(count('--silence', 0)));
  plant('silenceMs', read(flag('--silence-for', positiveDuration)));
  if (Object.keys(anomalies).length > 0) gen.anomalies = anomalies;
  set('outOfOrderShare', read(share('--out-of-order')));
  set('lateShare', read(share('--late')));
  set('badShare', read(share('--bad')));
  set('latenessMs', read(flag('--lateness', positiveDuration)));
  const windows: Partial<Windows> = {};
  for (const s of STREAM_LIST) {
    const ms = read(flag(s.window.flag, positiveDuration));
    if (ms !== undefined) windows[`${s.name}Ms`] = ms;
  }
  gen.windows = windows;
  gen.partitions = read(option({ flag: '--partitions', def: '3', parse: int(1) }));
  // The engine's topic flags and variables (and its defaults, the contract's names).
  gen.topics = byStream((s) => read(option({ flag: s.topic.flag, env: s.topic.env, def: s.topic.def, parse: topicName, help: s.topic.help })));
  const kafkaBrokers = read(option({ flag: '--brokers', env: 'KAFKA_BROKER', def: '127.0.0.1:9092', parse: brokers }));
  const noKafka = read(toggle('--no-kafka'));
  const file = read(flag('--file', text));
  const expected = read(flag('--expected', text));
  const summary = read(flag('--summary', text));
  const acks: 1 | -1 = read(option({ flag: '--acks', def: '1', parse: oneOf('1', 'all', '-1') })) === '1' ? 1 : -1;
  const batchBytes = read(count('--batch-bytes', 1024));
  const maxInFlight = read(count('--max-in-flight'));
  const rate = read(option({ flag: '--rate', def: '0', parse: int(0) }));
  const quiet = read(toggle('--quiet'));
  return { gen, durationMs, noKafka, kafka: { brokers: kafkaBrokers, acks, batchBytes, maxInFlight }, file, expected, summary, rate, quiet };
};

/** Every environment variable the load generator reads. */
export const LOADGEN_ENV_VARS: readonly string[] = optionsOf(loadgenOptions).flatMap((o) => (o.env === undefined ? [] : [o.env]));

export function parseLoadgenArgs(argv: string[], env: Env): LoadgenConfig {
  const o = readConfig(loadgenOptions, argv, env, { emptyEnv: 'unset' });
  if (o.noKafka && o.file === undefined && o.expected === undefined) {
    throw new ConfigError('--no-kafka', 'needs --file or --expected, or nothing would be written');
  }
  const run: RunOptions = {
    generate: o.gen,
    kafka: o.noKafka ? undefined : o.kafka,
    file: o.file,
    expected: o.expected !== undefined,
    durationMs: o.durationMs,
    rate: o.rate,
  };
  return { run, expectedPath: o.expected, summaryPath: o.summary, quiet: o.quiet, help: infoRequest(argv) === 'help' };
}
