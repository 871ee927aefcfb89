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
import { ReportError } from './errors.js';
import { disagreements } from './judge.js';
import {
  WeatherVariables,
  type ConditionRow,
  type Correlation,
  type Coverage,
  type CsvHour,
  type DegreeHours,
  type SensorHealth,
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
  const views = ['hourly_consumption_weather', 'hourly_customer_consumption_weather', 'sensor_limits', 'sensor_out_of_band'];
  const fns = [
    'consumption_weather_correlation(timestamp, timestamp, text)',
    'consumption_weather_adjusted(timestamp, timestamp, text, float8, float8)',
    'consumption_degree_hours(timestamp, timestamp, text, float8, float8)',
    'sensor_jumps(integer, float8, timestamp, timestamp)',
    'stale_sensors(interval)',
  ];
  const { rows } = await client.query<{ name: string; present: boolean }>(
    `SELECT name, to_regclass(name) IS NOT NULL AS present FROM unnest($1::text[]) AS name
     UNION ALL SELECT name, to_regprocedure(name) IS NOT NULL FROM unnest($2::text[]) AS name`,
    [[...tables, ...views], fns],
  );
  const missing = new Set(rows.filter((r) => !r.present).map((r) => r.name));
  return {
    tables: tables.filter((t) => missing.has(t)),
    views: [...views, ...fns].filter((v) => missing.has(v)),
  };
}

/**
 * Throws SCHEMA_MISSING, in words an analyst can act on, when the report cannot run.
 * `where` names the database (for the message).
 */
export async function assertSchema(client: Queryable, where: string): Promise<void> {
  const missing = await missingObjects(client);
  if (missing.tables.length > 0) {
    throw new ReportError(
      'SCHEMA_MISSING',
      `No data yet: ${where} has no table ${missing.tables.join(' or ')}. ` +
        'The stream engine creates them when it first starts: start it, let it write some hours, then run the report again.',
    );
  }
  if (missing.views.length > 0) {
    throw new ReportError(
      'SCHEMA_MISSING',
      `The report views are missing in ${where} (${missing.views.join(', ')}). ` +
        'The engine creates them at start; or run sql/views.sql and sql/health.sql, e.g. psql -f sql/views.sql -f sql/health.sql.',
    );
  }
}

/**
 * Throws UNKNOWN_CUSTOMER, naming a few known ids, when `customer` has no consumption rows
 * at all (in any period): an empty report would read as "this customer used nothing".
 */
export async function assertCustomer(client: Queryable, customer: string): Promise<void> {
  const { rows } = await client.query<{ known: boolean }>(
    'SELECT EXISTS (SELECT 1 FROM consumption_aggregates_realtime WHERE customer_id = $1) AS known',
    [customer],
  );
  if (rows[0].known) return;
  const some = await client.query<{ customer_id: string; total: string }>(
    `SELECT customer_id, count(*) OVER () AS total
     FROM (SELECT DISTINCT customer_id FROM consumption_aggregates_realtime) c
     ORDER BY length(customer_id), customer_id LIMIT 5`,
  );
  const total = Number(some.rows[0]?.total ?? 0);
  const ids = some.rows.map((r) => r.customer_id);
  throw new ReportError(
    'UNKNOWN_CUSTOMER',
    total === 0
      ? `Unknown customer "${customer}": there are no consumption rows for any customer yet`
      : `Unknown customer "${customer}": no consumption rows for it. Known customers include ` +
        `${ids.join(', ')}${total > ids.length ? `, … (${total} in all)` : ''}`,
  );
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
  const adjusted = await adjustedRows(client, scope);
  const known = new Set<string>(WeatherVariables);
  const out: Correlation[] = rows
    .filter((r) => known.has(r.variable))
    .map((r) => {
      const a = adjusted.get(r.variable);
      return {
        variable: r.variable as WeatherVariable,
        r: num(r.r),
        hours: Number(r.hours),
        slope: num(r.slope),
        intercept: num(r.intercept),
        adjustedR: num(a?.adjusted_r),
        adjustedSlope: num(a?.adjusted_slope),
        hoursOfDay: Number(a?.hours_of_day ?? 0),
      };
    });
  return {
    correlations: out,
    coverage: {
      hoursMatched: Number(matched.rows[0].n),
      hoursWithoutWeather: Number(rows[0]?.hours_without_weather ?? 0),
      hoursWithoutConsumption: Number(rows[0]?.hours_without_consumption ?? 0),
    },
  };
}

export const HEATING_BASE_C = 18;
export const COOLING_BASE_C = 22;

interface AdjustedRow {
  variable: string;
  r: number | null;
  adjusted_r: number | null;
  adjusted_slope: number | null;
  hours: string;
  hours_of_day: string;
}

