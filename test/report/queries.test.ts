import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  assertSchema,
  buildReport,
  byCondition,
  byTemperatureBand,
  correlations,
  dataRange,
  missingObjects,
  series,
  topHours,
} from '../../src/report/queries.js';
import type { Correlation, Period } from '../../src/report/types.js';
import { createSchema } from '../helpers.js';
import {
  applySchemaAndViews,
  assertClose,
  CONDITIONS,
  day,
  DAY4,
  HOUR_MS,
  matchedHours,
  pearson,
  seed,
  total,
} from './fixtures.js';

type Db = Awaited<ReturnType<typeof createSchema>>;

const byVar = (cs: Correlation[], v: string): Correlation => {
  const c = cs.find((x) => x.variable === v);
  assert.ok(c, `no row for ${v}`);
  return c;
};
const oneDay = (n: number): Period => ({ from: day(n), to: day(n + 1) });
const ALL: Period = { from: day(1), to: day(5) };

describe('report queries on data with known correlations', () => {
  let db: Db;
  before(async () => {
    db = await createSchema('report_q');
    await applySchemaAndViews(db.client);
    await applySchemaAndViews(db.client); // views.sql is idempotent
    await seed(db.client);
  });
  after(async () => {
    await db.cleanup();
  });

  test('consumption = 2·temperature + 3: r = 1, slope 2, intercept 3, 24 hours', async () => {
    const { correlations: cs, coverage } = await correlations(db.client, { period: oneDay(1) });
    assert.deepEqual(
      cs.map((c) => c.variable),
      ['temperature', 'humidity', 'pressure', 'wind_speed'],
    );
    const t = byVar(cs, 'temperature');
    assertClose(t.r, 1, 1e-12, 'r');
    assert.equal(t.hours, 24);
    assertClose(t.slope, 2, 1e-9, 'slope');
    assertClose(t.intercept, 3, 1e-9, 'intercept');
    assertClose(byVar(cs, 'humidity').r, -1, 1e-12, 'r(humidity)');
    assertClose(byVar(cs, 'wind_speed').r, 0, 1e-12, 'r(wind)');
    assert.deepEqual(coverage, { hoursMatched: 24, hoursWithoutWeather: 0, hoursWithoutConsumption: 0 });
  });

  test('a variable that never varies has no r (NULL), but its hours are still counted', async () => {
    const p = byVar((await correlations(db.client, { period: oneDay(1) })).correlations, 'pressure');
    assert.equal(p.r, null);
    assert.equal(p.slope, null);
    assert.equal(p.hours, 24);
  });

  test('consumption = 100 − 2·temperature: r = −1', async () => {
    const t = byVar((await correlations(db.client, { period: oneDay(2) })).correlations, 'temperature');
    assertClose(t.r, -1, 1e-12, 'r');
    assertClose(t.slope, -2, 1e-9, 'slope');
    assertClose(t.intercept, 100, 1e-9, 'intercept');
    assert.equal(t.hours, 24);
  });

  test('consumption symmetric about the mean temperature: r = 0; wind of the same shape: r = 1', async () => {
    const cs = (await correlations(db.client, { period: oneDay(3) })).correlations;
    assertClose(byVar(cs, 'temperature').r, 0, 1e-12, 'r(temperature)');
    assertClose(byVar(cs, 'wind_speed').r, 1, 1e-12, 'r(wind)');
  });

  test('over all days: r as computed by hand, unmatched windows left out and counted', async () => {
    const { correlations: cs, coverage } = await correlations(db.client, { period: ALL });
    const hours = matchedHours();
    const y = hours.map(total);
    for (const [v, x] of [
      ['temperature', hours.map((h) => h.temperature)],
      ['humidity', hours.map((h) => h.humidity)],
      ['wind_speed', hours.map((h) => h.windSpeed)],
    ] as const) {
      const c = byVar(cs, v);
      assertClose(c.r, pearson([...x], y) as number, 1e-9, `r(${v})`);
      assert.equal(c.hours, 72, v);
    }
    // 2 consumption-only hours + the hour whose weather window is [10:00, 10:30)
    // 3 weather-only hours + that [10:00, 10:30) weather window
    assert.deepEqual(coverage, { hoursMatched: 72, hoursWithoutWeather: 3, hoursWithoutConsumption: 4 });
  });

  test('per customer: customer a is T on day 1 (r = 1, slope 1); customer c is constant (n/a)', async () => {
    const a = byVar((await correlations(db.client, { period: oneDay(1), customer: 'a' })).correlations, 'temperature');
    assertClose(a.r, 1, 1e-12, 'r(a)');
    assertClose(a.slope, 1, 1e-9, 'slope(a)');
    const c = byVar((await correlations(db.client, { period: oneDay(1), customer: 'c' })).correlations, 'temperature');
    assert.equal(c.r, null);
    assert.equal(c.hours, 24);
  });

  test('the SQL function and the trailing views agree with the query functions', async () => {
    const trailing = await db.client.query(
      `SELECT period_start AT TIME ZONE 'UTC' AS s, period_end AT TIME ZONE 'UTC' AS e, variable, r, hours,
              hours_without_weather, hours_without_consumption
       FROM consumption_weather_correlation_trailing('1 day')`,
    );
    // the latest window_end in the tables is day 4, 11:00 (the mismatched consumption hour)
    const end = DAY4.mismatched + HOUR_MS;
    assert.equal(trailing.rows[0].e.getTime(), end);
    assert.equal(trailing.rows[0].s.getTime(), end - 24 * HOUR_MS);
    const t = trailing.rows.find((r) => r.variable === 'temperature');
    assert.equal(Number(t.hours), 13); // day 3, 11:00–23:00
    assert.equal(Number(t.hours_without_weather), 3);
    assert.equal(Number(t.hours_without_consumption), 4);

    const week = await db.client.query('SELECT variable, r, hours FROM consumption_weather_correlation_7d');
    const { correlations: cs } = await correlations(db.client, { period: ALL });
    assert.deepEqual(
      week.rows.map((r) => [r.variable, Number(r.hours)]),
      cs.map((c) => [c.variable, c.hours]),
    );
    assertClose(week.rows[0].r, byVar(cs, 'temperature').r as number, 1e-12, 'r');
  });

  test('hourly_consumption_weather: an hour is joined only with the weather of the same window', async () => {
    const { rows } = await db.client.query(
      `SELECT window_start AT TIME ZONE 'UTC' AS s, has_weather, avg_temperature, customers, total_consumption::float8 AS kwh
       FROM hourly_consumption_weather WHERE window_start >= $1 ORDER BY window_start`,
      ['2026-01-04 00:00'],
    );
    assert.deepEqual(
      rows.map((r) => [r.s.getTime(), r.has_weather, r.avg_temperature]),
      [...DAY4.consumptionOnly, DAY4.mismatched].map((s) => [s, false, null]),
    );
    const day1 = await db.client.query(
      `SELECT count(*)::int AS n, bool_and(has_weather) AS all_weather, bool_and(customers = 3) AS three
       FROM hourly_consumption_weather WHERE window_start < '2026-01-02'`,
    );
    assert.deepEqual(day1.rows[0], { n: 24, all_weather: true, three: true });
    const perCustomer = await db.client.query(
      `SELECT count(*)::int AS n FROM hourly_customer_consumption_weather WHERE window_start < '2026-01-02' AND has_weather`,
    );
    assert.equal(perCustomer.rows[0].n, 72);
  });

  test('top hours: highest consumption first, with weather, hours without weather shown as such', async () => {
    const top = await topHours(db.client, { period: ALL }, 4);
    assert.deepEqual(
      top.map((h) => [h.windowStart.getTime(), h.consumption, h.hasWeather]),
      [
        [DAY4.consumptionOnly[0], 1000, false],
        [DAY4.consumptionOnly[1], 1000, false],
        [day(3).getTime(), 142.25, true], // 10 + 11.5², hour 0; hour 23 ties and comes later
        [day(3).getTime() + 23 * HOUR_MS, 142.25, true],
      ],
    );
    assert.equal(top[0].temperature, null);
    assert.equal(top[0].condition, null);
    assert.deepEqual(
      { t: top[2].temperature, h: top[2].humidity, w: top[2].windSpeed, c: top[2].condition, n: top[2].customers },
      { t: -5, h: 100, w: 132.25, c: 'Sunny', n: 3 },
    );
    assert.equal(top[2].windowEnd.getTime() - top[2].windowStart.getTime(), HOUR_MS);
    const day1 = await topHours(db.client, { period: oneDay(1) }, 1);
    assert.equal(day1[0].consumption, 39); // 2·18 + 3
  });

  test('by condition: mean, min, max and hours over matched hours only', async () => {
    const rows = await byCondition(db.client, { period: ALL });
    const hours = matchedHours();
    const expected = CONDITIONS.map((c) => {
      const ys = hours.filter((h) => h.condition === c).map(total);
      return {
        condition: c,
        hours: ys.length,
        mean: ys.reduce((a, b) => a + b, 0) / ys.length,
        min: Math.min(...ys),
        max: Math.max(...ys),
      };
    }).sort((a, b) => b.mean - a.mean || a.condition.localeCompare(b.condition)); // Sunny and Rainy tie
    assert.deepEqual(
      rows.map((r) => r.condition),
      expected.map((e) => e.condition),
    );
    for (const [i, e] of expected.entries()) {
      assert.equal(rows[i].hours, e.hours);
      assertClose(rows[i].meanConsumption, e.mean, 1e-9, `mean ${e.condition}`);
      assert.equal(rows[i].minConsumption, e.min);
      assert.equal(rows[i].maxConsumption, e.max);
    }
    // the 40 °C "Sunny" weather-only hours are not there: 72 matched hours in all
    assert.equal(
      rows.reduce((a, r) => a + r.hours, 0),
      72,
    );
  });

  test('by temperature band: [k·w, (k+1)·w), negative temperatures included, any width', async () => {
    const hours = matchedHours().filter((h) => h.start < day(2).getTime());
    for (const width of [5, 2.5, 7]) {
      const bands = await byTemperatureBand(db.client, { period: oneDay(1) }, width);
      const groups = new Map<number, number[]>();
      for (const h of hours) {
        const k = Math.floor(h.temperature / width);
        groups.set(k, [...(groups.get(k) ?? []), h.temperature]);
      }
      const ks = [...groups.keys()].sort((a, b) => a - b);
      assert.deepEqual(
        bands.map((b) => [b.from, b.to, b.hours]),
        ks.map((k) => [k * width, (k + 1) * width, groups.get(k)?.length]),
        `width ${width}`,
      );
      for (const [i, k] of ks.entries()) {
        const ts = groups.get(k) ?? [];
        const meanT = ts.reduce((a, b) => a + b, 0) / ts.length;
        assertClose(bands[i].meanTemperature, meanT, 1e-9, 'mean temperature');
        assertClose(bands[i].meanConsumption, 2 * meanT + 3, 1e-9, 'mean consumption');
      }
    }
    await assert.rejects(byTemperatureBand(db.client, { period: ALL }, 0), RangeError);
  });

  test('an empty period: no r, zero hours, empty lists', async () => {
    const period = { from: new Date(Date.UTC(2025, 0, 1)), to: new Date(Date.UTC(2025, 0, 2)) };
    const r = await buildReport(db.client, { period, top: 5, bandWidth: 5 });
    assert.deepEqual(
      r.correlations.map((c) => [c.r, c.hours]),
      [
        [null, 0],
        [null, 0],
        [null, 0],
        [null, 0],
      ],
    );
    assert.deepEqual(r.coverage, { hoursMatched: 0, hoursWithoutWeather: 0, hoursWithoutConsumption: 0 });
    assert.deepEqual([r.topHours, r.byCondition, r.byTemperatureBand], [[], [], []]);
  });

  test('data range spans both tables; the series has every hour with either side', async () => {
    const range = await dataRange(db.client);
    assert.deepEqual(range, { from: day(1), to: new Date(DAY4.mismatched + HOUR_MS) });
    const points = await series(db.client, { period: ALL });
    // 72 matched + 2 consumption-only + 3 weather-only + the mismatched pair (one row each side)
    assert.equal(points.length, 72 + 2 + 3 + 2);
    const matched = points.filter((p) => p.consumption !== null && p.temperature !== null);
    assert.equal(matched.length, 72);
    assert.ok(points.every((p, i) => i === 0 || points[i - 1].windowStart <= p.windowStart));
  });

  test('schema check: nothing missing here', async () => {
    assert.deepEqual(await missingObjects(db.client), { tables: [], views: [] });
    await assertSchema(db.client, 'test');
  });
});

describe('report queries before the engine ran', () => {
  test('no tables: SCHEMA_MISSING that says there is no data yet', async (t) => {
    const db = await createSchema('report_empty');
    t.after(() => db.cleanup());
    const missing = await missingObjects(db.client);
    assert.deepEqual(missing.tables, ['consumption_aggregates_realtime', 'weather_aggregates_realtime']);
    await assert.rejects(assertSchema(db.client, 'db'), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'SCHEMA_MISSING');
      assert.match(e.message, /^No data yet/);
      return true;
    });
  });

  test('tables but no views: SCHEMA_MISSING naming views.sql', async (t) => {
    const db = await createSchema('report_noviews');
    t.after(() => db.cleanup());
    await applySchemaAndViews(db.client, false);
    await assert.rejects(assertSchema(db.client, 'db'), /views are missing.*sql\/views\.sql/);
    assert.equal(await dataRange(db.client), null);
  });
});
