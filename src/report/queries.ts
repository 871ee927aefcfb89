/**
 * The report's queries, on the views of sql/views.sql. Each takes a connected client and a
 * period and returns typed rows; nothing here reads the environment or prints.
 *
 * The tables hold UTC in `TIMESTAMP` columns. node-postgres would read those as local
 * time and write a `Date` parameter as local time, so times cross the wire as text:
 * parameters as zone-less UTC strings, results as `… AT TIME ZONE 'UTC'` (a timestamptz,
 * which it parses to the right instant whatever the process's time zone).
 */
import type pg from 'pg';
import { SmartGridError } from '../main/errors.js';
import {
  WeatherVariables,
  type ConditionRow,
  type Correlation,
  type Coverage,
  type HourWithWeather,
  type Period,
  type Report,
  type SeriesPoint,
  type TemperatureBand,
  type WeatherVariable,
} from './types.js';

export type Queryable = Pick<pg.ClientBase, 'query'>;

/** Which hours: all customers together (customer null), or one customer's. */
export interface Scope {
  period: Period;
  customer?: string | null;
}

/** `2026-11-28 02:00:00.000`: a UTC instant as PostgreSQL `timestamp` text. */
export function pgTimestamp(d: Date): string {
  return d.toISOString().replace('T', ' ').replace('Z', '');
}

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/**
 * The hours of the scope with their weather, as a FROM item with the columns of
 * hourly_consumption_weather. Parameters: $1 from, $2 to, $3 customer (null: all).
 */
const HOURS = `(
  SELECT window_start, window_end, total_consumption::float8 AS consumption, customers,
         has_weather, avg_temperature::float8 AS temperature, avg_humidity::float8 AS humidity,
         avg_pressure::float8 AS pressure, avg_wind_speed::float8 AS wind_speed, weather_condition
  FROM hourly_consumption_weather
  WHERE $3::text IS NULL AND window_start >= $1::timestamp AND window_start < $2::timestamp
  UNION ALL
  SELECT window_start, window_end, total_consumption::float8, 1,
         has_weather, avg_temperature::float8, avg_humidity::float8,
         avg_pressure::float8, avg_wind_speed::float8, weather_condition
  FROM hourly_customer_consumption_weather
  WHERE customer_id = $3::text AND window_start >= $1::timestamp AND window_start < $2::timestamp
) h`;

function params(scope: Scope): [string, string, string | null] {
  return [pgTimestamp(scope.period.from), pgTimestamp(scope.period.to), scope.customer ?? null];
}

/**
 * Names of the tables, views and functions the report needs that are not there (in the
 * client's search_path); empty when all are.
 */
export async function missingObjects(client: Queryable): Promise<{ tables: string[]; views: string[] }> {
  const tables = ['consumption_aggregates_realtime', 'weather_aggregates_realtime'];
  const views = ['hourly_consumption_weather', 'hourly_customer_consumption_weather'];
  const fn = 'consumption_weather_correlation(timestamp, timestamp, text)';
  const { rows } = await client.query<{ name: string; present: boolean }>(
    `SELECT name, to_regclass(name) IS NOT NULL AS present FROM unnest($1::text[]) AS name
     UNION ALL SELECT $2, to_regprocedure($2) IS NOT NULL`,
    [[...tables, ...views], fn],
  );
  const missing = new Set(rows.filter((r) => !r.present).map((r) => r.name));
  return {
    tables: tables.filter((t) => missing.has(t)),
    views: [...views, fn].filter((v) => missing.has(v)),
  };
}

/**
 * Throws SCHEMA_MISSING, in words an analyst can act on, when the report cannot run.
 * `where` names the database (for the message).
 */
