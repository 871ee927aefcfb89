/**
 * Engine configuration: one table of options, each settable by a command-line flag or an
 * environment variable (the seed's names where the seed has one), with defaults, parsing
 * and validation in one place. Entry points pass `process.argv` and `process.env` in;
 * nothing below reads the environment.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { ConfigError } from '../common/errors.js';

export interface EngineConfig {
  kafkaBrokers: string[];
  /** Which Kafka read path: the engine's own (workers decode record batches) or kafkajs. */
  kafkaClient: 'wire' | 'kafkajs';
  isolationLevel: 'read_uncommitted' | 'read_committed';
  topics: { sensor: string; meter: string; weather: string };
  postgres: { host: string; port: number; database: string; user: string; password: string; schema: string };
  groupId: string;
  windowMs: { sensor: number; meter: number; weather: number };
  allowedLatenessMs: number;
  idleTimeoutMs: number;
  workers: number;
  taskRecords: number;
  maxInflightBatches: number;
  maxBytesPerPartition: number;
  maxBytes: number;
  maxWaitMs: number;
  partitionsConcurrency: number;
  sessionTimeoutMs: number;
  /** /readyz fails when Kafka has not answered for longer than this. */
  kafkaUnreachableAfterMs: number;
  checkpointDir: string;
  checkpointIntervalMs: number;
  checkpointsKept: number;
  ignoreMissingCheckpoint: boolean;
  availableNow: boolean;
  startingOffsets: 'earliest' | 'latest';
  topicPartitions: number;
  createTopics: boolean;
  maxPendingRows: number;
  sinkRetryMaxMs: number;
  shutdownTimeoutMs: number;
  metricsPort: number;
  metricsHost: string;
  progressIntervalMs: number;
  maxFutureSkewMs: number;
  maxOpenStates: number;
  sinkStatementTimeoutMs: number;
  sinkStallTimeoutMs: number;
  startupTimeoutMs: number;
  checkpointFailuresTolerated: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  logFormat: 'text' | 'json';
}

type Parser<T> = (raw: string) => T; // throws Invalid with a message

class Invalid extends Error {}
const fail = (msg: string): never => {
  throw new Invalid(msg);
};

interface Option<K extends keyof Flat = keyof Flat> {
  key: K;
  flag: string;
  env: string;
  def: string;
  help: string;
  parse: Parser<Flat[K]>;
}

/** The options as a flat record; nested into EngineConfig at the end. */
interface Flat {
  kafkaBroker: string[];
  kafkaClient: 'wire' | 'kafkajs';
  isolationLevel: 'read_uncommitted' | 'read_committed';
  topicSensor: string;
  topicMeter: string;
  topicWeather: string;
  pgHost: string;
  pgPort: number;
  pgDatabase: string;
  pgUser: string;
  pgPassword: string;
  pgPasswordFile: string;
  pgSchema: string;
  groupId: string;
  sensorWindow: number;
  consumptionWindow: number;
  weatherWindow: number;
  allowedLateness: number;
  idleTimeout: number;
  workers: number;
  taskRecords: number;
  maxInflightBatches: number;
  maxBytesPerPartition: number;
  maxBytes: number;
  maxWait: number;
  partitionsConcurrency: number;
  sessionTimeout: number;
  kafkaUnreachableAfter: number;
  checkpointDir: string;
  checkpointInterval: number;
  checkpointsKept: number;
  ignoreMissingCheckpoint: boolean;
  availableNow: boolean;
  startingOffsets: 'earliest' | 'latest';
  topicPartitions: number;
  createTopics: boolean;
  maxPendingRows: number;
  sinkRetryMax: number;
  shutdownTimeout: number;
  metricsPort: number;
  metricsHost: string;
  progressInterval: number;
  maxFutureSkew: number;
  maxOpenStates: number;
  sinkStatementTimeout: number;
  sinkStallTimeout: number;
  startupTimeout: number;
  checkpointFailuresTolerated: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  logFormat: 'auto' | 'text' | 'json';
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60000, min: 60000, h: 3600000, d: 86400000 };

