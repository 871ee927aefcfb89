/**
 * What an operator sees of a live engine, against the real broker and PostgreSQL:
 * /livez and /readyz through start-up, a PostgreSQL outage and its end; a scrape that
 * `promtool check metrics` accepts and that holds every metric the alert rules and the
 * dashboard name; Debian's Prometheus server scraping the engine with the shipped config
 * and rules; and an engine that cannot reach Kafka (503 with the reason, one log line).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { parse, stringify } from 'yaml';
import { createApp } from '../../src/main/app.js';
import { loadConfig } from '../../src/main/config.js';
import { createLogger, silentLogger } from '../../src/common/log.js';
import { kafka, KAFKA_BROKER, PG, uniqueName } from '../helpers.js';
import { DEPLOY, exportedNames, kitExpressions, metricNames, missing, ROOT, SCRAPE_GENERATED } from '../ops-helpers.js';

const LOG = process.env.TEST_LOG ? createLogger({ level: 'debug', json: false }) : silentLogger;
const MIN = 60_000;
const BASE = Date.UTC(2026, 10, 28, 6, 0, 0);

async function until<T>(what: string, f: () => Promise<T | undefined | false>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function probe(port: number, route: string): Promise<{ status: number; body: { status: string; reasons: string[] } }> {
  const r = await fetch(`http://127.0.0.1:${port}${route}`);
  return { status: r.status, body: (await r.json()) as { status: string; reasons: string[] } };
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

test('operations: probes through start-up and a PostgreSQL outage, a scrape promtool accepts, the kit names only exported metrics, Prometheus scrapes it', { timeout: 240_000 }, async (t) => {
  // The engine writes as a role of its own, so that the test can take its INSERT right
  // away (an outage that the engine sees as transient, SQLSTATE 42501) and give it back.
  const schema = uniqueName('ops').toLowerCase();
  const role = `${schema}_role`;
  const admin = new pg.Client(PG);
  await admin.connect();
  await admin.query(`CREATE ROLE ${role} LOGIN`);
  await admin.query(`CREATE SCHEMA ${schema} AUTHORIZATION ${role}`);
  t.after(async () => {
    await admin.query(`DROP SCHEMA ${schema} CASCADE`).catch(() => {});
    await admin.query(`DROP OWNED BY ${role} CASCADE; DROP ROLE IF EXISTS ${role}`).catch(() => {});
    await admin.end();
  });
  const topics = { sensor: uniqueName('ops-s'), meter: uniqueName('ops-m'), weather: uniqueName('ops-w') };
  const kadmin = kafka().admin();
  await kadmin.connect();
  t.after(async () => {
    await kadmin.deleteTopics({ topics: Object.values(topics) }).catch(() => {});
    await kadmin.disconnect();
  });
  const dir = mkdtempSync(path.join(tmpdir(), 'ops-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const argv = [
    '--kafka-broker', KAFKA_BROKER, '--postgres-host', PG.host, '--postgres-port', String(PG.port), '--postgres-db', PG.database,
    '--postgres-user', role, '--postgres-schema', schema, '--topic-sensor', topics.sensor, '--topic-meter', topics.meter,
    '--topic-weather', topics.weather, '--group-id', uniqueName('ops'), '--checkpoint-dir', dir, '--idle-timeout', '500ms',
    '--checkpoint-interval', '500ms', '--metrics-port', '0', '--progress-interval', '0', '--topic-partitions', '1',
    '--allowed-lateness', '1m', '--sink-retry-max', '500ms',
  ];
  const app = createApp(loadConfig(argv, {}).config, LOG);
  const running = app.run();
  t.after(async () => {
    await app.engine.stop().catch(() => {});
    await running.catch(() => {});
    await app.close();
  });
  const port = await until('the HTTP server', async () => app.httpPort() ?? undefined);

  // Start-up: alive at once; not ready until the group has assigned partitions.
  assert.equal((await probe(port, '/livez')).status, 200);
  const first = await probe(port, '/readyz');
  assert.equal(first.status, 503, 'not ready before the first assignment');
  assert.ok(first.body.reasons.includes('waiting for the consumer group to assign partitions'), JSON.stringify(first.body));
  await until('ready', async () => (await probe(port, '/readyz')).status === 200);
  assert.ok(app.engine.status().assigned > 0, 'ready means partitions are assigned');
  assert.equal((await probe(port, '/health')).status, 200);

  const producer = kafka().producer();
  await producer.connect();
  t.after(() => producer.disconnect());
  const sensor = (m: number, i: number) => ({
    key: `s${i}`,
    value: JSON.stringify({ sensor_id: `s${i}`, sensor_type: 'voltage', value: 230 + i, timestamp: new Date(BASE + m * MIN + 1000).toISOString() }),
  });
  const rows = async () => Number((await admin.query(`SELECT count(*)::int AS n FROM ${schema}.sensor_aggregates_realtime`)).rows[0].n);
  await producer.send({ topic: topics.sensor, messages: [...Array(10).keys()].flatMap((m) => [sensor(m, 0), sensor(m, 1)]).concat([{ key: 'x', value: '{not json' }]) });
  await until('the first windows', async () => (await rows()) >= 2);

  // The scrape: valid exposition format, and everything the kit queries is there.
  const page = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const names = exportedNames(page);
  for (const { where, expr } of kitExpressions()) {
    for (const name of metricNames(expr)) {
      assert.ok(names.has(name) || SCRAPE_GENERATED.has(name), `${where} uses ${name}, which the engine does not export`);
    }
  }
  assert.match(page, /smartgrid_dead_letters_total\{reason="invalid_json"\} 1/);
  assert.match(page, /smartgrid_batch_seconds_bucket\{le="\+Inf"\} [1-9]/);
  assert.match(page, /smartgrid_ready 1/);
  await t.test('promtool check metrics accepts a live scrape', (tt) => {
    const why = missing('promtool');
    if (why !== null) return tt.skip(why);
    const r = spawnSync('promtool', ['check', 'metrics'], { input: page, encoding: 'utf8' });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  });

  await t.test('Prometheus (Debian package) scrapes the engine with the shipped config and loads the shipped rules', { timeout: 90_000 }, async (tt) => {
    const why = missing('prometheus');
    if (why !== null) return tt.skip(why);
    const work = mkdtempSync(path.join(tmpdir(), 'prom-'));
    tt.after(() => rmSync(work, { recursive: true, force: true }));
    const config = parse(readFileSync(path.join(DEPLOY, 'prometheus', 'prometheus.yml'), 'utf8')) as {
      global: Record<string, string>;
      scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
    };
    config.global.scrape_interval = '1s';
    config.global.evaluation_interval = '1s';
    config.scrape_configs[0].static_configs = [{ targets: [`127.0.0.1:${port}`] }];
    writeFileSync(path.join(work, 'prometheus.yml'), stringify(config));
    copyFileSync(path.join(DEPLOY, 'prometheus', 'alerts.yml'), path.join(work, 'alerts.yml'));
    const webPort = await freePort();
    const prom = spawn('prometheus', [
      `--config.file=${path.join(work, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(work, 'data')}`,
      `--web.listen-address=127.0.0.1:${webPort}`,
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    prom.stderr.on('data', (d: Buffer) => (log += d.toString()));
    const exited = new Promise((r) => prom.once('exit', r));
    tt.after(async () => {
      prom.kill('SIGTERM');
      await exited;
    });
    const api = async (q: string) => {
      const r = await fetch(`http://127.0.0.1:${webPort}/api/v1/${q}`).catch(() => null);
      return r?.ok ? ((await r.json()) as { data: { result?: { metric: Record<string, string>; value: [number, string] }[]; groups?: { rules: { name: string }[] }[] } }).data : undefined;
    };
    const result = await until(`a query result from Prometheus (log: ${log.slice(-500)})`, async () => {
      const d = await api(`query?query=${encodeURIComponent('sum(smartgrid_records_in_total{job="smartgrid-stream"})')}`);
      return d?.result?.length ? d.result : undefined;
    }, 60_000);
    assert.equal(Number(result[0].value[1]), app.metrics.totalIn(), 'Prometheus read the engine’s count');
    const info = await api(`query?query=${encodeURIComponent('smartgrid_build_info')}`);
    assert.equal(info?.result?.[0].metric.nodejs, process.versions.node);
    assert.equal(info?.result?.[0].metric.kafka_client, 'wire');
    const rules = await api('rules');
    assert.equal(rules?.groups?.[0].rules.length, 8, 'the shipped alert rules are loaded');
  });

  // PostgreSQL refuses writes: not ready at once (still alive); ready again when it accepts them.
  await admin.query(`REVOKE INSERT, UPDATE ON ALL TABLES IN SCHEMA ${schema} FROM ${role}`);
  const before = await rows();
  await producer.send({ topic: topics.sensor, messages: [...Array(10).keys()].flatMap((m) => [sensor(10 + m, 0), sensor(10 + m, 1)]) });
  const down = await until('not ready during the outage', async () => {
    const r = await probe(port, '/readyz');
    return r.status === 503 ? r : undefined;
  });
  assert.match(down.body.reasons.join(), /PostgreSQL writes are failing/);
  assert.equal((await probe(port, '/livez')).status, 200, 'an outage is no reason to restart');
  assert.match(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text(), /smartgrid_sink_failing 1/);
  await admin.query(`GRANT INSERT, UPDATE ON ALL TABLES IN SCHEMA ${schema} TO ${role}`);
  await until('ready after the outage', async () => (await probe(port, '/readyz')).status === 200);
  await until('the held windows written', async () => (await rows()) > before);
});

test('operations: Kafka unreachable: /readyz 503 naming it, /livez 200, one log line for the outage, no stack traces', { timeout: 60_000 }, async (t) => {
  const closed = await freePort(); // nothing listens there
  const dir = mkdtempSync(path.join(tmpdir(), 'ops-nokafka-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const child = spawn(process.execPath, [
    path.join(ROOT, 'dist', 'src', 'main', 'cli.js'), '--kafka-broker', `127.0.0.1:${closed}`, '--kafka-unreachable-after', '1s',
    '--metrics-port', '0', '--checkpoint-dir', dir, '--group-id', uniqueName('ops-nokafka'), '--progress-interval', '0',
    '--postgres-host', PG.host, '--postgres-port', String(PG.port), '--postgres-db', PG.database, '--postgres-user', PG.user,
    '--log-format', 'json',
  ], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, POSTGRES_PASSWORD: PG.password } });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exit = new Promise<number | null>((r) => child.once('exit', r));
  t.after(() => child.kill('SIGKILL'));
  const lines = () => stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  const port = await until('the HTTP server', async () => lines().find((l) => typeof l.port === 'number')?.port as number | undefined);

  assert.equal((await probe(port, '/livez')).status, 200);
  const r = await until('not ready because of Kafka', async () => {
    const x = await probe(port, '/readyz');
    return x.body.reasons.some((s) => s.startsWith('Kafka has not answered')) ? x : undefined;
  });
  assert.equal(r.status, 503);
  assert.match(r.body.reasons.join('\n'), new RegExp(`Kafka has not answered since the start \\d+ s ago \\(127\\.0\\.0\\.1:${closed}: .*ECONNREFUSED`));
  // Let the client retry a few more times, then look at the log.
  await new Promise((res) => setTimeout(res, 3000));
  const outage = lines().filter((l) => String(l.msg).includes('Kafka') && l.level === 'warn');
  assert.equal(outage.length, 1, `one line for the outage, not one per retry:\n${stderr}`);
  assert.equal(outage[0].msg, 'Kafka unreachable; the client keeps retrying');
  assert.equal(outage[0].broker, `127.0.0.1:${closed}`);
  assert.doesNotMatch(stderr, /"stack"|\n\s+at /, 'no stack traces');
  child.kill('SIGTERM');
  assert.equal(await exit, 0, 'a stop while connecting ends the run at once');
});
