/**
 * Engine configuration: one table of options, each settable by a command-line flag or an
 * environment variable (the seed's names where the seed has one), with defaults, parsing
 * and validation in one place. The table is a function from a Reader to the configuration
 * (see src/common/options.ts): each option is read where it lands, EngineConfig is the
 * table's return type, and adding an option is one line. The topic and window options of
 * each stream come from the table of stream facts. Entry points pass `process.argv` and
 * `process.env` in; nothing below reads the environment.
 */
import { availableParallelism } from 'node:os';
import {
  anyText,
  bool,
  brokers,
  bytes,
  ConfigError,
  duration,
  int,
  invalid,
  oneOf,
  opt,
  optionsHelp,
  optionsOf,
  readConfig,
  text,
  topicName,
  type Env,
  type Option,
  type Parser,
  type Reader,
} from '../common/options.js';
import { pgOptions } from '../common/pg-options.js';
import { byStream, STREAM_LIST } from '../common/streams.js';

export { parseDuration } from '../common/options.js';

/** A window size: 1 s to 7 days, in whole seconds. */
const windowSize: Parser<number> = (raw) => {
  const v = duration(1000, 7 * 86400000)(raw);
  return v % 1000 === 0 ? v : invalid(`'${raw}' must be a whole number of seconds`);
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
  if (v.length > MAX_GROUP_ID) invalid(`is ${v.length} characters long; at most ${MAX_GROUP_ID} are allowed`);
  if (Buffer.byteLength(groupDirName(v)) > 255) invalid('is too long once encoded as a folder name (255 bytes); use fewer non-ASCII characters');
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) invalid('must not contain control characters');
  }
  return v;
};

/** An optional setting: empty means not given. */
const unset = (v: string): string | undefined => (v === '' ? undefined : v);

/** --log-format auto: text on a terminal, JSON lines otherwise. */
const resolveLogFormat = (f: 'auto' | 'text' | 'json'): 'text' | 'json' => (f === 'auto' ? (process.stderr.isTTY ? 'text' : 'json') : f);

