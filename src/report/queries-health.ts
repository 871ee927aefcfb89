/**
 * The report's sensor health section (sql/health.sql): out-of-band windows, jumps against
 * each sensor's baseline, and sensors that went silent.
 */
import type { Period, SensorHealth } from './types.js';
import { pgTimestamp, type Queryable } from './queries-scope.js';

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
