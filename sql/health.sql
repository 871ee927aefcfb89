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
--       windows whose mean is at least 5 standard errors from the sensor's trailing
--       baseline: the readings of its previous 24 windows (baseline_mean, and
--       baseline_stddev their standard deviation, within and between windows). z is
--       (window mean − baseline_mean) / (baseline_stddev / √count): a window of one
--       reading must stray further than a window of forty to count, so sensors that
--       report irregularly do not flood the list. Only windows with a full baseline that
--       varies are judged. Optional period:
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
    WITH windows AS (
        -- means are taken relative to the sensor's overall level (shift), so the sums of
        -- squares below do not cancel catastrophically for large values with a small spread
        SELECT s.window_start, s.window_end, s.sensor_type, s.sensor_id, s.count::float8 AS n,
               s.avg_value::float8 AS avg_value,
               s.avg_value::float8 - avg(s.avg_value::float8) OVER (PARTITION BY s.sensor_type, s.sensor_id) AS m,
               coalesce(s.stddev_value::float8, 0) AS sd
        FROM sensor_aggregates_realtime s
        WHERE s.window_start < to_ts AND s.count > 0
    ),
    sums AS (
        SELECT w.*, w.avg_value - w.m AS shift,
               count(*) OVER baseline AS baseline_count,
               sum(w.n) OVER baseline AS bn,
               sum(w.n * w.m) OVER baseline AS bnm,
               sum(w.n * w.m * w.m) OVER baseline AS bnmm,
               sum((w.n - 1) * w.sd * w.sd) OVER baseline AS bwithin
        FROM windows w
        WINDOW baseline AS (PARTITION BY w.sensor_type, w.sensor_id ORDER BY w.window_start
                            ROWS BETWEEN baseline_windows PRECEDING AND 1 PRECEDING)
    ),
    judged AS (
        SELECT s.*, s.shift + s.bnm / s.bn AS baseline_mean,
               sqrt(greatest(0, s.bwithin + s.bnmm - s.bnm * s.bnm / s.bn) / (s.bn - 1)) AS baseline_stddev
        FROM sums s
        WHERE s.window_start >= from_ts AND s.baseline_count = baseline_windows AND s.bn > 1
    )
    SELECT j.window_start, j.window_end, j.sensor_type, j.sensor_id, j.avg_value,
           j.baseline_mean, j.baseline_stddev, (j.avg_value - j.baseline_mean) / (j.baseline_stddev / sqrt(j.n))
    FROM judged j
    WHERE j.baseline_stddev > 0
      AND abs(j.avg_value - j.baseline_mean) >= z_threshold * j.baseline_stddev / sqrt(j.n)
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