export async function assertSchema(client: Queryable, where: string): Promise<void> {
  const missing = await missingObjects(client);
  if (missing.tables.length > 0) {
    throw new SmartGridError(
      'SCHEMA_MISSING',
      `No data yet: ${where} has no table ${missing.tables.join(' or ')}. ` +
        'The stream engine creates them when it first starts: start it, let it write some hours, then run the report again.',
    );
  }
  if (missing.views.length > 0) {
    throw new SmartGridError(
      'SCHEMA_MISSING',
      `The report views are missing in ${where} (${missing.views.join(', ')}). ` +
        'The engine creates them at start; or run sql/views.sql, e.g. psql -f sql/views.sql.',
    );
  }
}

/** From the first window_start to the last window_end in either table; null when both are empty. */
export async function dataRange(client: Queryable, customer?: string | null): Promise<Period | null> {
  const { rows } = await client.query<{ from: Date | null; to: Date | null }>(
    `WITH c AS (
       SELECT min(window_start) AS s, max(window_end) AS e FROM consumption_aggregates_realtime
       WHERE $1::text IS NULL OR customer_id = $1::text
     ), w AS (
       SELECT min(window_start) AS s, max(window_end) AS e FROM weather_aggregates_realtime
     )
     SELECT least(c.s, w.s) AT TIME ZONE 'UTC' AS "from", greatest(c.e, w.e) AT TIME ZONE 'UTC' AS "to"
     FROM c, w`,
    [customer ?? null],
  );
  const r = rows[0];
  return r.from && r.to ? { from: r.from, to: r.to } : null;
}

