/**
 * npm run prune: deletes windows that ended at least --older-than before the newest
 * window end, in every aggregate table, and never one inside the safety margin.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parsePruneArgs } from '../../src/report/prune.js';
import { ConfigError } from '../../src/report/errors.js';
import { createSchema, PG } from '../helpers.js';
import { applySchemaAndViews } from './fixtures.js';

const CLI = fileURLToPath(new URL('../../src/report/prune.js', import.meta.url));

function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: {
        PATH: process.env.PATH ?? '',
        TZ: 'Asia/Kolkata',
        POSTGRES_HOST: PG.host,
        POSTGRES_PORT: String(PG.port),
        POSTGRES_DB: PG.database,
        POSTGRES_USER: PG.user,
        POSTGRES_PASSWORD: PG.password,
        ...env,
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** 100 days of hourly windows (ending 2026-04-11 00:00) in each table, and 5-minute sensor windows. */
async function fill(client: import('pg').Client): Promise<void> {
  await client.query(`
    INSERT INTO consumption_aggregates_realtime (window_start, window_end, customer_id, total_consumption, avg_consumption, reading_count)
    SELECT timestamp '2026-01-01' + h * interval '1 hour', timestamp '2026-01-01' + (h + 1) * interval '1 hour', 'c' || c, 1, 1, 1
    FROM generate_series(0, 2399) h, generate_series(1, 2) c;
    INSERT INTO weather_aggregates_realtime (window_start, window_end, avg_temperature, avg_humidity, avg_pressure, avg_wind_speed, weather_condition)
    SELECT timestamp '2026-01-01' + h * interval '1 hour', timestamp '2026-01-01' + (h + 1) * interval '1 hour', 10, 50, 1000, 3, 'Sunny'
    FROM generate_series(0, 2399) h;
    INSERT INTO sensor_aggregates_realtime (window_start, window_end, sensor_type, sensor_id, avg_value, min_value, max_value, count, stddev_value)
    SELECT timestamp '2026-01-01' + w * interval '5 minutes', timestamp '2026-01-01' + (w + 1) * interval '5 minutes', 'voltage', 's1', 230, 230, 230, 1, NULL
    FROM generate_series(0, 28799) w;`);
}

const counts = async (client: import('pg').Client) =>
  (
    await client.query(`SELECT
      (SELECT count(*)::int FROM sensor_aggregates_realtime) AS sensor,
      (SELECT count(*)::int FROM consumption_aggregates_realtime) AS consumption,
      (SELECT count(*)::int FROM weather_aggregates_realtime) AS weather,
      (SELECT min(window_start)::text FROM consumption_aggregates_realtime) AS first_hour,
      (SELECT min(window_start)::text FROM sensor_aggregates_realtime) AS first_sensor`)
  ).rows[0];

describe('npm run prune', () => {
  test('--older-than 90d keeps the last 90 days before the newest window, in every table; --dry-run deletes nothing', async (t) => {
    const db = await createSchema('prune');
    t.after(() => db.cleanup());
    await applySchemaAndViews(db.client);
    await fill(db.client);
    const dry = await run(['--older-than', '90d', '--postgres-schema', db.schema, '--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /newest window ends 2026-04-11T00:00:00\.000Z; windows ending at or before 2026-01-11T00:00:00\.000Z/);
    assert.match(dry.stdout, /consumption_aggregates_realtime: would delete 480$/m);
    assert.deepEqual(await counts(db.client), {
      sensor: 28800, consumption: 4800, weather: 2400, first_hour: '2026-01-01 00:00:00', first_sensor: '2026-01-01 00:00:00',
    });
    const r = await run(['--older-than', '90d', '--postgres-schema', db.schema, '--batch', '1000']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /sensor_aggregates_realtime: deleted 2880$/m);
    assert.match(r.stdout, /consumption_aggregates_realtime: deleted 480$/m);
    assert.match(r.stdout, /weather_aggregates_realtime: deleted 240$/m);
    // the window [2026-01-10 23:00, 2026-01-11 00:00) ended at the cutoff: gone; the next stays
    assert.deepEqual(await counts(db.client), {
      sensor: 25920, consumption: 4320, weather: 2160, first_hour: '2026-01-11 00:00:00', first_sensor: '2026-01-11 00:00:00',
    });
    // again: nothing more to delete
    const again = await run(['--older-than', '90d', '--postgres-schema', db.schema]);
    assert.match(again.stdout, /sensor_aggregates_realtime: deleted 0$/m);
  });

  test('windows inside the safety margin are never touched: --older-than below --min-age exits 2', async (t) => {
    const db = await createSchema('prune_safe');
    t.after(() => db.cleanup());
    await applySchemaAndViews(db.client);
    await fill(db.client);
    for (const args of [['--older-than', '10m'], ['--older-than', '23h'], ['--older-than', '2d', '--min-age', '3d']]) {
      const r = await run([...args, '--postgres-schema', db.schema]);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, /^prune: --older-than: .* is inside the safety margin/);
    }
    assert.equal((await counts(db.client)).consumption, 4800);
    // exactly the margin is allowed: windows that ended a day or more before the newest go
    const r = await run(['--older-than', '1d', '--postgres-schema', db.schema]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /consumption_aggregates_realtime: deleted 4752$/m);
  });

  test('options: --older-than is required and a duration; the connection flags are the engine\'s', async () => {
    assert.throws(() => parsePruneArgs([]), (e: unknown) => e instanceof ConfigError && e.setting === '--older-than');
    assert.throws(() => parsePruneArgs(['--older-than', 'ninety days']), (e: unknown) => e instanceof ConfigError && e.setting === '--older-than');
    assert.throws(() => parsePruneArgs(['--older-than', '90d', '--batch', '0']), (e: unknown) => e instanceof ConfigError && e.setting === '--batch');
    assert.equal(parsePruneArgs(['--older-than', '90d']).opts.olderThanMs, 90 * 86_400_000);
    const unreachable = await run(['--older-than', '90d', '--postgres-port', '1']);
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.stderr, /^prune: cannot connect to PostgreSQL \(database "test" on 127\.0\.0\.1:1\)/);
    const empty = await createSchema('prune_empty');
    try {
      await applySchemaAndViews(empty.client);
      const r = await run(['--older-than', '90d', '--postgres-schema', empty.schema]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /the tables are empty/);
    } finally {
      await empty.cleanup();
    }
  });
});
