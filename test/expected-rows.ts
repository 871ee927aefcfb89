/**
 * The engine's tables against the load generator's own exact computation (loadgen/
 * expected.ts): every row digit for digit (a sensor stddev may land one unit off in the
 * last place, see below), and the dead letters per reason.
 */
import assert from 'node:assert/strict';
import type pg from 'pg';
import type { ExpectedOutput } from '../loadgen/expected.js';

/** `client` must have the engine's schema on its search_path. */
export async function assertTablesMatch(client: pg.Client, expected: ExpectedOutput, stddevOffAllowed = 1): Promise<void> {
  // The columns hold UTC; print them as the load generator does.
  const ws = (c: string) => `to_char(${c}, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
  const q = async (sql: string) => (await client.query(sql)).rows as Record<string, unknown>[];
  const sensor = await q(`SELECT ${ws('window_start')} AS window_start, ${ws('window_end')} AS window_end, sensor_type, sensor_id, avg_value, min_value, max_value, count::int, stddev_value FROM sensor_aggregates_realtime ORDER BY 1, 3, 4`);
  const consumption = await q(`SELECT ${ws('window_start')} AS window_start, ${ws('window_end')} AS window_end, customer_id, total_consumption, avg_consumption, reading_count::int FROM consumption_aggregates_realtime ORDER BY 1, 3`);
  const weather = await q(`SELECT ${ws('window_start')} AS window_start, ${ws('window_end')} AS window_end, avg_temperature, avg_humidity, avg_pressure, avg_wind_speed, weather_condition FROM weather_aggregates_realtime ORDER BY 1`);
  const dead = await q(`SELECT reason, count(*)::int AS n FROM dead_letters GROUP BY 1`);

  const sk = (r: Record<string, unknown>) => `${String(r.window_start)}|${String(r.sensor_type)}|${String(r.sensor_id)}`;
  const es = new Map((expected.sensor as unknown as Record<string, unknown>[]).map((r) => [sk(r), r]));
  if (sensor.length !== expected.sensor.length) {
    const have = new Set(sensor.map(sk));
    const missing = [...es.keys()].filter((k) => !have.has(k));
    assert.fail(`${sensor.length} sensor rows, ${expected.sensor.length} expected; missing e.g. ${missing.slice(0, 5).join(', ')}`);
  }
  let stddevOff = 0;
  for (const row of sensor) {
    const e = es.get(sk(row));
    assert.ok(e, `unexpected sensor row ${sk(row)}`);
    assert.deepEqual([row.avg_value, row.min_value, row.max_value, row.count], [e.avg_value, e.min_value, e.max_value, e.count], sk(row));
    // The stddev is irrational in general; doubles may land one unit off only if the
    // true value sits within ~1e-12 of a rounding boundary.
    if (row.stddev_value !== e.stddev_value) {
      stddevOff++;
      assert.ok(Math.abs(Number(row.stddev_value) - Number(e.stddev_value)) <= 0.0001, sk(row));
    }
  }
  assert.ok(stddevOff <= stddevOffAllowed, `${stddevOff} stddev values one unit off`);
  assert.deepEqual(consumption, expected.consumption, 'consumption rows, digit for digit');
  assert.deepEqual(weather, expected.weather, 'weather rows, digit for digit');
  const deadBy = Object.fromEntries(dead.map((d) => [d.reason, d.n]));
  for (const [reason, n] of Object.entries(expected.deadLetters.byReason)) assert.equal(deadBy[reason] ?? 0, n, `dead letters: ${reason}`);
}
