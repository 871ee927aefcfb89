/**
 * The report's hour-by-hour sections: the hours of highest consumption, consumption by
 * weather condition and by temperature band, the chart's series, and every hour for --csv.
 */
import type { ConditionRow, CsvHour, HourWithWeather, SeriesPoint, TemperatureBand } from './types.js';
import { HOURS, num, params, type Queryable, type Scope } from './queries-scope.js';
import { COOLING_BASE_C, HEATING_BASE_C } from './queries-weather.js';

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