async function adjustedRows(client: Queryable, scope: Scope): Promise<Map<string, AdjustedRow>> {
  const { rows } = await client.query<AdjustedRow>(
    'SELECT * FROM consumption_weather_adjusted($1::timestamp, $2::timestamp, $3::text, $4, $5)',
    [...params(scope), HEATING_BASE_C, COOLING_BASE_C],
  );
  return new Map(rows.map((r) => [r.variable, r]));
}

/** Heating and cooling degree-hours (bases 18 and 22 °C) and kWh per degree-hour. */
export async function degreeHours(client: Queryable, scope: Scope): Promise<DegreeHours> {
  const p = [...params(scope), HEATING_BASE_C, COOLING_BASE_C];
  const { rows } = await client.query<{
    hours: string;
    heating_degree_hours: number;
    cooling_degree_hours: number;
    heating_hours: string;
    cooling_hours: string;
    kwh_per_heating_degree_hour: number | null;
    kwh_per_cooling_degree_hour: number | null;
  }>('SELECT * FROM consumption_degree_hours($1::timestamp, $2::timestamp, $3::text, $4, $5)', p);
  const d = rows[0];
  const adjusted = await adjustedRows(client, scope);
  return {
    heatingBase: HEATING_BASE_C,
    coolingBase: COOLING_BASE_C,
    hours: Number(d.hours),
    heatingDegreeHours: Number(d.heating_degree_hours),
    coolingDegreeHours: Number(d.cooling_degree_hours),
    heatingHours: Number(d.heating_hours),
    coolingHours: Number(d.cooling_hours),
    kwhPerHeatingDegreeHour: num(d.kwh_per_heating_degree_hour),
    kwhPerCoolingDegreeHour: num(d.kwh_per_cooling_degree_hour),
    heatingAdjustedR: num(adjusted.get('heating_degree_hours')?.adjusted_r),
    coolingAdjustedR: num(adjusted.get('cooling_degree_hours')?.adjusted_r),
  };
}

export interface HealthOptions {
  period: Period;
  baselineWindows: number;
  zThreshold: number;
  silentForMs: number;
  /** How many of the worst windows / largest jumps to list. */
  top: number;
}

/** Sensor health of the period (sql/health.sql); staleness is at the data's end. */
export async function sensorHealth(client: Queryable, o: HealthOptions): Promise<SensorHealth> {
  const from = pgTimestamp(o.period.from);
  const to = pgTimestamp(o.period.to);
  const count = await client.query<{ windows: string; sensors: string }>(
    `SELECT count(*) AS windows, count(DISTINCT (sensor_type, sensor_id)) AS sensors
     FROM sensor_aggregates_realtime WHERE window_start >= $1::timestamp AND window_start < $2::timestamp`,
    [from, to],
  );
  const band = await client.query<{ sensor_type: string; windows: string; sensors: string }>(
    `SELECT sensor_type, count(*) AS windows, count(DISTINCT sensor_id) AS sensors
     FROM sensor_out_of_band WHERE window_start >= $1::timestamp AND window_start < $2::timestamp
     GROUP BY sensor_type ORDER BY count(*) DESC, sensor_type`,
    [from, to],
  );
  const worst = await client.query<{
    window_start: Date;
    sensor_type: string;
    sensor_id: string;
    avg_value: number;
    low_value: number | null;
    high_value: number | null;
    unit: string | null;
    side: 'below' | 'above';
  }>(
    `SELECT window_start AT TIME ZONE 'UTC' AS window_start, sensor_type, sensor_id, avg_value::float8 AS avg_value,
            low_value, high_value, unit, side
     FROM sensor_out_of_band WHERE window_start >= $1::timestamp AND window_start < $2::timestamp
     ORDER BY greatest(low_value - avg_value::float8, avg_value::float8 - high_value)
              / nullif(high_value - low_value, 0) DESC NULLS LAST, window_start, sensor_id
     LIMIT $3`,
    [from, to, o.top],
  );
  const sensorsOut = await client.query<{ n: string }>(
    `SELECT count(DISTINCT (sensor_type, sensor_id)) AS n FROM sensor_out_of_band
     WHERE window_start >= $1::timestamp AND window_start < $2::timestamp`,
    [from, to],
  );
  const jumps = await client.query<{
    window_start: Date;
    sensor_type: string;
    sensor_id: string;
    avg_value: number;
    baseline_mean: number;
    z: number;
    windows: string;
    sensors: string;
  }>(
    `SELECT window_start AT TIME ZONE 'UTC' AS window_start, sensor_type, sensor_id, avg_value, baseline_mean, z,
            count(*) OVER () AS windows, count(*) FILTER (WHERE first) OVER () AS sensors
     FROM (SELECT j.*, row_number() OVER (PARTITION BY sensor_type, sensor_id ORDER BY window_start) = 1 AS first
           FROM sensor_jumps($3, $4, $1::timestamp, $2::timestamp) j) j
     ORDER BY abs(z) DESC, window_start, sensor_id
     LIMIT $5`,
    [from, to, o.baselineWindows, o.zThreshold, o.top],
  );
  const stale = await client.query<{ sensor_type: string; sensor_id: string; last_window_end: Date; data_end: Date; silent_ms: number }>(
    `SELECT sensor_type, sensor_id, last_window_end AT TIME ZONE 'UTC' AS last_window_end,
            data_end AT TIME ZONE 'UTC' AS data_end, extract(epoch FROM silent)::float8 * 1000 AS silent_ms
     FROM stale_sensors($1::interval)`,
    [`${o.silentForMs / 1000} seconds`],
  );
  const dataEnd = await client.query<{ e: Date | null }>(
    `SELECT max(window_end) AT TIME ZONE 'UTC' AS e FROM sensor_aggregates_realtime`,
  );
  return {
    windows: Number(count.rows[0].windows),
    sensors: Number(count.rows[0].sensors),
    outOfBand: {
      windows: band.rows.reduce((a, r) => a + Number(r.windows), 0),
      sensors: Number(sensorsOut.rows[0].n),
      byType: band.rows.map((r) => ({ sensorType: r.sensor_type, windows: Number(r.windows), sensors: Number(r.sensors) })),
      worst: worst.rows.map((r) => ({
        windowStart: r.window_start,
        sensorType: r.sensor_type,
        sensorId: r.sensor_id,
        avgValue: r.avg_value,
        lowValue: r.low_value,
        highValue: r.high_value,
        unit: r.unit,
        side: r.side,
      })),
    },
    jumps: {
      baselineWindows: o.baselineWindows,
      zThreshold: o.zThreshold,
      windows: Number(jumps.rows[0]?.windows ?? 0),
      sensors: Number(jumps.rows[0]?.sensors ?? 0),
      largest: jumps.rows.map((r) => ({
        windowStart: r.window_start,
        sensorType: r.sensor_type,
        sensorId: r.sensor_id,
        avgValue: r.avg_value,
        baselineMean: r.baseline_mean,
        z: r.z,
      })),
    },
    stale: {
      silentForMs: o.silentForMs,
      dataEnd: dataEnd.rows[0].e,
      sensors: stale.rows.map((r) => ({
        sensorType: r.sensor_type,
        sensorId: r.sensor_id,
        lastWindowEnd: r.last_window_end,
        silentMs: Math.round(r.silent_ms),
      })),
    },
  };
}

