import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ENGINE_ENV_VARS, groupDirName, helpText, loadConfig, parseDuration } from '../../src/main/config.js';
import { ConfigError } from '../../src/common/errors.js';

const CLI = fileURLToPath(new URL('../../src/main/cli.js', import.meta.url));

test('defaults follow the seed and the contract', () => {
  const { config } = loadConfig([], {});
  assert.deepEqual(config.kafkaBrokers, ['127.0.0.1:9092']);
  assert.deepEqual(config.topics, { sensor: 'smartgrid-sensor-data', meter: 'smartgrid-meter-readings', weather: 'smartgrid-weather-data' });
  assert.deepEqual(config.windowMs, { sensor: 300000, meter: 3600000, weather: 3600000 });
  assert.equal(config.allowedLatenessMs, 600000);
  assert.equal(config.postgres.port, 5432);
  assert.equal(config.availableNow, false);
  assert.ok(config.workers >= 1);
});

test('environment variables from the seed, flags win over them', () => {
  const env = { KAFKA_BROKER: 'k1:9092,k2:9093', KAFKA_TOPIC_WEATHER: 'w', POSTGRES_PORT: '6543', POSTGRES_DB: 'grid', SMARTGRID_WORKERS: '3' };
  const { config } = loadConfig(['--workers', '5', '--sensor-window=1m', '--available-now', '--allowed-lateness', '30s'], env);
  assert.deepEqual(config.kafkaBrokers, ['k1:9092', 'k2:9093']);
  assert.equal(config.topics.weather, 'w');
  assert.equal(config.postgres.port, 6543);
  assert.equal(config.postgres.database, 'grid');
  assert.equal(config.workers, 5);
  assert.equal(config.windowMs.sensor, 60000);
  assert.equal(config.availableNow, true);
  assert.equal(config.allowedLatenessMs, 30000);
  assert.equal(loadConfig(['--no-create-topics'], {}).config.createTopics, false);
});

test('a bad value names the setting', () => {
  const bad: [string[], Record<string, string>, RegExp][] = [
    [['--workers', '0'], {}, /^--workers: '0' must be between 1 and 256/],
    [[], { POSTGRES_PORT: 'five' }, /^POSTGRES_PORT: 'five' is not a whole number/],
    [[], { KAFKA_BROKER: 'localhost' }, /^KAFKA_BROKER: 'localhost' is not host:port/],
    [['--sensor-window', '90500ms'], {}, /^--sensor-window: .*whole number of seconds/],
    [['--starting-offsets', 'middle'], {}, /^--starting-offsets: 'middle' must be one of earliest, latest/],
    [['--bogus'], {}, /^--bogus: unknown option/],
    [['--group-id'], {}, /^--group-id: needs a value/],
    [[], { KAFKA_TOPIC_SENSOR_DATA: 'a', KAFKA_TOPIC_METER_READINGS: 'a' }, /must be different/],
    [[], { KAFKA_TOPIC_WEATHER: 'bad topic' }, /^KAFKA_TOPIC_WEATHER: 'bad topic' is not a valid Kafka topic name/],
  ];
  for (const [argv, env, re] of bad) {
    assert.throws(() => loadConfig(argv, env), (e: unknown) => e instanceof ConfigError && re.test(e.message), argv.join(' ') + JSON.stringify(env));
  }
});

test('durations', () => {
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('10s'), 10000);
  assert.equal(parseDuration('5m'), 300000);
  assert.equal(parseDuration('1.5h'), 5400000);
  assert.equal(parseDuration('42'), 42);
  assert.throws(() => parseDuration('5 weeks'));
});

test('the CLI reports a bad setting in one line with exit code 2, before connecting', () => {
  const r = spawnSync(process.execPath, [CLI], { env: { PATH: process.env.PATH, KAFKA_BROKER: 'nohost', POSTGRES_PORT: '1' }, encoding: 'utf8', timeout: 10000 });
  assert.equal(r.status, 2);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, /KAFKA_BROKER: 'nohost' is not host:port/);
});

test('--help lists every option with its environment variable and default', () => {
  const r = spawnSync(process.execPath, [CLI, '--help'], { encoding: 'utf8', timeout: 10000 });
  assert.equal(r.status, 0);
  for (const env of ENGINE_ENV_VARS) assert.ok(r.stdout.includes(`env ${env},`), env);
  assert.equal(r.stdout.trim(), helpText().trim());
  assert.match(r.stdout, /--allowed-lateness <value>.*\n.*default 10m/);
});