/** Parses "250ms", "10s", "5m", "1h", "1d" or a plain number of milliseconds. */
export function parseDuration(raw: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)?\s*$/.exec(raw);
  if (m === null) return fail(`'${raw}' is not a duration (examples: 500ms, 10s, 5m, 1h)`);
  const ms = Number(m[1]) * UNITS[m[2] ?? 'ms'];
  if (!Number.isFinite(ms) || !Number.isInteger(ms)) return fail(`'${raw}' is not a whole number of milliseconds`);
  return ms;
}

const duration =
  (min: number, max = 365 * 86400000): Parser<number> =>
  (raw) => {
    const v = parseDuration(raw);
    if (v < min || v > max) fail(`'${raw}' must be between ${min} ms and ${max} ms`);
    return v;
  };

const windowSize: Parser<number> = (raw) => {
  const v = duration(1000, 7 * 86400000)(raw);
  return v % 1000 === 0 ? v : fail(`'${raw}' must be a whole number of seconds`);
};

const int =
  (min: number, max: number): Parser<number> =>
  (raw) => {
    if (!/^\s*\d+\s*$/.test(raw)) fail(`'${raw}' is not a whole number`);
    const v = Number(raw);
    if (v < min || v > max) fail(`'${raw}' must be between ${min} and ${max}`);
    return v;
  };

const bytes =
  (min: number, max: number): Parser<number> =>
  (raw) => {
    const m = /^\s*(\d+)\s*(b|kb|k|mb|m|gb|g)?\s*$/i.exec(raw);
    if (m === null) return fail(`'${raw}' is not a size (examples: 1048576, 512kb, 10mb)`);
    const unit = (m[2] ?? 'b').toLowerCase()[0];
    const v = Number(m[1]) * (unit === 'k' ? 1024 : unit === 'm' ? 1048576 : unit === 'g' ? 1073741824 : 1);
    if (v < min || v > max) fail(`'${raw}' must be between ${min} and ${max} bytes`);
    return v;
  };

const text: Parser<string> = (raw) => (raw.trim() === '' ? fail('must not be empty') : raw.trim());
const anyText: Parser<string> = (raw) => raw;
/** Kafka's rule for topic names: 1–249 of [A-Za-z0-9._-], and not '.' or '..'. */
const topicName: Parser<string> = (raw) =>
  /^[A-Za-z0-9._-]{1,249}$/.test(raw) && raw !== '.' && raw !== '..'
    ? raw
    : fail(`'${raw}' is not a valid Kafka topic name (1 to 249 of A-Z a-z 0-9 . _ -, not '.' or '..')`);
/**
 * A plain lower-case PostgreSQL identifier (at most 63 bytes) that is not a system schema:
 * names starting with pg_ are reserved (SQLSTATE 42939) and information_schema is the
 * catalogue's own.
 */
const schemaName: Parser<string> = (raw) => {
  if (raw === '') return raw;
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(raw)) fail(`'${raw}' is not a plain lower-case identifier of at most 63 characters`);
  if (raw.startsWith('pg_') || raw === 'information_schema') fail(`'${raw}' is a PostgreSQL system schema`);
  return raw;
};

/**
 * The checkpoint folder name of a group id: one path segment whatever the id holds.
 * Ids made of letters, digits, '.', '_' and '-' are used as they are (so existing folders
 * keep their names); anything else is percent-encoded, and a leading '.' too, so that
 * '..', 'a/../b' and '.hidden' can never leave or alias a folder.
 */
export function groupDirName(groupId: string): string {
  return encodeURIComponent(groupId).replace(/^\./, '%2E').replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

const MAX_GROUP_ID = 249;
/** A Kafka group id that also makes a valid folder name (at most 255 bytes once encoded). */
const groupId: Parser<string> = (raw) => {
  const v = text(raw);
  if (v.length > MAX_GROUP_ID) fail(`is ${v.length} characters long; at most ${MAX_GROUP_ID} are allowed`);
  if (Buffer.byteLength(groupDirName(v)) > 255) fail('is too long once encoded as a folder name (255 bytes); use fewer non-ASCII characters');
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) fail('must not contain control characters');
  }
  return v;
};
const bool: Parser<boolean> = (raw) => {
  const v = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on', ''].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  return fail(`'${raw}' is not true or false`);
};
const oneOf =
  <T extends string>(...values: T[]): Parser<T> =>
  (raw) =>
    (values as string[]).includes(raw) ? (raw as T) : fail(`'${raw}' must be one of ${values.join(', ')}`);
