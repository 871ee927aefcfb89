/**
 * The hour-of-day-adjusted weather measures (sql/views.sql) against weather effects the
 * load generator planted: none (consumption follows the hour of day only), and a known
 * number of kWh per reading per heating/cooling degree.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { generate, type GenerateInput } from '../../loadgen/generate.js';
import { expectedAggregates } from '../../loadgen/expected.js';
import { createSchema } from '../helpers.js';
import { applySchemaAndViews, seed } from './fixtures.js';
import { insertExpected } from './loadgen-rows.js';

const DAYS = 21;
const world = (k: number): GenerateInput => ({
  seed: 15,
  events: 200_000,
  spanMs: DAYS * 86_400_000,
  mix: { sensor: 0, meter: 0.9, weather: 0.1 },
  meters: 200,
  customers: 40,
  outOfOrderShare: 0.02,
  weatherEffect: { heatingKwhPerDegree: k, coolingKwhPerDegree: k },
});

interface Adjusted {
  variable: string;
  r: number | null;
  adjusted_r: number | null;
  adjusted_slope: number | null;
  hours: string;
  hours_of_day: string;
}

async function measure(k: number) {
  const db = await createSchema('weather_effect');
  try {
    await applySchemaAndViews(db.client);
    await insertExpected(db.client, expectedAggregates(generate(world(k))));
    const period = ['2026-01-01', '2027-01-01'];
    const adjusted = (await db.client.query<Adjusted>('SELECT * FROM consumption_weather_adjusted($1, $2)', period)).rows;
    const degree = (await db.client.query('SELECT * FROM consumption_degree_hours($1, $2)', period)).rows[0];
    const perHour = (
      await db.client.query<{ n: number }>('SELECT avg(reading_count)::float8 AS n FROM hourly_consumption')
    ).rows[0].n;
    const by = (v: string) => adjusted.find((a) => a.variable === v)!;
    return { by, degree, perHour };
  } finally {
    await db.cleanup();
  }
}

describe('weather effect within the same hour of day', () => {
  test('coefficient 0: raw r is high, the hour-of-day-adjusted r ≈ 0 and no kWh per degree-hour', async () => {
    const { by, degree, perHour } = await measure(0);
    const t = by('temperature');
    assert.equal(Number(t.hours), DAYS * 24);
    assert.equal(Number(t.hours_of_day), 24);
    assert.ok(t.r! > 0.5, `raw r ${t.r}`);
    // 21 days: 480 residual degrees of freedom, one standard error of r is ~0.046
    assert.ok(Math.abs(t.adjusted_r!) < 0.15, `adjusted r ${t.adjusted_r}`);
    assert.ok(Math.abs(by('heating_degree_hours').adjusted_r!) < 0.15);
    // under 15 % of the default planted effect (0.02 kWh per reading per degree)
    assert.ok(Math.abs(degree.kwh_per_heating_degree_hour / perHour) < 0.003, `${degree.kwh_per_heating_degree_hour / perHour}`);
  });

  test('coefficient 0.03 kWh per reading per degree: recovered within 10 % from the hourly tables', async () => {
    const k = 0.03;
    const { by, degree, perHour } = await measure(k);
    assert.ok(degree.heating_hours > 200, `${degree.heating_hours} heating hours`);
    const heating = degree.kwh_per_heating_degree_hour / perHour;
    assert.ok(Math.abs(heating - k) <= 0.1 * k, `kWh per reading per heating degree: ${heating}, planted ${k}`);
    assert.ok(degree.heating_degree_hours > 0 && degree.cooling_degree_hours >= 0);
    // colder hours use more, hour for hour; the daily cycle (warm afternoons are busy
    // hours) hides part of it from the raw r
    const t = by('temperature');
    assert.ok(t.adjusted_r! < -0.8, `adjusted r ${t.adjusted_r}`);
    assert.ok(t.r! > t.adjusted_r! + 0.1, `raw ${t.r} vs adjusted ${t.adjusted_r}`);
    assert.ok(by('heating_degree_hours').adjusted_r! > 0.8);
  });

  test('temperature that only follows the hour of day leaves nothing to adjust: adjusted r is NULL, not noise', async (t) => {
    const db = await createSchema('weather_effect_fixture');
    t.after(() => db.cleanup());
    await applySchemaAndViews(db.client);
    await seed(db.client); // T = h − 5 at hour h on each of days 1–3
    const { rows } = await db.client.query<Adjusted>(
      `SELECT * FROM consumption_weather_adjusted('2026-01-01', '2026-01-04')`,
    );
    const temperature = rows.find((r) => r.variable === 'temperature')!;
    assert.equal(Number(temperature.hours), 72);
    assert.equal(temperature.adjusted_r, null);
    assert.equal(temperature.adjusted_slope, null);
    assert.ok(temperature.r !== null);
    assert.deepEqual(
      rows.map((r) => r.variable),
      ['temperature', 'humidity', 'pressure', 'wind_speed', 'heating_degree_hours', 'cooling_degree_hours'],
    );
  });
});

describe('consumption_degree_hours on hand-made hours', () => {
  let db: Awaited<ReturnType<typeof createSchema>>;
  before(async () => {
    db = await createSchema('degree_hours');
    await applySchemaAndViews(db.client);
  });
  after(() => db.cleanup());

  test('exact slopes: 5 kWh per heating and 2 per cooling degree-hour on top of an hourly profile', async () => {
    // 4 days × 24 h; temperature differs from day to day at each hour; consumption =
    // 100 + 3·hour + 5·max(0, 18 − T) + 2·max(0, T − 22)
    await db.client.query(`
      INSERT INTO weather_aggregates_realtime (window_start, window_end, avg_temperature, avg_humidity, avg_pressure, avg_wind_speed, weather_condition)
      SELECT ts, ts + interval '1 hour', round((10 + 8 * sin(h) + 6 * d + (h % 5))::numeric, 2), 50, 1010, 3, 'Sunny'
      FROM generate_series(0, 3) d, generate_series(0, 23) h, LATERAL (SELECT timestamp '2026-03-01' + d * interval '1 day' + h * interval '1 hour' AS ts) x;
      INSERT INTO consumption_aggregates_realtime (window_start, window_end, customer_id, total_consumption, avg_consumption, reading_count)
      SELECT window_start, window_end, 'c1',
             100 + 3 * extract(hour FROM window_start) + 5 * greatest(0, 18 - avg_temperature) + 2 * greatest(0, avg_temperature - 22), 1, 10
      FROM weather_aggregates_realtime;`);
    const d = (await db.client.query(`SELECT * FROM consumption_degree_hours('2026-03-01', '2026-03-05')`)).rows[0];
    assert.equal(Number(d.hours), 96);
    assert.ok(Number(d.heating_hours) > 10 && Number(d.cooling_hours) > 10, JSON.stringify(d));
    assert.ok(Math.abs(d.kwh_per_heating_degree_hour - 5) < 1e-6, `${d.kwh_per_heating_degree_hour}`);
    assert.ok(Math.abs(d.kwh_per_cooling_degree_hour - 2) < 1e-6, `${d.kwh_per_cooling_degree_hour}`);
    const check = (await db.client.query(
      `SELECT sum(greatest(0, 18 - avg_temperature))::float8 AS h, sum(greatest(0, avg_temperature - 22))::float8 AS k FROM weather_aggregates_realtime`,
    )).rows[0];
    assert.ok(Math.abs(d.heating_degree_hours - check.h) < 1e-6 && Math.abs(d.cooling_degree_hours - check.k) < 1e-6);
    // a period with no cooling: heating alone, cooling NULL
    const cold = (await db.client.query(`SELECT * FROM consumption_degree_hours('2026-03-01', '2026-03-05', NULL, 18, 99)`)).rows[0];
    assert.equal(cold.kwh_per_cooling_degree_hour, null);
    assert.equal(Number(cold.cooling_degree_hours), 0);
  });
});
