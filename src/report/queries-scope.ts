/**
 * What the report's queries share: the client they take, the scope (period, customer) they
 * cover, and the hours of a scope with their weather as SQL.
 *
 * The tables hold UTC in `TIMESTAMP` columns. node-postgres would read those as local
 * time and write a `Date` parameter as local time, so times cross the wire as text:
 * parameters as zone-less UTC strings, results as `… AT TIME ZONE 'UTC'` (a timestamptz,
 * which it parses to the right instant whatever the process's time zone).
 */
import type pg from 'pg';
import type { Period } from './types.js';

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

export const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/**
 * The hours of the scope with their weather, as a FROM item with the columns of
 * hourly_consumption_weather. Parameters: $1 from, $2 to, $3 customer (null: all).
 */
export const HOURS = `(
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

export function params(scope: Scope): [string, string, string | null] {
  return [pgTimestamp(scope.period.from), pgTimestamp(scope.period.to), scope.customer ?? null];
}
