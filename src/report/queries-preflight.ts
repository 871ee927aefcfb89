/**
 * The checks before a report runs: the tables, views and functions it needs are there, the
 * customer asked for is known, and the range of time the data covers.
 */
import { ReportError } from './errors.js';
import type { Period } from './types.js';
import type { Queryable } from './queries-scope.js';

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
