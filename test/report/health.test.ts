/**
 * Sensor health (sql/health.sql) against faults the load generator planted: the views
 * must return exactly the planted spikes, out-of-band windows and silenced sensors, and
 * nothing else, on data with out-of-order and bad records like the engine's input.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { EventGenerator, SENSOR_BANDS, type GenerateInput } from '../../loadgen/generate.js';
import { ExpectedAggregator } from '../../loadgen/expected.js';
import { createSchema } from '../helpers.js';
import { applySchemaAndViews } from './fixtures.js';
import { insertExpected } from './loadgen-rows.js';

const OPTIONS: GenerateInput = {
  seed: 77,
  events: 40_000,
  sensors: 12,
  spanMs: 6 * 3_600_000,
  partitions: 3,
  mix: { sensor: 0.9, meter: 0.05, weather: 0.05 },
  outOfOrderShare: 0.05,
  badShare: 0.01,
  anomalies: { spikes: 2, outOfBand: 2, silenced: 2, silenceMs: 3_600_000 },
};

const iso = (ms: number): string => new Date(ms).toISOString();
const key = (r: { window_start: Date | string; sensor_id: string }): string =>
  `${typeof r.window_start === 'string' ? r.window_start : r.window_start.toISOString()} ${r.sensor_id}`;

describe('sensor health views on planted faults', () => {
  let db: Awaited<ReturnType<typeof createSchema>>;
  let g: EventGenerator;
  before(async () => {
    db = await createSchema('health');
    await applySchemaAndViews(db.client);
    g = new EventGenerator(OPTIONS);
    const acc = new ExpectedAggregator({ windows: g.options.windows });
    while (!g.done) acc.add(g.next());
    await insertExpected(db.client, acc.result());
  });
  after(() => db.cleanup());

  const q = async <R extends Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<R[]> =>
    (await db.client.query<R>(`SELECT * FROM (${sql}) x`, params)).rows;
  const ts = `to_char(window_start, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS window_start`;

  test('the default limits are the generator\'s bands (voltage 207–253 V, frequency 49.8–50.2 Hz)', async () => {
    const rows = await q<{ sensor_type: string; low_value: number; high_value: number }>('SELECT sensor_type, low_value, high_value FROM sensor_limits ORDER BY 1');
    assert.deepEqual(
      Object.fromEntries(rows.map((r) => [r.sensor_type, [r.low_value, r.high_value]])),
      Object.fromEntries(Object.entries(SENSOR_BANDS).map(([k, v]) => [k, [...v]])),
    );
  });

  test('sensor_out_of_band: exactly the planted out-of-band windows, on the planted side', async () => {
    const rows = await q<{ window_start: string; sensor_id: string; side: string }>(`SELECT ${ts}, sensor_id, side FROM sensor_out_of_band`);
    const planted = g.planted.outOfBand;
    assert.equal(planted.length, 2);
    assert.deepEqual(
      rows.map((r) => `${key(r)} ${r.side}`).sort(),
      planted.map((p) => `${iso(p.windowStartMs)} ${p.sensorId} ${p.side}`).sort(),
    );
  });

  test('sensor_jumps(24, 5): exactly the planted spikes and out-of-band windows (an out-of-band window is a jump too)', async () => {
    const rows = await q<{ window_start: string; sensor_id: string; z: number }>(`SELECT ${ts}, sensor_id, z FROM sensor_jumps(24, 5)`);
    // the planted faults sit at |z| ≥ 20 here, the largest natural window at 3.3
    const natural = await q<{ z: number }>(
      `SELECT max(abs(z)) AS z FROM sensor_jumps(24, 0) WHERE (sensor_id, window_start) NOT IN (SELECT sensor_id, window_start FROM sensor_jumps(24, 5))`,
    );
    assert.ok(natural[0].z < 4, `largest natural |z| ${natural[0].z}`);
    const planted = [...g.planted.spikes, ...g.planted.outOfBand];
    assert.deepEqual(rows.map(key).sort(), planted.map((p) => `${iso(p.windowStartMs)} ${p.sensorId}`).sort());
    const spikes = new Set(g.planted.spikes.map((p) => p.sensorId));
    for (const r of rows) if (spikes.has(r.sensor_id)) assert.ok(r.z > 15, `spike z ${r.z}`);
    // a spike stays in band: the out-of-band view does not list it
    const oob = await q<{ sensor_id: string }>('SELECT sensor_id FROM sensor_out_of_band');
    for (const o of oob) assert.ok(!spikes.has(o.sensor_id));
  });

  test('sensor_jumps: N and the threshold are parameters; a period narrows the windows judged, not the baseline', async () => {
    const all = await q('SELECT * FROM sensor_jumps(24, 5)');
    const loose = await q('SELECT * FROM sensor_jumps(24, 2.5)');
    assert.ok(loose.length > all.length, `threshold 1.5: ${loose.length} vs ${all.length}`);
    const spike = g.planted.spikes[0];
    const only = await q<{ sensor_id: string }>('SELECT sensor_id FROM sensor_jumps(24, 5, $1, $2)', [
      iso(spike.windowStartMs).replace('Z', ''),
      iso(spike.windowStartMs + 300_000).replace('Z', ''),
    ]);
    assert.ok(only.some((r) => r.sensor_id === spike.sensorId));
    // a baseline longer than the sensor's history judges nothing
    assert.equal((await q('SELECT * FROM sensor_jumps(1000, 3)')).length, 0);
  });

  test('stale_sensors(30 minutes): exactly the silenced sensors, silent for about an hour', async () => {
    const rows = await q<{ sensor_id: string; silent: { hours?: number; minutes?: number } }>(`SELECT sensor_id, silent FROM stale_sensors('30 minutes')`);
    assert.deepEqual(rows.map((r) => r.sensor_id).sort(), g.planted.silenced.map((p) => p.sensorId).sort());
    for (const r of rows) {
      const minutes = (r.silent.hours ?? 0) * 60 + (r.silent.minutes ?? 0);
      assert.ok(minutes >= 55 && minutes <= 65, `${r.sensor_id} silent ${minutes} min`);
    }
    // the silence is measured against the data's clock: an hour and a half finds none
    assert.equal((await q(`SELECT * FROM stale_sensors('90 minutes')`)).length, 0);
  });

  test('limits are editable, and re-applying health.sql keeps the edit', async () => {
    await db.client.query(`UPDATE sensor_limits SET high_value = 229 WHERE sensor_type = 'voltage'`);
    await db.client.query(await readFile(new URL('../../../sql/health.sql', import.meta.url), 'utf8'));
    const [{ high }] = await q<{ high: number }>(`SELECT high_value AS high FROM sensor_limits WHERE sensor_type = 'voltage'`);
    assert.equal(high, 229);
    const above = await q<{ n: number }>(`SELECT count(*)::int AS n FROM sensor_out_of_band WHERE sensor_type = 'voltage' AND side = 'above'`);
    assert.ok(above[0].n > 10, `${above[0].n} voltage windows above 229 V`);
    await db.client.query(`UPDATE sensor_limits SET low_value = 207, high_value = 253 WHERE sensor_type = 'voltage'`);
  });
});