const brokers: Parser<string[]> = (raw) => {
  const list = raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (list.length === 0) fail('must name at least one broker as host:port');
  for (const b of list) if (!/^[^\s:]+:\d{1,5}$/.test(b)) fail(`'${b}' is not host:port`);
  return list;
};

function opt<K extends keyof Flat>(
  key: K,
  flag: string,
  env: string,
  def: string,
  parse: Parser<Flat[K]>,
  help: string,
): Option<K> {
  return { key, flag, env, def, parse, help };
}

export const OPTIONS = [
  opt('kafkaBroker', '--kafka-broker', 'KAFKA_BROKER', '127.0.0.1:9092', brokers, 'Kafka bootstrap servers, host:port[,host:port…]'),
  opt('kafkaClient', '--kafka-client', 'SMARTGRID_KAFKA_CLIENT', 'wire', oneOf('wire', 'kafkajs'), 'Kafka read path: wire (the engine fetches raw record batches, workers decode them; assignment from the snapshot) or kafkajs (consumer group member)'),
  opt('isolationLevel', '--isolation-level', 'SMARTGRID_ISOLATION_LEVEL', 'read_uncommitted', oneOf('read_uncommitted', 'read_committed'), 'read_committed skips records of aborted transactions and stops at the last stable offset (wire client)'),
  opt('topicSensor', '--topic-sensor', 'KAFKA_TOPIC_SENSOR_DATA', 'smartgrid-sensor-data', topicName, 'sensor readings topic'),
  opt('topicMeter', '--topic-meter', 'KAFKA_TOPIC_METER_READINGS', 'smartgrid-meter-readings', topicName, 'meter readings topic'),
  opt('topicWeather', '--topic-weather', 'KAFKA_TOPIC_WEATHER', 'smartgrid-weather-data', topicName, 'weather topic'),
  opt('pgHost', '--postgres-host', 'POSTGRES_HOST', '127.0.0.1', text, 'PostgreSQL host'),
  opt('pgPort', '--postgres-port', 'POSTGRES_PORT', '5432', int(1, 65535), 'PostgreSQL port'),
  opt('pgDatabase', '--postgres-db', 'POSTGRES_DB', 'postgres', text, 'PostgreSQL database'),
  opt('pgUser', '--postgres-user', 'POSTGRES_USER', 'postgres', text, 'PostgreSQL user'),
  opt('pgPassword', '--postgres-password', 'POSTGRES_PASSWORD', '', anyText, 'PostgreSQL password'),
  opt('pgPasswordFile', '--postgres-password-file', 'POSTGRES_PASSWORD_FILE', '', anyText, 'file holding the PostgreSQL password (Docker/Kubernetes secrets; keeps it out of ps and the environment)'),
  opt('pgSchema', '--postgres-schema', 'POSTGRES_SCHEMA', '', schemaName, 'PostgreSQL schema for the tables (default: the search_path, normally public)'),
  opt('groupId', '--group-id', 'SMARTGRID_GROUP_ID', 'smartgrid-stream', groupId, 'Kafka consumer group id (also names the checkpoint subfolder)'),
  opt('sensorWindow', '--sensor-window', 'SMARTGRID_SENSOR_WINDOW', '5m', windowSize, 'sensor aggregate window size'),
  opt('consumptionWindow', '--consumption-window', 'SMARTGRID_CONSUMPTION_WINDOW', '1h', windowSize, 'consumption aggregate window size'),
  opt('weatherWindow', '--weather-window', 'SMARTGRID_WEATHER_WINDOW', '1h', windowSize, 'weather aggregate window size'),
  opt('allowedLateness', '--allowed-lateness', 'SMARTGRID_ALLOWED_LATENESS', '10m', duration(0), 'how far event time may lag behind the watermark'),
  opt('idleTimeout', '--idle-timeout', 'SMARTGRID_IDLE_TIMEOUT', '10s', duration(0), 'a caught-up partition stops holding the watermark back after this long'),
  opt('workers', '--workers', 'SMARTGRID_WORKERS', String(availableParallelism()), int(1, 256), 'worker threads (default: number of cores)'),
  opt('taskRecords', '--task-records', 'SMARTGRID_TASK_RECORDS', '8192', int(16, 1000000), 'most records per worker task'),
  opt('maxInflightBatches', '--max-inflight-batches', 'SMARTGRID_MAX_INFLIGHT_BATCHES', '8', int(1, 1024), 'fetched batches being decoded at once (fetching overlaps decoding)'),
  opt('maxBytesPerPartition', '--max-bytes-per-partition', 'SMARTGRID_MAX_BYTES_PER_PARTITION', '2mb', bytes(1024, 1073741824), 'Kafka fetch size per partition'),
  opt('maxBytes', '--max-bytes', 'SMARTGRID_MAX_BYTES', '16mb', bytes(1024, 1073741824), 'Kafka fetch size per request'),
  opt('maxWait', '--max-wait', 'SMARTGRID_MAX_WAIT', '100ms', duration(0, 60000), 'how long the broker may wait to fill a fetch'),
  opt('partitionsConcurrency', '--partitions-concurrency', 'SMARTGRID_PARTITIONS_CONCURRENCY', '4', int(1, 256), 'partition batches processed at once (kafkajs client)'),
  opt('sessionTimeout', '--session-timeout', 'SMARTGRID_SESSION_TIMEOUT', '30s', duration(6000, 300000), 'Kafka group session timeout: how soon a crashed instance\'s partitions move (kafkajs client)'),
  opt('kafkaUnreachableAfter', '--kafka-unreachable-after', 'SMARTGRID_KAFKA_UNREACHABLE_AFTER', '30s', duration(1000), '/readyz answers 503 when Kafka has not answered for longer than this'),
  opt('checkpointDir', '--checkpoint-dir', 'CHECKPOINT_DIR', './checkpoints', text, 'directory for state snapshots (one subfolder per group id)'),
  opt('checkpointInterval', '--checkpoint-interval', 'SMARTGRID_CHECKPOINT_INTERVAL', '10s', duration(100), 'how often state is snapshotted and offsets committed'),
  opt('checkpointsKept', '--checkpoints-kept', 'SMARTGRID_CHECKPOINTS_KEPT', '3', int(2, 100), 'snapshots kept on disk (older ones are fallbacks)'),
  opt('ignoreMissingCheckpoint', '--ignore-missing-checkpoint', 'SMARTGRID_IGNORE_MISSING_CHECKPOINT', 'false', bool, 'start from committed offsets with empty state when the group has no snapshot'),
  opt('availableNow', '--available-now', 'SMARTGRID_AVAILABLE_NOW', 'false', bool, 'process what the topics hold now, write every window, commit and exit'),
  opt('startingOffsets', '--starting-offsets', 'SMARTGRID_STARTING_OFFSETS', 'earliest', oneOf('earliest', 'latest'), 'where a new consumer group starts'),
  opt('topicPartitions', '--topic-partitions', 'SMARTGRID_TOPIC_PARTITIONS', '3', int(1, 10000), 'partitions for topics the engine creates'),
  opt('createTopics', '--create-topics', 'SMARTGRID_CREATE_TOPICS', 'true', bool, 'create missing input topics at start (otherwise wait for them)'),
  opt('maxPendingRows', '--max-pending-rows', 'SMARTGRID_MAX_PENDING_ROWS', '200000', int(1000, 100000000), 'rows waiting for PostgreSQL before fetching pauses'),
  opt('sinkRetryMax', '--sink-retry-max', 'SMARTGRID_SINK_RETRY_MAX', '30s', duration(100), 'longest wait between retries of a failed write'),
  opt('shutdownTimeout', '--shutdown-timeout', 'SMARTGRID_SHUTDOWN_TIMEOUT', '30s', duration(1000), 'graceful stop must finish within this'),
  opt('metricsPort', '--metrics-port', 'METRICS_PORT', '9464', int(0, 65535), 'port for /metrics, /livez, /readyz and /health (0 = any free port)'),
  opt('metricsHost', '--metrics-host', 'METRICS_HOST', '127.0.0.1', text, 'address /metrics and /health listen on (0.0.0.0 for every interface, as in containers)'),
  opt('maxFutureSkew', '--max-future-skew', 'SMARTGRID_MAX_FUTURE_SKEW', '5m', duration(0), 'records stamped further ahead of the wall clock are dead letters (reason future); 0 = no limit'),
  opt('maxOpenStates', '--max-open-states', 'SMARTGRID_MAX_OPEN_STATES', '5000000', int(1000, 1000000000), 'open (window, group) states at which fetching pauses until windows are written; fails if none can be'),
  opt('sinkStatementTimeout', '--sink-statement-timeout', 'SMARTGRID_SINK_STATEMENT_TIMEOUT', '60s', duration(100, 3600000), 'PostgreSQL statement and lock timeout for sink writes (a blocked write fails and is retried)'),
  opt('sinkStallTimeout', '--sink-stall-timeout', 'SMARTGRID_SINK_STALL_TIMEOUT', '30s', duration(100, 3600000), 'a write still running after this long counts as failing (metrics, /health)'),
  opt('startupTimeout', '--startup-timeout', 'SMARTGRID_STARTUP_TIMEOUT', '60s', duration(0, 86400000), 'how long start-up retries PostgreSQL while it is not reachable (wrong database, role or password fail at once)'),
  opt('checkpointFailuresTolerated', '--checkpoint-failures-tolerated', 'SMARTGRID_CHECKPOINT_FAILURES_TOLERATED', '3', int(0, 1000), 'failed checkpoints in a row that the engine survives (reported in metrics and /health)'),
  opt('progressInterval', '--progress-interval', 'SMARTGRID_PROGRESS_INTERVAL', '10s', duration(0), 'period of the one-line progress log (0 = off)'),
  opt('logLevel', '--log-level', 'LOG_LEVEL', 'info', oneOf('debug', 'info', 'warn', 'error'), 'log level'),
  opt('logFormat', '--log-format', 'LOG_FORMAT', 'auto', oneOf('auto', 'text', 'json'), 'log format: text, json, or auto (text on a terminal)'),
] as const;

