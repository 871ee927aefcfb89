#!/usr/bin/env node
// The README's first command (npm run demo): on local defaults, bring up Kafka and
// PostgreSQL, feed a sample load with the load generator, run the engine over it
// (--available-now), and show what landed in the tables.
//
// Each demo continues in event time where the previous one ended (kept in
// .local/demo.json), so repeated demos add new windows instead of sending records for
// windows that are already final (those would be dead letters with reason 'late').
//
// The engine runs under a consumer group and a checkpoint directory of its own for each
// demo, never the production ones (`smartgrid-stream`, ./checkpoints): a second checkout,
// or one whose checkpoints were deleted, would otherwise meet the production group's
// committed offsets without their snapshot and stop with CHECKPOINT_MISSING. Each demo
// reads the topics from the beginning; windows of earlier demos are rewritten with the
// same values. The group and its checkpoints are removed after a successful demo.
//
// SMARTGRID_SKIP_SERVICES=1 uses running services; DEMO_SKIP_BUILD=1 uses the built dist/.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';

const root = fileURLToPath(new URL('..', import.meta.url));
const events = Number(process.env.DEMO_EVENTS ?? 400000);
const HOUR = 3600000;
// Two days of event time at least: the report's same-hour measures compare each hour of
// day across days, and one day has nothing to compare.
const SPAN_HOURS = 48;

function step(title, cmd, args, opts = {}) {
  console.log(`\n== ${title}\n$ ${[cmd, ...args].join(' ')}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...opts });
  if (r.status !== 0) {
    console.error(`demo: '${title}' failed (exit ${r.status ?? r.signal})`);
    process.exit(r.status ?? 1);
  }
}

if (process.env.DEMO_SKIP_BUILD !== '1') step('build', 'npm', ['run', 'build', '--silent']);
if (process.env.SMARTGRID_SKIP_SERVICES !== '1') {
  step('local services (Kafka 4.x from Maven Central, PostgreSQL)', process.execPath, ['scripts/services.mjs', 'up']);
}

const stateFile = join(root, '.local', 'demo.json');
let start = Math.floor((Date.now() - SPAN_HOURS * HOUR) / HOUR) * HOUR;
try {
  const prev = JSON.parse(readFileSync(stateFile, 'utf8'));
  if (typeof prev.end === 'number' && prev.end > start) start = prev.end;
} catch {
  // first demo
}
const span = SPAN_HOURS * HOUR;
step('sample load: sensors, meters, weather (with out-of-order and bad records, a weather effect, sensor faults)', process.execPath, [
  'dist/loadgen/cli.js', '--events', String(events), '--start', new Date(start).toISOString(), '--span', `${SPAN_HOURS}h`,
  '--sensors', '60', '--meters', '300', '--customers', '60', '--out-of-order', '0.05', '--bad', '0.002', '--seed', String(start / HOUR),
  '--weather-effect', '0.02', '--spikes', '3', '--out-of-band', '2', '--silence', '2', '--silence-for', '2h',
]);
mkdirSync(join(root, '.local'), { recursive: true });
writeFileSync(stateFile, JSON.stringify({ end: start + span }) + '\n');

const groupId = `smartgrid-demo-${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}-${randomBytes(3).toString('hex')}`;
const checkpointDir = join(root, '.local', 'demo-checkpoints');
step('the engine, over everything the topics hold now (a consumer group of its own)', process.execPath, [
  'dist/src/main/cli.js', '--available-now', '--progress-interval', '2s', '--metrics-port', '0',
  '--group-id', groupId, '--checkpoint-dir', checkpointDir,
  // A second demo continues the simulated history where the first ended, which lies
  // ahead of the wall clock: the future guard (a live-run protection) is off for it.
  '--max-future-skew', '0',
]);
rmSync(join(checkpointDir, groupId), { recursive: true, force: true });
const admin = new Kafka({ clientId: 'smartgrid-demo', brokers: (process.env.KAFKA_BROKER ?? '127.0.0.1:9092').split(','), logLevel: logLevel.NOTHING }).admin();
try {
  await admin.connect();
  await admin.deleteGroups([groupId]);
} catch {
  // Only tidiness: an unused group's offsets expire on their own.
} finally {
  await admin.disconnect().catch(() => {});
}

const client = new pg.Client({
  host: process.env.POSTGRES_HOST ?? '127.0.0.1',
  port: Number(process.env.POSTGRES_PORT ?? 5432),
  database: process.env.POSTGRES_DB ?? 'postgres',
  user: process.env.POSTGRES_USER ?? 'postgres',
  password: process.env.POSTGRES_PASSWORD ?? '',
  options: process.env.POSTGRES_SCHEMA ? `-c search_path=${process.env.POSTGRES_SCHEMA}` : undefined,
});
await client.connect();
const show = async (title, sql) => {
  const { rows } = await client.query(sql);
  console.log(`\n== ${title}`);
  console.table(rows);
};
await show('rows per table', `
  SELECT 'sensor_aggregates_realtime' AS "table", count(*)::int AS rows, min(window_start) AS first_window, max(window_end) AS last_window_end FROM sensor_aggregates_realtime
  UNION ALL SELECT 'consumption_aggregates_realtime', count(*)::int, min(window_start), max(window_end) FROM consumption_aggregates_realtime
  UNION ALL SELECT 'weather_aggregates_realtime', count(*)::int, min(window_start), max(window_end) FROM weather_aggregates_realtime
  UNION ALL SELECT 'dead_letters', count(*)::int, NULL, NULL FROM dead_letters`);
await show('latest sensor windows', `SELECT window_start, sensor_type, sensor_id, avg_value, min_value, max_value, count, stddev_value FROM sensor_aggregates_realtime ORDER BY window_start DESC, sensor_type, sensor_id LIMIT 5`);
await show('latest consumption windows', `SELECT window_start, customer_id, total_consumption, avg_consumption, reading_count FROM consumption_aggregates_realtime ORDER BY window_start DESC, customer_id LIMIT 5`);
await show('latest weather windows', `SELECT window_start, avg_temperature, avg_humidity, avg_pressure, avg_wind_speed, weather_condition FROM weather_aggregates_realtime ORDER BY window_start DESC LIMIT 5`);
await show('dead letters by reason', `SELECT reason, count(*)::int FROM dead_letters GROUP BY reason ORDER BY 2 DESC`);
await client.end();
console.log('\nNext: npm run report   (weather vs consumption, sensor health; --png chart.png for a picture),');
console.log('      npm start (live), npm run services:down (stop Kafka).');