/** The engine's options in --help order, each read into its place in the configuration. */
export const engineOptions = (read: Reader) => ({
  kafkaBrokers: read(opt('--kafka-broker', 'KAFKA_BROKER', '127.0.0.1:9092', brokers, 'Kafka bootstrap servers, host:port[,host:port…]')),
  kafkaClient: read(opt('--kafka-client', 'SMARTGRID_KAFKA_CLIENT', 'wire', oneOf('wire', 'kafkajs'), 'Kafka read path: wire (the engine fetches raw record batches, workers decode them; assignment from the snapshot) or kafkajs (consumer group member)')),
  isolationLevel: read(opt('--isolation-level', 'SMARTGRID_ISOLATION_LEVEL', 'read_uncommitted', oneOf('read_uncommitted', 'read_committed'), 'read_committed skips records of aborted transactions and stops at the last stable offset (wire client)')),
  kafkaSecurity: {
    ca: unset(read(opt('--kafka-tls-ca', 'KAFKA_TLS_CA', '', anyText, 'PEM file of the CA certificate(s) that signed the brokers\' certificates (turns TLS on; wire client)'))),
    cert: unset(read(opt('--kafka-tls-cert', 'KAFKA_TLS_CERT', '', anyText, 'PEM client certificate, for brokers with ssl.client.auth=required'))),
    key: unset(read(opt('--kafka-tls-key', 'KAFKA_TLS_KEY', '', anyText, 'PEM private key of that certificate'))),
    insecure: read(opt('--kafka-tls-insecure', 'KAFKA_TLS_INSECURE', 'false', bool, 'TLS without checking the broker\'s certificate (for tests only)')),
    mechanism: unset(read(opt('--kafka-sasl-mechanism', 'KAFKA_SASL_MECHANISM', '', oneOf('', 'plain', 'scram-sha-256', 'scram-sha-512'), 'SASL mechanism: plain, scram-sha-256 or scram-sha-512 (wire client)'))),
    username: unset(read(opt('--kafka-sasl-username', 'KAFKA_SASL_USERNAME', '', anyText, 'SASL user'))),
    passwordFile: unset(read(opt('--kafka-sasl-password-file', 'KAFKA_SASL_PASSWORD_FILE', '', anyText, 'file holding the SASL password (one trailing newline is dropped)'))),
  },
  topics: byStream((s) => read(opt(s.topic.flag, s.topic.env, s.topic.def, topicName, s.topic.help))),
  postgres: pgOptions(read),
  groupId: read(opt('--group-id', 'SMARTGRID_GROUP_ID', 'smartgrid-stream', groupId, 'Kafka consumer group id (also names the checkpoint subfolder)')),
  windowMs: byStream((s) => read(opt(s.window.flag, s.window.env, s.window.def, windowSize, s.window.help))),
  allowedLatenessMs: read(opt('--allowed-lateness', 'SMARTGRID_ALLOWED_LATENESS', '10m', duration(0), 'how far event time may lag behind the watermark')),
  idleTimeoutMs: read(opt('--idle-timeout', 'SMARTGRID_IDLE_TIMEOUT', '10s', duration(0), 'a caught-up partition stops holding the watermark back after this long')),
  workers: read(opt('--workers', 'SMARTGRID_WORKERS', String(availableParallelism()), int(1, 256), 'worker threads (default: number of cores)')),
  taskRecords: read(opt('--task-records', 'SMARTGRID_TASK_RECORDS', '8192', int(16, 1000000), 'most records per worker task')),
  maxInflightBatches: read(opt('--max-inflight-batches', 'SMARTGRID_MAX_INFLIGHT_BATCHES', '8', int(1, 1024), 'fetched batches being decoded at once (fetching overlaps decoding)')),
  maxBytesPerPartition: read(opt('--max-bytes-per-partition', 'SMARTGRID_MAX_BYTES_PER_PARTITION', '2mb', bytes(1024, 1073741824), 'Kafka fetch size per partition')),
  maxBytes: read(opt('--max-bytes', 'SMARTGRID_MAX_BYTES', '16mb', bytes(1024, 1073741824), 'Kafka fetch size per request')),
  maxWaitMs: read(opt('--max-wait', 'SMARTGRID_MAX_WAIT', '100ms', duration(0, 60000), 'how long the broker may wait to fill a fetch')),
  partitionsConcurrency: read(opt('--partitions-concurrency', 'SMARTGRID_PARTITIONS_CONCURRENCY', '4', int(1, 256), 'partition batches processed at once (kafkajs client)')),
  groupMember: read(opt('--group-member', 'SMARTGRID_GROUP_MEMBER', 'false', bool, 'share the partitions with the other instances of --group-id (Kafka group protocol, static membership); state per partition in PostgreSQL (wire client)')),
  instanceId: unset(read(opt('--instance-id', 'SMARTGRID_INSTANCE_ID', '', anyText, 'with --group-member: this instance\'s static member id, unique and stable across restarts (default: the host name)'))),
  sessionTimeoutMs: read(opt('--session-timeout', 'SMARTGRID_SESSION_TIMEOUT', '30s', duration(1000, 300000), 'Kafka group session timeout: how soon a crashed instance\'s partitions move to the others (--group-member, kafkajs client)')),
  kafkaUnreachableAfterMs: read(opt('--kafka-unreachable-after', 'SMARTGRID_KAFKA_UNREACHABLE_AFTER', '30s', duration(1000), '/readyz answers 503 when Kafka has not answered for longer than this')),
  checkpointDir: read(opt('--checkpoint-dir', 'CHECKPOINT_DIR', './checkpoints', text, 'directory for state snapshots (one subfolder per group id)')),
  checkpointIntervalMs: read(opt('--checkpoint-interval', 'SMARTGRID_CHECKPOINT_INTERVAL', '10s', duration(100), 'how often state is snapshotted and offsets committed')),
  checkpointsKept: read(opt('--checkpoints-kept', 'SMARTGRID_CHECKPOINTS_KEPT', '3', int(2, 100), 'snapshots kept on disk (older ones are fallbacks)')),
  ignoreMissingCheckpoint: read(opt('--ignore-missing-checkpoint', 'SMARTGRID_IGNORE_MISSING_CHECKPOINT', 'false', bool, 'start from committed offsets with empty state when the group has no snapshot')),
  availableNow: read(opt('--available-now', 'SMARTGRID_AVAILABLE_NOW', 'false', bool, 'process what the topics hold now, write every window, commit and exit')),
  startingOffsets: read(opt('--starting-offsets', 'SMARTGRID_STARTING_OFFSETS', 'earliest', oneOf('earliest', 'latest'), 'where a new consumer group starts')),
  topicPartitions: read(opt('--topic-partitions', 'SMARTGRID_TOPIC_PARTITIONS', '3', int(1, 10000), 'partitions for topics the engine creates')),
  createTopics: read(opt('--create-topics', 'SMARTGRID_CREATE_TOPICS', 'true', bool, 'create missing input topics at start (otherwise wait for them)')),
  maxPendingRows: read(opt('--max-pending-rows', 'SMARTGRID_MAX_PENDING_ROWS', '200000', int(1000, 100000000), 'rows waiting for PostgreSQL before fetching pauses')),
  sinkRetryMaxMs: read(opt('--sink-retry-max', 'SMARTGRID_SINK_RETRY_MAX', '30s', duration(100), 'longest wait between retries of a failed write')),
  shutdownTimeoutMs: read(opt('--shutdown-timeout', 'SMARTGRID_SHUTDOWN_TIMEOUT', '30s', duration(1000), 'graceful stop must finish within this')),
  metricsPort: read(opt('--metrics-port', 'METRICS_PORT', '9464', int(0, 65535), 'port for /metrics, /livez, /readyz and /health (0 = any free port)')),
  metricsHost: read(opt('--metrics-host', 'METRICS_HOST', '127.0.0.1', text, 'address /metrics and /health listen on (0.0.0.0 for every interface, as in containers)')),
  maxFutureSkewMs: read(opt('--max-future-skew', 'SMARTGRID_MAX_FUTURE_SKEW', '5m', duration(0), 'records stamped further ahead of the wall clock are dead letters (reason future); 0 = no limit')),
  maxOpenStates: read(opt('--max-open-states', 'SMARTGRID_MAX_OPEN_STATES', '5000000', int(1000, 1000000000), 'open (window, group) states at which fetching pauses until windows are written; fails if none can be')),
  sinkStatementTimeoutMs: read(opt('--sink-statement-timeout', 'SMARTGRID_SINK_STATEMENT_TIMEOUT', '60s', duration(100, 3600000), 'PostgreSQL statement and lock timeout for sink writes (a blocked write fails and is retried)')),
  sinkStallTimeoutMs: read(opt('--sink-stall-timeout', 'SMARTGRID_SINK_STALL_TIMEOUT', '30s', duration(100, 3600000), 'a write still running after this long counts as failing (metrics, /health)')),
  startupTimeoutMs: read(opt('--startup-timeout', 'SMARTGRID_STARTUP_TIMEOUT', '60s', duration(0, 86400000), 'how long start-up retries PostgreSQL while it is not reachable (wrong database, role or password fail at once)')),
  checkpointFailuresTolerated: read(opt('--checkpoint-failures-tolerated', 'SMARTGRID_CHECKPOINT_FAILURES_TOLERATED', '3', int(0, 1000), 'failed checkpoints in a row that the engine survives (reported in metrics and /health)')),
  progressIntervalMs: read(opt('--progress-interval', 'SMARTGRID_PROGRESS_INTERVAL', '10s', duration(0), 'period of the one-line progress log (0 = off)')),
  logLevel: read(opt('--log-level', 'LOG_LEVEL', 'info', oneOf('debug', 'info', 'warn', 'error'), 'log level')),
  logFormat: resolveLogFormat(read(opt('--log-format', 'LOG_FORMAT', 'auto', oneOf('auto', 'text', 'json'), 'log format: text, json, or auto (text on a terminal)'))),
});