/** Pearson's r of hourly consumption against each weather variable, and the coverage. */
export async function correlations(
  client: Queryable,
  scope: Scope,
): Promise<{ correlations: Correlation[]; coverage: Coverage }> {
  const p = params(scope);
  const { rows } = await client.query<{
    variable: string;
    r: number | null;
    hours: string;
    slope: number | null;
    intercept: number | null;
    hours_without_weather: string;
    hours_without_consumption: string;
  }>('SELECT * FROM consumption_weather_correlation($1::timestamp, $2::timestamp, $3::text)', p);
  const matched = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${HOURS} WHERE has_weather`, p);
  const known = new Set<string>(WeatherVariables);
  const out: Correlation[] = rows
    .filter((r) => known.has(r.variable))
    .map((r) => ({
      variable: r.variable as WeatherVariable,
      r: num(r.r),
      hours: Number(r.hours),
      slope: num(r.slope),
      intercept: num(r.intercept),
    }));
  return {
    correlations: out,
    coverage: {
      hoursMatched: Number(matched.rows[0].n),
      hoursWithoutWeather: Number(rows[0]?.hours_without_weather ?? 0),
      hoursWithoutConsumption: Number(rows[0]?.hours_without_consumption ?? 0),
    },
  };
}

/** The `n` hours of highest consumption, with their weather (null when the hour has none). */
export async function topHours(client: Queryable, scope: Scope, n: number): Promise<HourWithWeather[]> {
  const { rows } = await client.query<{
    window_start: Date;
    window_end: Date;
    consumption: number | null;
    customers: string;
    has_weather: boolean;
    temperature: number | null;
    humidity: number | null;
    pressure: number | null;
    wind_speed: number | null;
    weather_condition: string | null;
  }>(
    `SELECT window_start AT TIME ZONE 'UTC' AS window_start, window_end AT TIME ZONE 'UTC' AS window_end,
            consumption, customers, has_weather, temperature, humidity, pressure, wind_speed, weather_condition
     FROM ${HOURS}
     WHERE consumption IS NOT NULL
     ORDER BY consumption DESC, h.window_start
     LIMIT $4`,
    [...params(scope), n],
  );
  return rows.map((r) => ({
    windowStart: r.window_start,
    windowEnd: r.window_end,
    consumption: num(r.consumption),
    customers: Number(r.customers),
    hasWeather: r.has_weather,
    temperature: num(r.temperature),
    humidity: num(r.humidity),
    pressure: num(r.pressure),
    windSpeed: num(r.wind_speed),
    condition: r.weather_condition,
  }));
}

/** Hourly consumption by weather condition, over the hours that have both. */
export async function byCondition(client: Queryable, scope: Scope): Promise<ConditionRow[]> {
  const { rows } = await client.query<{
    condition: string | null;
    hours: string;
    mean: number | null;
    min: number | null;
    max: number | null;
  }>(
    `SELECT weather_condition AS condition, count(*) AS hours,
            avg(consumption) AS mean, min(consumption) AS min, max(consumption) AS max
     FROM ${HOURS}
     WHERE has_weather AND consumption IS NOT NULL
     GROUP BY weather_condition
     ORDER BY avg(consumption) DESC NULLS LAST, weather_condition NULLS LAST`,
    params(scope),
  );
  return rows.map((r) => ({
    condition: r.condition,
    hours: Number(r.hours),
    meanConsumption: num(r.mean),
    minConsumption: num(r.min),
    maxConsumption: num(r.max),
  }));
}

/**
 * Hourly consumption by temperature band [k·width, (k+1)·width), over the hours that have
 * both consumption and a temperature. Empty bands between occupied ones are left out.
 */
export async function byTemperatureBand(client: Queryable, scope: Scope, width: number): Promise<TemperatureBand[]> {
  if (!(width > 0) || !Number.isFinite(width)) throw new RangeError(`band width must be a positive number, got ${width}`);
  const { rows } = await client.query<{ k: number; hours: string; mean: number | null; temp: number | null }>(
    `SELECT floor(temperature / $4::float8) AS k, count(*) AS hours,
            avg(consumption) AS mean, avg(temperature) AS temp
     FROM ${HOURS}
     WHERE has_weather AND consumption IS NOT NULL AND temperature IS NOT NULL
     GROUP BY 1 ORDER BY 1`,
    [...params(scope), width],
  );
  return rows.map((r) => ({
    from: clean(Number(r.k) * width),
    to: clean((Number(r.k) + 1) * width),
    hours: Number(r.hours),
    meanConsumption: num(r.mean),
    meanTemperature: num(r.temp),
  }));
}

/** A band edge without float noise (3 × 0.1 = 0.30000000000000004). */
const clean = (v: number): number => Number(v.toFixed(9));

/** Every hour with consumption or weather (or both), in time order: the chart's data. */
export async function series(client: Queryable, scope: Scope): Promise<SeriesPoint[]> {
  const { rows } = await client.query<{ window_start: Date; consumption: number | null; temperature: number | null }>(
    `WITH c AS (
       SELECT window_start, window_end, consumption FROM ${HOURS}
     ), w AS (
       SELECT window_start, window_end, avg_temperature::float8 AS temperature
       FROM weather_aggregates_realtime
       WHERE window_start >= $1::timestamp AND window_start < $2::timestamp
     )
     SELECT coalesce(c.window_start, w.window_start) AT TIME ZONE 'UTC' AS window_start,
            c.consumption, w.temperature
     FROM c FULL JOIN w ON w.window_start = c.window_start AND w.window_end = c.window_end
     ORDER BY 1`,
    params(scope),
  );
  return rows.map((r) => ({
    windowStart: r.window_start,
    consumption: num(r.consumption),
    temperature: num(r.temperature),
  }));
}

export interface ReportOptions extends Scope {
  top: number;
  bandWidth: number;
}

/** The whole report for one period. */
export async function buildReport(client: Queryable, opts: ReportOptions): Promise<Report> {
  const { correlations: corr, coverage } = await correlations(client, opts);
  return {
    period: opts.period,
    customer: opts.customer ?? null,
    coverage,
    correlations: corr,
    topHours: await topHours(client, opts, opts.top),
    byCondition: await byCondition(client, opts),
    bandWidth: opts.bandWidth,
    byTemperatureBand: await byTemperatureBand(client, opts, opts.bandWidth),
  };
}