/** Every environment variable the engine reads (the compose file must not drift from it). */
export const ENGINE_ENV_VARS: readonly string[] = OPTIONS.map((o) => o.env);

export interface ParsedArgs {
  config: EngineConfig;
  help: boolean;
}

/**
 * Builds the configuration from flags (which win) and environment variables. Throws a
 * ConfigError naming the first bad setting.
 */
export function loadConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): ParsedArgs {
  const byFlag = new Map<string, Option>(OPTIONS.map((o) => [o.flag, o as unknown as Option]));
  const raw = new Map<string, { value: string; source: string }>();
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') {
      help = true;
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq >= 0 ? a.slice(0, eq) : a;
    const o = byFlag.get(name) ?? (name.startsWith('--no-') ? byFlag.get('--' + name.slice(5)) : undefined);
    if (o === undefined) throw new ConfigError(name, `unknown option (see --help)`);
    let value: string;
    if (name.startsWith('--no-') && !byFlag.has(name)) value = 'false';
    else if (eq >= 0) value = a.slice(eq + 1);
    else if (o.def === 'false' || o.def === 'true') value = 'true';
    else {
      if (i + 1 >= argv.length) throw new ConfigError(name, 'needs a value');
      value = argv[++i];
    }
    raw.set(o.key, { value, source: name });
  }
  const flat: Record<string, unknown> = {};
  for (const o of OPTIONS) {
    const given = raw.get(o.key) ?? (env[o.env] !== undefined ? { value: env[o.env]!, source: o.env } : undefined);
    const value = given?.value ?? o.def;
    try {
      flat[o.key] = (o.parse as Parser<unknown>)(value);
    } catch (e) {
      if (e instanceof Invalid) throw new ConfigError(given?.source ?? o.flag, e.message);
      throw e;
    }
  }
  const f = flat as unknown as Flat;
  const topics = { sensor: f.topicSensor, meter: f.topicMeter, weather: f.topicWeather };
  if (new Set(Object.values(topics)).size !== 3) {
    throw new ConfigError('KAFKA_TOPIC_*', 'the three input topics must be different');
  }
  return {
    help,
    config: {
      kafkaBrokers: f.kafkaBroker,
      kafkaClient: f.kafkaClient,
      isolationLevel: f.isolationLevel,
      topics,
      postgres: { host: f.pgHost, port: f.pgPort, database: f.pgDatabase, user: f.pgUser, password: postgresPassword(f, raw.get('pgPasswordFile')?.source, raw.get('pgPassword')?.source ?? (env.POSTGRES_PASSWORD !== undefined ? 'POSTGRES_PASSWORD' : undefined)), schema: f.pgSchema },
      groupId: f.groupId,
      windowMs: { sensor: f.sensorWindow, meter: f.consumptionWindow, weather: f.weatherWindow },
      allowedLatenessMs: f.allowedLateness,
      idleTimeoutMs: f.idleTimeout,
      workers: f.workers,
      taskRecords: f.taskRecords,
      maxInflightBatches: f.maxInflightBatches,
      maxBytesPerPartition: f.maxBytesPerPartition,
      maxBytes: f.maxBytes,
      maxWaitMs: f.maxWait,
      partitionsConcurrency: f.partitionsConcurrency,
      sessionTimeoutMs: f.sessionTimeout,
      kafkaUnreachableAfterMs: f.kafkaUnreachableAfter,
      checkpointDir: f.checkpointDir,
      checkpointIntervalMs: f.checkpointInterval,
      checkpointsKept: f.checkpointsKept,
      ignoreMissingCheckpoint: f.ignoreMissingCheckpoint,
      availableNow: f.availableNow,
      startingOffsets: f.startingOffsets,
      topicPartitions: f.topicPartitions,
      createTopics: f.createTopics,
      maxPendingRows: f.maxPendingRows,
      sinkRetryMaxMs: f.sinkRetryMax,
      shutdownTimeoutMs: f.shutdownTimeout,
      metricsPort: f.metricsPort,
      metricsHost: f.metricsHost,
      progressIntervalMs: f.progressInterval,
      maxFutureSkewMs: f.maxFutureSkew,
      maxOpenStates: f.maxOpenStates,
      sinkStatementTimeoutMs: f.sinkStatementTimeout,
      sinkStallTimeoutMs: f.sinkStallTimeout,
      startupTimeoutMs: f.startupTimeout,
      checkpointFailuresTolerated: f.checkpointFailuresTolerated,
      logLevel: f.logLevel,
      logFormat: f.logFormat === 'auto' ? (process.stderr.isTTY ? 'text' : 'json') : f.logFormat,
    },
  };
}