export type EngineConfig = ReturnType<typeof engineOptions>;

/** A row of the engine's option table: every engine option has a flag, a variable and a default. */
export interface EngineOption {
  flag: string;
  env: string;
  def: string;
  help: string;
}

const ENGINE_OPTIONS: readonly Option<unknown>[] = optionsOf(engineOptions);

export const OPTIONS: readonly EngineOption[] = ENGINE_OPTIONS.map(({ flag, env, def, help }) => {
  if (flag === undefined || env === undefined || def === undefined) throw new RangeError(`engine option ${flag ?? env} needs a flag, a variable and a default`);
  return { flag, env, def, help };
});

/** Every environment variable the engine reads (the compose file must not drift from it). */
export const ENGINE_ENV_VARS: readonly string[] = OPTIONS.map((o) => o.env);

/**
 * Builds the configuration from flags (which win) and environment variables. Throws a
 * ConfigError naming the first bad setting.
 */
export function loadConfig(argv: readonly string[], env: Env): { config: EngineConfig } {
  const config = readConfig(engineOptions, argv, env, { emptyEnv: 'value' });
  if (new Set(Object.values(config.topics)).size !== STREAM_LIST.length) {
    throw new ConfigError('KAFKA_TOPIC_*', 'the three input topics must be different');
  }
  const sec = config.kafkaSecurity;
  const secured = sec.ca !== undefined || sec.cert !== undefined || sec.insecure || sec.mechanism !== undefined;
  if (secured && config.kafkaClient === 'kafkajs') {
    throw new ConfigError('--kafka-client', 'TLS and SASL are supported by the wire client only; drop --kafka-client kafkajs');
  }
  if (config.groupMember && config.kafkaClient === 'kafkajs') {
    throw new ConfigError('--group-member', 'needs the wire client; drop --kafka-client kafkajs');
  }
  if (sec.mechanism !== undefined && (sec.username === undefined || sec.passwordFile === undefined)) {
    throw new ConfigError('--kafka-sasl-mechanism', 'needs --kafka-sasl-username and --kafka-sasl-password-file');
  }
  return { config };
}

export function helpText(): string {
  return [
    'Usage: npm start -- [options]      (or: node dist/src/main/cli.js [options])',
    '',
    'Reads sensor, meter and weather records from Kafka, aggregates them in event-time',
    'windows on worker threads and writes the results to PostgreSQL.',
    '',
    'Every option can also be set by the environment variable shown; a flag wins.',
    '',
    ...optionsHelp(ENGINE_OPTIONS),
    '  --help'.padEnd(37) + 'show this help',
    '  --version'.padEnd(37) + 'show the version',
  ].join('\n');
}
