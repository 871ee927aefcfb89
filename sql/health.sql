-- Sensor health for operators (GitHub issue 15): which sensors are out of band, which
-- jump far from their own recent baseline, which went silent.
-- Runs after sql/schema.sql (the engine applies it at every start); idempotent.
--
-- sensor_limits: the band of normal window means per sensor_type. Edit it freely:
--   UPDATE sensor_limits SET low_value = 210, high_value = 250 WHERE sensor_type = 'voltage';
--   INSERT INTO sensor_limits VALUES ('pressure', 950, 1050, 'hPa', 'site limits');
-- Re-applying this file never overwrites an edited row (ON CONFLICT DO NOTHING); a
-- deleted default comes back, so to stop checking a type set both limits to NULL.
-- A NULL limit is no limit on that side.
--
--   SELECT * FROM sensor_out_of_band WHERE window_start >= '2026-11-28';
--       windows whose mean lies outside their type's band (side: 'below' / 'above');
--       EN 50160 judges voltage on 10-minute means, not single readings, and so does this
--   SELECT * FROM sensor_jumps(24, 5);
--       windows whose mean is at least 5 standard deviations from the mean of the same
--       sensor's previous 24 windows (z-score against a trailing baseline). Only windows
--       with a full baseline and a baseline that varies are judged. Optional period:
--       sensor_jumps(24, 5, '2026-11-28', '2026-11-29') (window_start in [from, to); the
--       baseline may reach back before from)
--   SELECT * FROM stale_sensors('30 minutes');
--       sensors whose latest window ended at least 30 minutes before the latest window of
--       any sensor: silent while others report. Measured against the data's own clock,
--       not now(), so a back-fill or a replayed demo reads the same.

CREATE TABLE IF NOT EXISTS sensor_limits (
    sensor_type VARCHAR(50) PRIMARY KEY,
    low_value DOUBLE PRECISION,
    high_value DOUBLE PRECISION,
    unit TEXT,
    note TEXT,
    CONSTRAINT sensor_limits_order CHECK (low_value IS NULL OR high_value IS NULL OR low_value < high_value)
);

INSERT INTO sensor_limits (sensor_type, low_value, high_value, unit, note) VALUES
    ('voltage', 207, 253, 'V', '230 V ± 10 % (EN 50160, 10-minute means)'),
    ('frequency', 49.8, 50.2, 'Hz', '50 Hz ± 0.2 Hz: outside it load shedding or reserves act'),
    ('current', 0, 100, 'A', 'rated range of the metering point'),
    ('power', 0, 5000, 'W', 'rated range of the metering point'),
    ('temperature', -10, 50, '°C', 'operating range of the equipment'),
    ('humidity', 0, 100, '%', 'physical range: outside it the sensor is faulty')
ON CONFLICT (sensor_type) DO NOTHING;

CREATE OR REPLACE VIEW sensor_out_of_band AS
SELECT s.window_start,
       s.window_end,
       s.sensor_type,
       s.sensor_id,
       s.avg_value,
       s.min_value,
       s.max_value,
       s.count,
       l.low_value,
       l.high_value,
       l.unit,
       CASE WHEN s.avg_value < l.low_value THEN 'below' ELSE 'above' END AS side
FROM sensor_aggregates_realtime s
JOIN sensor_limits l ON l.sensor_type = s.sensor_type
WHERE s.avg_value < l.low_value OR s.avg_value > l.high_value;

CREATE OR REPLACE FUNCTION sensor_jumps(
    baseline_windows integer DEFAULT 24,
    z_threshold double precision DEFAULT 5,
    from_ts timestamp DEFAULT '-infinity',
    to_ts timestamp DEFAULT 'infinity'
)
RETURNS TABLE (
    window_start timestamp,
    window_end timestamp,
    sensor_type varchar,
    sensor_id varchar,
    avg_value double precision,
    baseline_mean double precision,
    baseline_stddev double precision,
    z double precision
)
LANGUAGE sql STABLE
AS $$
    WITH judged AS (
        SELECT s.window_start, s.window_end, s.sensor_type, s.sensor_id, s.avg_value::float8 AS avg_value,
               avg(s.avg_value::float8) OVER baseline AS baseline_mean,
               stddev_samp(s.avg_value::float8) OVER baseline AS baseline_stddev,
               count(*) OVER baseline AS baseline_count
        FROM sensor_aggregates_realtime s
        WHERE s.window_start < to_ts
        WINDOW baseline AS (PARTITION BY s.sensor_type, s.sensor_id ORDER BY s.window_start
                            ROWS BETWEEN baseline_windows PRECEDING AND 1 PRECEDING)
    )
    SELECT j.window_start, j.window_end, j.sensor_type, j.sensor_id, j.avg_value,
           j.baseline_mean, j.baseline_stddev, (j.avg_value - j.baseline_mean) / j.baseline_stddev
    FROM judged j
    WHERE j.window_start >= from_ts
      AND j.baseline_count = baseline_windows
      AND j.baseline_stddev > 0
      AND abs(j.avg_value - j.baseline_mean) >= z_threshold * j.baseline_stddev
    ORDER BY j.window_start, j.sensor_type, j.sensor_id
$$;

CREATE OR REPLACE FUNCTION stale_sensors(silent_for interval DEFAULT '30 minutes')
RETURNS TABLE (
    sensor_type varchar,
    sensor_id varchar,
    last_window_end timestamp,
    data_end timestamp,
    silent interval
)
LANGUAGE sql STABLE
AS $$
    WITH latest AS (
        SELECT s.sensor_type, s.sensor_id, max(s.window_end) AS last_end
        FROM sensor_aggregates_realtime s
        GROUP BY s.sensor_type, s.sensor_id
    ),
    clock AS (
        SELECT max(last_end) AS data_end FROM latest
    )
    SELECT l.sensor_type, l.sensor_id, l.last_end, c.data_end, c.data_end - l.last_end
    FROM latest l CROSS JOIN clock c
    WHERE l.last_end <= c.data_end - silent_for
    ORDER BY c.data_end - l.last_end DESC, l.sensor_type, l.sensor_id
$$;
