/**
 * The engine as `npm start` runs it: live, not available-now. Windows become final as
 * the watermark passes them, a rebalance in the middle loses nothing, a graceful stop
 * checkpoints what is still open, and a restart continues from there.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp, type App } from '../../src/main/app.js';
import { loadConfig } from '../../src/main/config.js';
import { createLogger, silentLogger } from '../../src/common/log.js';
const LOG = process.env.TEST_LOG ? createLogger({ level: 'debug', json: false }) : silentLogger;
import { createSchema, kafka, KAFKA_BROKER, PG, uniqueName } from '../helpers.js';

const MIN = 60000;
const BASE = Date.UTC(2026, 10, 28, 6, 0, 0);

async function until<T>(what: string, f: () => Promise<T | undefined | false>, ms = 30000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('live mode: windows are written as the watermark passes them; stop, rebalance and restart lose nothing', { timeout: 180000 }, async (t) => {
  const topics = { sensor: uniqueName('live-s'), meter: uniqueName('live-m'), weather: uniqueName('live-w') };
  const db = await createSchema('live');
  t.after(db.cleanup);
  const dir = await mkdtemp(join(tmpdir(), 'live-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const admin = kafka().admin();
  await admin.connect();
  t.after(async () => {
    await admin.deleteTopics({ topics: Object.values(topics) }).catch(() => {});
    await admin.disconnect();
  });
  const group = uniqueName('live');
  const argv = [
    '--kafka-broker', KAFKA_BROKER, '--postgres-host', PG.host, '--postgres-port', String(PG.port), '--postgres-db', PG.database,
    '--postgres-schema', db.schema, '--topic-sensor', topics.sensor, '--topic-meter', topics.meter, '--topic-weather', topics.weather,
    '--group-id', group, '--checkpoint-dir', dir, '--idle-timeout', '500ms', '--checkpoint-interval', '500ms', '--metrics-port', '0',
    '--progress-interval', '0', '--topic-partitions', '2', '--allowed-lateness', '1m', '--session-timeout', '6s',
  ];
  const start = () => {
    const app = createApp(loadConfig(argv, {}).config, LOG);
    const running = app.run();
    return { app, running };
  };
  const producer = kafka().producer();
  await producer.connect();
  t.after(() => producer.disconnect());
  const sensor = (i: number, ts: number, value: number) => ({
    key: `s${i}`,
    partition: i % 2,
    value: JSON.stringify({ sensor_id: `s${i}`, sensor_type: 'voltage', value, timestamp: new Date(ts).toISOString() }),
  });
  const sensorRows = async () =>
    (await db.client.query(`SELECT (extract(epoch from window_start) * 1000)::float AS ws, sensor_id, count::int, avg_value::float FROM sensor_aggregates_realtime ORDER BY 1, 2`)).rows;

  // The topics do not exist yet: the engine creates them.
  let run: { app: App; running: Promise<void> } = start();
  // Whatever happens, leave no engine running behind the test.
  t.after(async () => {
    await run.app.engine.stop().catch(() => {});
    await run.running.catch(() => {});
    await run.app.close();
  });
  await until('topics created', async () => (await admin.listTopics()).includes(topics.sensor));
  await until('metrics server', async () => run.app.httpPort() ?? undefined);
  // Healthy (live and ready) once the group has assigned partitions.
  const health = await until('healthy', async () => {
    const r = await fetch(`http://127.0.0.1:${run.app.httpPort()}/health`);
    return r.status === 200 ? r : undefined;
  });
  assert.equal(((await health.json()) as { status: string }).status, "ok");

  // 06:00–06:20 on both partitions: windows up to 06:15 end before the watermark (06:20 − 1 min).
  const first = [];
  for (let m = 0; m < 20; m++) for (let i = 0; i < 4; i++) first.push(sensor(i, BASE + m * MIN + 1000, 10 + m));
  await producer.send({ topic: topics.sensor, messages: first });
  const rows1 = await until('the first final windows', async () => {
    const r = await sensorRows();
    return r.length === 12 ? r : undefined; // 3 windows × 4 sensors
  });
  assert.deepEqual([...new Set(rows1.map((r) => r.ws))], [BASE, BASE + 5 * MIN, BASE + 10 * MIN]);
  assert.deepEqual(rows1.filter((r) => r.ws === BASE).map((r) => [r.count, r.avg_value]), Array(4).fill([5, 12]));

  // /metrics while the engine runs: every record read is counted once, by outcome.
  const scrape = await (await fetch(`http://127.0.0.1:${run.app.httpPort()}/metrics`)).text();
  const counted = (outcome: string) =>
    Number(scrape.split('\n').find((l) => l.startsWith(`smartgrid_records_in_total{topic="${topics.sensor}",outcome="${outcome}"}`))?.split(' ')[1]);
  assert.equal(counted('aggregated'), first.length);
  assert.equal(counted('aggregated') + counted('late') + counted('bad'), first.length);
  assert.match(scrape, new RegExp(`smartgrid_consumer_lag\\{topic="${topics.sensor}",partition="0"\\} 0`));
  assert.match(scrape, /smartgrid_healthy 1/);

  // A second member joins the group and leaves: partitions are revoked and come back.
  const intruder = kafka().consumer({ groupId: group, sessionTimeout: 6000 });
  await intruder.connect();
  await intruder.subscribe({ topics: Object.values(topics) });
  await intruder.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: async () => {} });
  await new Promise((r) => setTimeout(r, 2000));
  await intruder.disconnect();

  // Graceful stop: the 06:15 window is still open; it is checkpointed, not written.
  await run.app.engine.stop();
  await run.running;
  await run.app.close();
  assert.equal((await sensorRows()).length, 12);

  // More data, then a restart: the open 06:15 window continues from the checkpoint.
  const second = [];
  for (let m = 20; m < 40; m++) for (let i = 0; i < 4; i++) second.push(sensor(i, BASE + m * MIN + 1000, 10 + m));
  await producer.send({ topic: topics.sensor, messages: second });
  run = start();
  const rows2 = await until('windows after the restart', async () => {
    const r = await sensorRows();
    return r.length === 28 ? r : undefined; // 7 windows (06:00–06:35) × 4 sensors
  });
  await run.app.engine.stop();
  await run.running;
  await run.app.close();
  for (let w = 0; w < 7; w++) {
    const rows = rows2.filter((r) => r.ws === BASE + w * 5 * MIN);
    assert.equal(rows.length, 4);
    for (const r of rows) {
      assert.equal(r.count, 5, `window ${w}: every record exactly once across the stop, the rebalance and the restart`);
      assert.equal(r.avg_value, 12 + 5 * w);
    }
  }
  const dead = await db.client.query('SELECT count(*)::int AS n FROM dead_letters');
  assert.equal(dead.rows[0].n, 0);
});