test('group ids become one safe folder name; topic and schema names follow Kafka and PostgreSQL', () => {
  const bad = (argv: string[], re: RegExp) =>
    assert.throws(() => loadConfig(argv, {}), (e: unknown) => e instanceof ConfigError && re.test(e.message), argv.join(' '));
  assert.equal(groupDirName('smartgrid-stream'), 'smartgrid-stream', 'plain ids keep their folder');
  assert.equal(groupDirName('grid.v2_A'), 'grid.v2_A');
  for (const g of ['../../../x', 'a/../b', '..', '.', '.hidden', 'a\\b', "x*'()!"]) {
    const d = groupDirName(g);
    assert.ok(!d.includes('/') && !d.includes('\\') && !d.startsWith('.'), `${g} -> ${d}`);
    assert.notEqual(d, groupDirName('b'));
  }
  assert.notEqual(groupDirName('a/../b'), groupDirName('b'), 'a/../b and b do not share a folder');
  assert.equal(join('/ck', groupDirName('../../../x')).startsWith('/ck/'), true);
  bad(['--group-id', 'g'.repeat(250)], /--group-id: is 250 characters long; at most 249/);
  bad(['--group-id', '😀'.repeat(30)], /too long once encoded/);
  bad(['--group-id', 'a\nb'], /control characters/);
  assert.equal(loadConfig(['--group-id', 'g'.repeat(249)], {}).config.groupId.length, 249);
  bad(['--topic-sensor', '..'], /--topic-sensor: '\.\.' is not a valid Kafka topic name/);
  bad(['--topic-meter', '.'], /--topic-meter/);
  bad(['--topic-weather', 'a'.repeat(250)], /--topic-weather/);
  bad(['--postgres-schema', 'information_schema'], /--postgres-schema: 'information_schema' is a PostgreSQL system schema/);
  bad(['--postgres-schema', 'pg_catalog'], /system schema/);
  bad(['--postgres-schema', 'Upper'], /plain lower-case identifier/);
});

test('the CLI exits 2 with one line for a group id that would fail later', () => {
  const r = spawnSync(process.execPath, [CLI, '--group-id', 'x'.repeat(300)], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^error: invalid configuration: --group-id: is 300 characters long/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
});

test('POSTGRES_PASSWORD_FILE: the password from a file, without its line break; not together with POSTGRES_PASSWORD', async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'pwfile-'));
  try {
    const file = join(dir, 'pw');
    writeFileSync(file, 's3cret with spaces\n');
    assert.equal(loadConfig([], { POSTGRES_PASSWORD_FILE: file }).config.postgres.password, 's3cret with spaces');
    assert.equal(loadConfig(['--postgres-password-file', file], {}).config.postgres.password, 's3cret with spaces');
    assert.equal(loadConfig([], { POSTGRES_PASSWORD: 'plain' }).config.postgres.password, 'plain');
    assert.throws(() => loadConfig([], { POSTGRES_PASSWORD_FILE: file, POSTGRES_PASSWORD: 'x' }), /^ConfigError: POSTGRES_PASSWORD_FILE: give the password or a password file, not both/);
    assert.throws(() => loadConfig(['--postgres-password-file', join(dir, 'missing')], {}), /^ConfigError: --postgres-password-file: cannot read '.*missing': ENOENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--kafka-unreachable-after: default 30 s, at least 1 s', () => {
  assert.equal(loadConfig([], {}).config.kafkaUnreachableAfterMs, 30000);
  assert.equal(loadConfig([], { SMARTGRID_KAFKA_UNREACHABLE_AFTER: '2m' }).config.kafkaUnreachableAfterMs, 120000);
  assert.throws(() => loadConfig(['--kafka-unreachable-after', '10ms'], {}), /^ConfigError: --kafka-unreachable-after: '10ms' must be between 1000 ms/);
});

test('--version: every command-line tool names itself, the package version and Node.js', () => {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  for (const [file, name] of [
    ['src/main/cli.js', 'smartgrid-stream'],
    ['loadgen/cli.js', 'loadgen'],
    ['src/producer/weather-producer.js', 'weather-producer'],
  ]) {
    const r = spawnSync(process.execPath, [root + file, '--version'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `${name} ${pkg.version} (Node.js ${process.versions.node})\n`);
  }
});
