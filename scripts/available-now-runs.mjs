#!/usr/bin/env node
// Runs the engine's --available-now path many times on small fresh topics and counts how
// each run ended (exit code or signal). Written to hunt an unexplained SIGABRT (exit 134)
// seen once in an --available-now run on fresh topics (issue #10, item 10).
//
//   npm run build --silent && node scripts/available-now-runs.mjs [--runs 100] [--events 3000]
//        [--timeout 120] [--out .local/available-now-runs]
//
// Each run: the load generator creates three new topics and fills them with --events
// records (seed = run number), then the engine reads everything under its own consumer
// group, PostgreSQL schema and checkpoint directory, and exits. Every run that does not
// exit 0 keeps its stderr in --out (Node prints the native stack on an abort; a fatal V8
// error also writes a diagnostic report there). Topics, group, schema and checkpoint
// directory are removed after each run. Uses the running broker and database on loopback
// (KAFKA_BROKER, POSTGRES_* as the engine reads them). Exits 1 if any run failed.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values: a } = parseArgs({
  options: {
    runs: { type: 'string', default: '100' },
    events: { type: 'string', default: '3000' },
    timeout: { type: 'string', default: '120' },
    out: { type: 'string', default: join(root, '.local', 'available-now-runs') },
  },
});
const runs = Number(a.runs);
const events = Number(a.events);
const timeoutMs = Number(a.timeout) * 1000;
if (!(Number.isInteger(runs) && runs > 0) || !(Number.isInteger(events) && events > 0) || !(timeoutMs > 0)) {
  console.error('usage: node scripts/available-now-runs.mjs [--runs N] [--events N] [--timeout seconds] [--out DIR]');
  process.exit(2);
}
mkdirSync(a.out, { recursive: true });

// The runs use a copy of dist/ (with sql/ and package.json beside it, where the code looks
// for them; node_modules is found further up), so rebuilding while they go on changes
// nothing under test.
const snap = join(root, '.local', `available-now-runs-${process.pid}`);
rmSync(snap, { recursive: true, force: true });
mkdirSync(snap, { recursive: true });
for (const f of ['dist', 'sql', 'package.json']) cpSync(join(root, f), join(snap, f), { recursive: true });
process.on('exit', () => rmSync(snap, { recursive: true, force: true }));

const brokers = (process.env.KAFKA_BROKER ?? '127.0.0.1:9092').split(',');
const pgConfig = {
  host: process.env.POSTGRES_HOST ?? '127.0.0.1',
  port: Number(process.env.POSTGRES_PORT ?? 5432),
  database: process.env.POSTGRES_DB ?? 'postgres',
  user: process.env.POSTGRES_USER ?? 'postgres',
  password: process.env.POSTGRES_PASSWORD ?? '',
};
const admin = new Kafka({ clientId: 'available-now-runs', brokers, logLevel: logLevel.NOTHING }).admin();
await admin.connect();
const db = new pg.Client(pgConfig);
await db.connect();

// Ctrl-C / SIGTERM: stop the running engine, clean up this run, and stop.
let stopping = false;
let current;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    stopping = true;
    current?.kill('SIGTERM');
  });
}

/** Runs the engine; resolves with how it ended and what it wrote to stderr. */
function engine(args) {
  return new Promise((resolve) => {
    const child = (current = spawn(process.execPath, ['--report-on-fatalerror', `--report-directory=${a.out}`, 'dist/src/main/cli.js', ...args], {
      cwd: snap,
      stdio: ['ignore', 'ignore', 'pipe'],
    }));
    const err = [];
    child.stderr.on('data', (d) => err.push(d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    const t0 = Date.now();
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, timedOut, ms: Date.now() - t0, stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

const counts = new Map();
let failed = 0;
const started = Date.now();
for (let i = 1; i <= runs; i++) {
  const id = `anr_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const topics = { sensor: `${id}_sensor`, meter: `${id}_meter`, weather: `${id}_weather` };
  const dir = mkdtempSync(join(tmpdir(), 'anr-'));
  let outcome;
  try {
    const lg = spawnSync(
      process.execPath,
      ['dist/loadgen/cli.js', '--events', String(events), '--seed', String(i), '--quiet', '--out-of-order', '0.05', '--late', '0.01', '--bad', '0.01',
        '--topic-sensor', topics.sensor, '--topic-meter', topics.meter, '--topic-weather', topics.weather, '--brokers', brokers.join(',')],
      { cwd: snap, encoding: 'utf8', timeout: timeoutMs },
    );
    if (lg.status !== 0) {
      outcome = `loadgen failed (${lg.status ?? lg.signal})`;
      writeFileSync(join(a.out, `run-${i}-loadgen.stderr`), lg.stderr ?? '');
    } else {
      const r = await engine([
        '--available-now', '--metrics-port', '0', '--log-format', 'json',
        '--topic-sensor', topics.sensor, '--topic-meter', topics.meter, '--topic-weather', topics.weather,
        '--group-id', id, '--postgres-schema', id, '--checkpoint-dir', dir,
      ]);
      outcome = r.timedOut ? 'timeout (killed)' : r.signal !== null ? `signal ${r.signal}` : `exit ${r.code}`;
      if (r.timedOut || r.code !== 0) writeFileSync(join(a.out, `run-${i}-engine.stderr`), r.stderr);
      // What landed, so a run that exits 0 having read nothing does not pass unnoticed.
      const rows = await db
        .query(`SELECT (SELECT count(*) FROM "${id}".sensor_aggregates_realtime) + (SELECT count(*) FROM "${id}".consumption_aggregates_realtime) AS n, (SELECT count(*) FROM "${id}".dead_letters) AS d`)
        .then((q) => `${q.rows[0].n} rows, ${q.rows[0].d} dead letters`, () => 'no tables');
      if (outcome === 'exit 0' && rows === 'no tables') outcome = 'exit 0 without tables';
      process.stdout.write(`run ${i}/${runs}: ${outcome} in ${r.ms} ms (${rows})\n`);
    }
  } finally {
    await admin.deleteTopics({ topics: Object.values(topics), timeout: 10_000 }).catch(() => {});
    await admin.deleteGroups([id]).catch(() => {});
    await db.query(`DROP SCHEMA IF EXISTS "${id}" CASCADE`).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
  if (outcome !== 'exit 0') failed++;
  counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
  if (stopping) break;
}
await admin.disconnect();
await db.end();
const summary = { runs: [...counts.values()].reduce((x, y) => x + y, 0), eventsPerRun: events, minutes: +((Date.now() - started) / 60_000).toFixed(1), outcomes: Object.fromEntries(counts) };
console.log(JSON.stringify(summary));
if (failed > 0) console.log(`stderr of the ${failed} failed run(s) in ${a.out}`);
process.exit(failed > 0 ? 1 : 0);
