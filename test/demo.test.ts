/**
 * `npm run demo` always works (issue #13 item 6): twice in a row, and from a second
 * checkout, against the same broker and database. Each "checkout" is a directory with its
 * own copy of scripts/demo.mjs (the demo keys everything on its own location) and links to
 * the built code. Unique topics and a unique PostgreSQL schema keep it apart from the rest.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createSchema, kafka, KAFKA_BROKER, PG, uniqueName } from './helpers.js';
import { ROOT } from './ops-helpers.js';

function checkout(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'demo-clone-'));
  mkdirSync(path.join(dir, 'scripts'));
  copyFileSync(path.join(ROOT, 'scripts', 'demo.mjs'), path.join(dir, 'scripts', 'demo.mjs'));
  copyFileSync(path.join(ROOT, 'package.json'), path.join(dir, 'package.json'));
  for (const d of ['dist', 'node_modules', 'sql']) symlinkSync(path.join(ROOT, d), path.join(dir, d));
  return dir;
}

test('the demo succeeds twice in a row and from a second checkout, never touching the production group or checkpoints', { timeout: 240_000 }, async (t) => {
  const db = await createSchema('demo');
  t.after(db.cleanup);
  const topics = { sensor: uniqueName('demo-s'), meter: uniqueName('demo-m'), weather: uniqueName('demo-w') };
  const admin = kafka().admin();
  await admin.connect();
  t.after(async () => {
    await admin.deleteTopics({ topics: Object.values(topics) }).catch(() => {});
    await admin.disconnect();
  });
  const a = checkout();
  const b = checkout();
  t.after(() => {
    rmSync(a, { recursive: true, force: true });
    rmSync(b, { recursive: true, force: true });
  });
  const env = {
    ...process.env,
    SMARTGRID_SKIP_SERVICES: '1',
    DEMO_SKIP_BUILD: '1',
    DEMO_EVENTS: '3000',
    KAFKA_BROKER,
    KAFKA_TOPIC_SENSOR_DATA: topics.sensor,
    KAFKA_TOPIC_METER_READINGS: topics.meter,
    KAFKA_TOPIC_WEATHER: topics.weather,
    POSTGRES_HOST: PG.host,
    POSTGRES_PORT: String(PG.port),
    POSTGRES_DB: PG.database,
    POSTGRES_USER: PG.user,
    POSTGRES_PASSWORD: PG.password,
    POSTGRES_SCHEMA: db.schema,
    SMARTGRID_WORKERS: '1',
  };
  const groupsBefore = new Set((await admin.listGroups()).groups.map((g) => g.groupId));
  for (const [name, dir] of [['first run', a], ['second run, same checkout', a], ['another checkout', b]] as const) {
    const r = spawnSync(process.execPath, [path.join(dir, 'scripts', 'demo.mjs')], { cwd: dir, env, encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, `${name}: exit ${r.status}\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
    assert.match(r.stdout, /rows per table/, name);
    assert.doesNotMatch(r.stderr, /CHECKPOINT_MISSING/, name);
  }
  const rows = await db.client.query('SELECT count(*)::int AS n FROM sensor_aggregates_realtime');
  assert.ok(rows.rows[0].n > 0);
  for (const dir of [a, b]) assert.ok(!existsSync(path.join(dir, 'checkpoints')), 'the production checkpoint directory is not used');
  const offsets = await admin.fetchOffsets({ groupId: 'smartgrid-stream', topics: [topics.sensor] });
  assert.ok(offsets[0].partitions.every((p) => p.offset === '-1'), 'the production group never read the demo topics');
  // Groups other tests may create meanwhile are told apart by having read these topics.
  const ours: string[] = [];
  for (const g of (await admin.listGroups()).groups.map((x) => x.groupId)) {
    if (groupsBefore.has(g) || !g.startsWith('smartgrid-demo-')) continue;
    const o = await admin.fetchOffsets({ groupId: g, topics: [topics.sensor] });
    if (o[0].partitions.some((p) => p.offset !== '-1')) ours.push(g);
  }
  assert.deepEqual(ours, [], 'each demo removes its group');
});
