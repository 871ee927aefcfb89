/**
 * Data whose correlations are known, for the report's tests. Three full days of matched
 * hours, temperature T = h − 5 at hour h (−5 … 18 °C), three customers per hour:
 *
 *   day 1  consumption = 2T + 3           r(temperature) = 1, slope 2, intercept 3
 *   day 2  consumption = 100 − 2T         r(temperature) = −1
 *   day 3  consumption = 10 + (h − 11.5)²  r(temperature) = 0 (symmetric about the mean)
 *
 * Every day: humidity = 100 − 2h, pressure constant (r undefined: NULL / "n/a"),
 * wind speed = (h − 11.5)² (so r(wind) = 1 on day 3 and 0 on day 1).
 *
 * Day 4 holds the windows that must be left out and counted, never joined:
 *   00:00, 01:00  consumption (1000 kWh each) without weather
 *   05:00–07:00   weather (40 °C) without consumption
 *   10:00         consumption [10:00, 11:00) and a weather window [10:00, 10:30): different
 *                 windows, so one hour without weather and one without consumption
 */
import { readFile } from 'node:fs/promises';
import type pg from 'pg';

const ROOT = new URL('../../../', import.meta.url); // dist/test/report/ → repo root

export async function applySchemaAndViews(client: pg.Client, views = true): Promise<void> {
  await client.query(await readFile(new URL('sql/schema.sql', ROOT), 'utf8'));
  if (views) {
    await client.query(await readFile(new URL('sql/views.sql', ROOT), 'utf8'));
    await client.query(await readFile(new URL('sql/health.sql', ROOT), 'utf8'));
  }
}

export const DAY_MS = 86_400_000;
export const HOUR_MS = 3_600_000;
export const DAY1 = Date.UTC(2026, 0, 1);
export const day = (n: number): Date => new Date(DAY1 + (n - 1) * DAY_MS);
export const CONDITIONS = ['Sunny', 'Cloudy', 'Rainy'] as const;

export interface Hour {
  start: number; // epoch ms
  temperature: number;
  humidity: number;
  pressure: number;
  windSpeed: number;
  condition: string;
  /** per customer */
  customers: Record<string, number>;
}

function customersFor(d: number, h: number, t: number): Record<string, number> {
  if (d === 1) return { a: t, b: t, c: 3 };
  if (d === 2) return { a: 50 - t, b: 50 - t, c: 0 };
  return { a: 7 + (h - 11.5) ** 2, b: 1, c: 2 };
}

/** The matched hours of days 1–3, as the test computes its expectations from them. */
export function matchedHours(): Hour[] {
  const out: Hour[] = [];
  for (let d = 1; d <= 3; d++) {
    for (let h = 0; h < 24; h++) {
      const t = h - 5;
      out.push({
        start: DAY1 + (d - 1) * DAY_MS + h * HOUR_MS,
        temperature: t,
        humidity: 100 - 2 * h,
        pressure: 1013.25,
        windSpeed: (h - 11.5) ** 2,
        condition: CONDITIONS[h % 3],
        customers: customersFor(d, h, t),
      });
    }
  }
  return out;
}

export const total = (h: Hour): number => Object.values(h.customers).reduce((a, b) => a + b, 0);

const ts = (ms: number): string => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');

async function insertConsumption(client: pg.Client, start: number, end: number, customer: string, kwh: number) {
  await client.query(
    `INSERT INTO consumption_aggregates_realtime
       (window_start, window_end, customer_id, total_consumption, avg_consumption, reading_count)
     VALUES ($1, $2, $3, $4, $4::numeric / 4, 4)`,
    [ts(start), ts(end), customer, kwh],
  );
}

async function insertWeather(client: pg.Client, start: number, end: number, h: Omit<Hour, 'start' | 'customers'>) {
  await client.query(
    `INSERT INTO weather_aggregates_realtime
       (window_start, window_end, avg_temperature, avg_humidity, avg_pressure, avg_wind_speed, weather_condition)
     VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [ts(start), ts(end), h.temperature, h.humidity, h.pressure, h.windSpeed, h.condition],
  );
}

/** Day 4's unmatched windows (see the file comment). */
export const DAY4 = {
  consumptionOnly: [0, 1].map((h) => DAY1 + 3 * DAY_MS + h * HOUR_MS),
  weatherOnly: [5, 6, 7].map((h) => DAY1 + 3 * DAY_MS + h * HOUR_MS),
  mismatched: DAY1 + 3 * DAY_MS + 10 * HOUR_MS,
  consumptionOnlyKwh: 1000,
};

export async function seed(client: pg.Client): Promise<void> {
  await client.query('BEGIN');
  for (const h of matchedHours()) {
    await insertWeather(client, h.start, h.start + HOUR_MS, h);
    for (const [c, kwh] of Object.entries(h.customers)) await insertConsumption(client, h.start, h.start + HOUR_MS, c, kwh);
  }
  const hot = { temperature: 40, humidity: 10, pressure: 990, windSpeed: 0, condition: 'Sunny' };
  for (const s of DAY4.consumptionOnly) await insertConsumption(client, s, s + HOUR_MS, 'a', DAY4.consumptionOnlyKwh);
  for (const s of DAY4.weatherOnly) await insertWeather(client, s, s + HOUR_MS, hot);
  await insertConsumption(client, DAY4.mismatched, DAY4.mismatched + HOUR_MS, 'a', 5);
  await insertWeather(client, DAY4.mismatched, DAY4.mismatched + HOUR_MS / 2, hot);
  await client.query('COMMIT');
}

/** Pearson's r computed the textbook way, to check PostgreSQL's corr() against. */
export function pearson(xs: number[], ys: number[]): number | null {
  const n = xs.length;
  if (n < 2) return null;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i] - mx) * (ys[i] - my);
    sxx += (xs[i] - mx) ** 2;
    syy += (ys[i] - my) ** 2;
  }
  return sxx === 0 || syy === 0 ? null : sxy / Math.sqrt(sxx * syy);
}

export function assertClose(actual: number | null | undefined, expected: number, tolerance = 1e-9, what = 'value'): void {
  if (typeof actual !== 'number' || !(Math.abs(actual - expected) <= tolerance)) {
    throw new Error(`${what}: expected ${expected} ± ${tolerance}, got ${actual}`);
  }
}