/** Every hour of the scope with consumption or weather (or both), for --csv. */
export async function csvHours(client: Queryable, scope: Scope): Promise<CsvHour[]> {
  const { rows } = await client.query<{
    window_start: Date;
    window_end: Date;
    consumption: number | null;
    customers: string | null;
    temperature: number | null;
    humidity: number | null;
    pressure: number | null;
    wind_speed: number | null;
    weather_condition: string | null;
    length_h: number;
  }>(
    `WITH c AS (
       SELECT window_start, window_end, consumption, customers FROM ${HOURS}
     ), w AS (
       SELECT window_start, window_end, avg_temperature::float8 AS temperature, avg_humidity::float8 AS humidity,
              avg_pressure::float8 AS pressure, avg_wind_speed::float8 AS wind_speed, weather_condition
       FROM weather_aggregates_realtime
       WHERE window_start >= $1::timestamp AND window_start < $2::timestamp
     )
     SELECT coalesce(c.window_start, w.window_start) AT TIME ZONE 'UTC' AS window_start,
            coalesce(c.window_end, w.window_end) AT TIME ZONE 'UTC' AS window_end,
            extract(epoch FROM coalesce(c.window_end, w.window_end) - coalesce(c.window_start, w.window_start))::float8 / 3600 AS length_h,
            c.consumption, c.customers, w.temperature, w.humidity, w.pressure, w.wind_speed, w.weather_condition
     FROM c FULL JOIN w ON w.window_start = c.window_start AND w.window_end = c.window_end
     ORDER BY 1, 2`,
    params(scope),
  );
  return rows.map((r) => {
    const t = num(r.temperature);
    return {
      windowStart: r.window_start,
      windowEnd: r.window_end,
      consumption: num(r.consumption),
      customers: r.customers === null ? null : Number(r.customers),
      temperature: t,
      humidity: num(r.humidity),
      pressure: num(r.pressure),
      windSpeed: num(r.wind_speed),
      condition: r.weather_condition,
      heatingDegreeHours: t === null ? null : Math.max(0, HEATING_BASE_C - t) * r.length_h,
      coolingDegreeHours: t === null ? null : Math.max(0, t - COOLING_BASE_C) * r.length_h,
    };
  });
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
  baselineWindows?: number;
  zThreshold?: number;
  silentForMs?: number;
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
    degreeHours: await degreeHours(client, opts),
    warnings: disagreements(corr),
    health: await sensorHealth(client, {
      period: opts.period,
      baselineWindows: opts.baselineWindows ?? 24,
      zThreshold: opts.zThreshold ?? 5,
      silentForMs: opts.silentForMs ?? 30 * 60_000,
      top: opts.top,
    }),
  };
}