/**
 * The password, from POSTGRES_PASSWORD_FILE when given (as the postgres image reads it): the
 * file's content without a trailing line break. Giving both is an error, as there.
 */
function postgresPassword(f: Flat, fileSource: string | undefined, passwordSource: string | undefined): string {
  if (f.pgPasswordFile === '') return f.pgPassword;
  const setting = fileSource ?? 'POSTGRES_PASSWORD_FILE';
  if (f.pgPassword !== '') throw new ConfigError(setting, `give the password or a password file, not both (${passwordSource ?? 'POSTGRES_PASSWORD'} is set too)`);
  try {
    return readFileSync(f.pgPasswordFile, 'utf8').replace(/\r?\n$/, '');
  } catch (e) {
    throw new ConfigError(setting, `cannot read '${f.pgPasswordFile}': ${(e as Error).message}`);
  }
}

export function helpText(): string {
  const lines = [
    'Usage: npm start -- [options]      (or: node dist/src/main/cli.js [options])',
    '',
    'Reads sensor, meter and weather records from Kafka, aggregates them in event-time',
    'windows on worker threads and writes the results to PostgreSQL.',
    '',
    'Every option can also be set by the environment variable shown; a flag wins.',
    '',
  ];
  for (const o of OPTIONS) {
    const head = `  ${o.flag}${o.def === 'false' ? '' : ' <value>'}`;
    lines.push(`${head.padEnd(36)} ${o.help}`);
    lines.push(`${''.padEnd(36)} env ${o.env}, default ${o.def === '' ? '(empty)' : o.def}`);
  }
  lines.push('  --help'.padEnd(37) + 'show this help');
  return lines.join('\n');
}
