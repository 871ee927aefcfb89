/**
 * Puts the load generator's expected aggregate rows (loadgen/expected.ts) into the tables,
 * as the engine would write them for the same events: the analyst views then run on data
 * whose truth is known (what the generator planted). The engine's own rows equal these
 * digit for digit (test/integration/loadgen-vs-engine.test.ts), so this is the engine's
 * output without the minutes a Kafka round trip costs.
 */
import type pg from 'pg';
import type { ExpectedOutput } from '../../loadgen/expected.js';

const col = <R, K extends keyof R>(rows: R[], k: K): R[K][] => rows.map((r) => r[k]);

export async function insertExpected(client: pg.Client, ex: ExpectedOutput): Promise<void> {
  await client.query('BEGIN');
  await client.query(
    `INSERT INTO sensor_aggregates_realtime
       (window_start, window_end, sensor_type, sensor_id, avg_value, min_value, max_value, count, stddev_value)
     SELECT (s AT TIME ZONE 'UTC'), (e AT TIME ZONE 'UTC'), t, i, a, mn, mx, n, sd
     FROM unnest($1::timestamptz[], $2::timestamptz[], $3::text[], $4::text[], $5::numeric[], $6::numeric[],
                 $7::numeric[], $8::bigint[], $9::numeric[]) AS u(s, e, t, i, a, mn, mx, n, sd)`,
    [
      col(ex.sensor, 'window_start'),
      col(ex.sensor, 'window_end'),
      col(ex.sensor, 'sensor_type'),
      col(ex.sensor, 'sensor_id'),
      col(ex.sensor, 'avg_value'),
      col(ex.sensor, 'min_value'),
      col(ex.sensor, 'max_value'),
      col(ex.sensor, 'count'),
      col(ex.sensor, 'stddev_value'),
    ],
  );
  await client.query(
    `INSERT INTO consumption_aggregates_realtime
       (window_start, window_end, customer_id, total_consumption, avg_consumption, reading_count)
     SELECT (s AT TIME ZONE 'UTC'), (e AT TIME ZONE 'UTC'), c, t, a, n
     FROM unnest($1::timestamptz[], $2::timestamptz[], $3::text[], $4::numeric[], $5::numeric[], $6::bigint[])
          AS u(s, e, c, t, a, n)`,
    [
      col(ex.consumption, 'window_start'),
      col(ex.consumption, 'window_end'),
      col(ex.consumption, 'customer_id'),
      col(ex.consumption, 'total_consumption'),
      col(ex.consumption, 'avg_consumption'),
      col(ex.consumption, 'reading_count'),
    ],
  );
  await client.query(
    `INSERT INTO weather_aggregates_realtime
       (window_start, window_end, avg_temperature, avg_humidity, avg_pressure, avg_wind_speed, weather_condition)
     SELECT (s AT TIME ZONE 'UTC'), (e AT TIME ZONE 'UTC'), t, h, p, w, c
     FROM unnest($1::timestamptz[], $2::timestamptz[], $3::numeric[], $4::numeric[], $5::numeric[], $6::numeric[], $7::text[])
          AS u(s, e, t, h, p, w, c)`,
    [
      col(ex.weather, 'window_start'),
      col(ex.weather, 'window_end'),
      col(ex.weather, 'avg_temperature'),
      col(ex.weather, 'avg_humidity'),
      col(ex.weather, 'avg_pressure'),
      col(ex.weather, 'avg_wind_speed'),
      col(ex.weather, 'weather_condition'),
    ],
  );
  await client.query('COMMIT');
}
