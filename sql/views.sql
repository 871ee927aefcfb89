-- Weather and consumption: views for the grid analyst (GitHub issue 7).
-- Runs after sql/schema.sql; idempotent (CREATE OR REPLACE), one client.query() can run it.
--
-- An "hour" below is one consumption window (1 h by default). Consumption and weather are
-- matched only when both windows are the same, window_start AND window_end: if the two
-- window sizes are ever configured differently, nothing is matched half-way; those hours
-- are counted as without weather / without consumption instead.
--
--   hourly_consumption                    all customers: one row per hour
--   hourly_consumption_weather            each hour of hourly_consumption with the weather
--                                         of the same window (weather columns NULL and
--                                         has_weather false when there is no weather row)
--   hourly_customer_consumption_weather   the same, one row per customer and hour
--
-- Pearson's r of hourly consumption against each weather variable, for a period of your
-- choice (window_start in [from_ts, to_ts), UTC like the tables):
--
--   SELECT * FROM consumption_weather_correlation('2026-11-01', '2026-11-08');
--   SELECT * FROM consumption_weather_correlation('2026-11-01', '2026-11-08', 'customer_3');
--
-- or for a trailing period ending at the latest window in the tables (not at now(): during
-- a back-fill or a replayed demo the data's clock is not the wall clock):
--
--   SELECT * FROM consumption_weather_correlation_trailing('30 days');
--   SELECT * FROM consumption_weather_correlation_7d;        -- the same for 7 days
--
-- One row per variable (temperature, humidity, pressure, wind_speed):
--   r          corr(consumption, variable); NULL when fewer than two hours or when either
--              side does not vary (Pearson's r is undefined for zero variance)
--   hours      the hours behind r: both consumption and that variable present
--   slope, intercept   the least-squares line consumption = intercept + slope * variable
--   hours_without_weather      consumption hours in the period with no weather row
--   hours_without_consumption  weather hours in the period with no consumption row
-- The last two are the same on every row; those hours are never part of r.
--
-- Consumption and temperature both follow the time of day, so Pearson's r above mixes
-- the daily cycle into the weather effect. Within the same hour of day, instead:
--
--   SELECT * FROM consumption_weather_adjusted('2026-11-01', '2026-11-08');
--   SELECT * FROM consumption_weather_adjusted('2026-11-01', '2026-11-08', 'customer_3');
--
-- One row per variable: temperature, humidity, pressure, wind_speed, and the heating and
-- cooling degree-hours of each hour (degrees below heating_base / above cooling_base, 18
-- and 22 °C by default, times the window's length in hours):
--   r               Pearson's r, as consumption_weather_correlation gives it
--   adjusted_r      partial correlation controlling for the hour of day (UTC): r of the
--                   residuals of both sides from their own mean for that hour of day
--   adjusted_slope  kWh per unit within the same hour of day (slope of those residuals)
--   hours           hours behind r; hours_of_day: hours of day seen at least twice (only
--                   those carry information once the hour of day is taken out)
--
-- Heating and cooling together, as an analyst budgets them:
--
--   SELECT * FROM consumption_degree_hours('2026-11-01', '2026-11-08');
--
--   heating_degree_hours, cooling_degree_hours   totals over the period
--   heating_hours, cooling_hours                 hours with some heating / cooling need
--   kwh_per_heating_degree_hour, kwh_per_cooling_degree_hour
--                   least squares of consumption on both at once, within the same hour of
--                   day (NULL when the period holds no such degree-hours, or too few days)
--
-- Lookups of one sensor's or one customer's history use these indexes (the unique keys
-- lead with window_start, which serves time ranges over everyone, not one sensor):
--
--   SELECT * FROM sensor_aggregates_realtime WHERE sensor_id = 'sensor_007' ORDER BY window_start;
--   SELECT * FROM consumption_aggregates_realtime WHERE customer_id = 'customer_3' AND window_start >= '2026-11-01';

CREATE INDEX IF NOT EXISTS sensor_aggregates_realtime_sensor_time
    ON sensor_aggregates_realtime (sensor_id, window_start);
CREATE INDEX IF NOT EXISTS consumption_aggregates_realtime_customer_time
    ON consumption_aggregates_realtime (customer_id, window_start);

CREATE OR REPLACE VIEW hourly_consumption AS
SELECT window_start,
       window_end,
       sum(total_consumption) AS total_consumption,
       count(*) AS customers,
       sum(reading_count) AS reading_count
FROM consumption_aggregates_realtime
GROUP BY window_start, window_end;

CREATE OR REPLACE VIEW hourly_consumption_weather AS
SELECT c.window_start,
       c.window_end,
       c.total_consumption,
       c.customers,
       c.reading_count,
       w.window_start IS NOT NULL AS has_weather,
       w.avg_temperature,
       w.avg_humidity,
       w.avg_pressure,
       w.avg_wind_speed,
       w.weather_condition
FROM hourly_consumption c
LEFT JOIN weather_aggregates_realtime w
  ON w.window_start = c.window_start AND w.window_end = c.window_end;

CREATE OR REPLACE VIEW hourly_customer_consumption_weather AS
SELECT c.window_start,
       c.window_end,
       c.customer_id,
       c.total_consumption,
       c.avg_consumption,
       c.reading_count,
       w.window_start IS NOT NULL AS has_weather,
       w.avg_temperature,
       w.avg_humidity,
       w.avg_pressure,
       w.avg_wind_speed,
       w.weather_condition
FROM consumption_aggregates_realtime c
LEFT JOIN weather_aggregates_realtime w
  ON w.window_start = c.window_start AND w.window_end = c.window_end;

CREATE OR REPLACE FUNCTION consumption_weather_correlation(
    from_ts timestamp,
    to_ts timestamp,
    customer text DEFAULT NULL
)
RETURNS TABLE (
    variable text,
    r double precision,
    hours bigint,
    slope double precision,
    intercept double precision,
    hours_without_weather bigint,
    hours_without_consumption bigint
)
LANGUAGE sql STABLE
AS $$
    WITH consumption AS (
        SELECT window_start, window_end, sum(total_consumption)::float8 AS consumption
        FROM consumption_aggregates_realtime
        WHERE window_start >= from_ts AND window_start < to_ts
          AND (customer IS NULL OR customer_id = customer)
        GROUP BY window_start, window_end
    ),
    weather AS (
        SELECT window_start, window_end,
               avg_temperature::float8 AS temperature,
               avg_humidity::float8 AS humidity,
               avg_pressure::float8 AS pressure,
               avg_wind_speed::float8 AS wind_speed
        FROM weather_aggregates_realtime
        WHERE window_start >= from_ts AND window_start < to_ts
    ),
    coverage AS (
        SELECT count(*) FILTER (WHERE w.window_start IS NULL) AS without_weather,
               count(*) FILTER (WHERE c.window_start IS NULL) AS without_consumption
        FROM consumption c
        FULL JOIN weather w ON w.window_start = c.window_start AND w.window_end = c.window_end
    ),
    pairs AS (
        SELECT x.variable, c.consumption, x.value
        FROM consumption c
        JOIN weather w ON w.window_start = c.window_start AND w.window_end = c.window_end
        CROSS JOIN LATERAL (VALUES ('temperature', w.temperature),
                                   ('humidity', w.humidity),
                                   ('pressure', w.pressure),
                                   ('wind_speed', w.wind_speed)) AS x(variable, value)
    )
    SELECT v.variable,
           corr(p.consumption, p.value),
           regr_count(p.consumption, p.value),
           regr_slope(p.consumption, p.value),
           regr_intercept(p.consumption, p.value),
           min(cov.without_weather),
           min(cov.without_consumption)
    FROM (VALUES (1, 'temperature'), (2, 'humidity'), (3, 'pressure'), (4, 'wind_speed'))
         AS v(ord, variable)
    CROSS JOIN coverage cov
    LEFT JOIN pairs p ON p.variable = v.variable
    GROUP BY v.ord, v.variable
    ORDER BY v.ord
$$;

CREATE OR REPLACE FUNCTION consumption_weather_correlation_trailing(
    period interval,
    customer text DEFAULT NULL
)
RETURNS TABLE (
    period_start timestamp,
    period_end timestamp,
    variable text,
    r double precision,
    hours bigint,
    slope double precision,
    intercept double precision,
    hours_without_weather bigint,
    hours_without_consumption bigint
)
LANGUAGE sql STABLE
AS $$
    WITH latest AS (
        SELECT greatest((SELECT max(window_end) FROM consumption_aggregates_realtime),
                        (SELECT max(window_end) FROM weather_aggregates_realtime)) AS period_end
    )
    SELECT l.period_end - period, l.period_end, f.*
    FROM latest l
    CROSS JOIN LATERAL consumption_weather_correlation(l.period_end - period, l.period_end, customer) f
$$;

CREATE OR REPLACE VIEW consumption_weather_correlation_7d AS
SELECT * FROM consumption_weather_correlation_trailing(interval '7 days');

CREATE OR REPLACE FUNCTION consumption_weather_adjusted(
    from_ts timestamp,
    to_ts timestamp,
    customer text DEFAULT NULL,
    heating_base double precision DEFAULT 18,
    cooling_base double precision DEFAULT 22
)
RETURNS TABLE (
    variable text,
    r double precision,
    adjusted_r double precision,
    adjusted_slope double precision,
    hours bigint,
    hours_of_day bigint
)
LANGUAGE sql STABLE
AS $$
    WITH consumption AS (
        SELECT window_start, window_end, sum(total_consumption)::float8 AS consumption
        FROM consumption_aggregates_realtime
        WHERE window_start >= from_ts AND window_start < to_ts
          AND (customer IS NULL OR customer_id = customer)
        GROUP BY window_start, window_end
    ),
    weather AS (
        SELECT window_start, window_end,
               avg_temperature::float8 AS temperature,
               avg_humidity::float8 AS humidity,
               avg_pressure::float8 AS pressure,
               avg_wind_speed::float8 AS wind_speed,
               extract(epoch FROM window_end - window_start)::float8 / 3600 AS length_h
        FROM weather_aggregates_realtime
        WHERE window_start >= from_ts AND window_start < to_ts
    ),
    pairs AS (
        SELECT x.variable, extract(hour FROM c.window_start)::int AS hour_of_day, c.consumption, x.value
        FROM consumption c
        JOIN weather w ON w.window_start = c.window_start AND w.window_end = c.window_end
        CROSS JOIN LATERAL (VALUES ('temperature', w.temperature),
                                   ('humidity', w.humidity),
                                   ('pressure', w.pressure),
                                   ('wind_speed', w.wind_speed),
                                   ('heating_degree_hours', greatest(0, heating_base - w.temperature) * w.length_h),
                                   ('cooling_degree_hours', greatest(0, w.temperature - cooling_base) * w.length_h))
                    AS x(variable, value)
        WHERE x.value IS NOT NULL AND c.consumption IS NOT NULL
    ),
    residuals AS (
        SELECT variable, hour_of_day, consumption, value,
               consumption - avg(consumption) OVER same_hour AS consumption_residual,
               value - avg(value) OVER same_hour AS value_residual,
               count(*) OVER same_hour AS hours_at_hour
        FROM pairs
        WINDOW same_hour AS (PARTITION BY variable, hour_of_day)
    ),
    fits AS (
        SELECT variable,
               corr(consumption, value) AS r,
               count(*) AS hours,
               count(DISTINCT hour_of_day) FILTER (WHERE hours_at_hour > 1) AS hours_of_day,
               corr(consumption_residual, value_residual) FILTER (WHERE hours_at_hour > 1) AS adjusted_r,
               regr_slope(consumption_residual, value_residual) FILTER (WHERE hours_at_hour > 1) AS adjusted_slope,
               -- residuals of a side that only follows the hour of day are zero up to
               -- rounding; r of rounding noise is no figure
               regr_sxx(consumption_residual, value_residual) FILTER (WHERE hours_at_hour > 1) AS value_ss,
               regr_syy(consumption_residual, value_residual) FILTER (WHERE hours_at_hour > 1) AS consumption_ss,
               regr_sxx(consumption, value) AS value_total_ss,
               regr_syy(consumption, value) AS consumption_total_ss
        FROM residuals
        GROUP BY variable
    )
    SELECT v.variable,
           f.r,
           CASE WHEN f.value_ss > 1e-9 * f.value_total_ss AND f.consumption_ss > 1e-9 * f.consumption_total_ss
                THEN f.adjusted_r END,
           CASE WHEN f.value_ss > 1e-9 * f.value_total_ss THEN f.adjusted_slope END,
           coalesce(f.hours, 0),
           coalesce(f.hours_of_day, 0)
    FROM (VALUES (1, 'temperature'), (2, 'humidity'), (3, 'pressure'), (4, 'wind_speed'),
                 (5, 'heating_degree_hours'), (6, 'cooling_degree_hours')) AS v(ord, variable)
    LEFT JOIN fits f ON f.variable = v.variable
    ORDER BY v.ord
$$;

CREATE OR REPLACE FUNCTION consumption_degree_hours(
    from_ts timestamp,
    to_ts timestamp,
    customer text DEFAULT NULL,
    heating_base double precision DEFAULT 18,
    cooling_base double precision DEFAULT 22
)
RETURNS TABLE (
    hours bigint,
    heating_degree_hours double precision,
    cooling_degree_hours double precision,
    heating_hours bigint,
    cooling_hours bigint,
    kwh_per_heating_degree_hour double precision,
    kwh_per_cooling_degree_hour double precision
)
LANGUAGE sql STABLE
AS $$
    WITH consumption AS (
        SELECT window_start, window_end, sum(total_consumption)::float8 AS consumption
        FROM consumption_aggregates_realtime
        WHERE window_start >= from_ts AND window_start < to_ts
          AND (customer IS NULL OR customer_id = customer)
        GROUP BY window_start, window_end
    ),
    pairs AS (
        SELECT extract(hour FROM c.window_start)::int AS hour_of_day,
               c.consumption AS c,
               greatest(0, heating_base - w.avg_temperature::float8)
                 * extract(epoch FROM w.window_end - w.window_start)::float8 / 3600 AS h,
               greatest(0, w.avg_temperature::float8 - cooling_base)
                 * extract(epoch FROM w.window_end - w.window_start)::float8 / 3600 AS k
        FROM consumption c
        JOIN weather_aggregates_realtime w ON w.window_start = c.window_start AND w.window_end = c.window_end
        WHERE w.avg_temperature IS NOT NULL AND c.consumption IS NOT NULL
    ),
    residuals AS (
        SELECT h, k,
               c - avg(c) OVER same_hour AS ec,
               h - avg(h) OVER same_hour AS eh,
               k - avg(k) OVER same_hour AS ek,
               count(*) OVER same_hour AS n
        FROM pairs
        WINDOW same_hour AS (PARTITION BY hour_of_day)
    ),
    sums AS (
        SELECT count(*) AS hours,
               coalesce(sum(h), 0) AS hdh,
               coalesce(sum(k), 0) AS cdh,
               count(*) FILTER (WHERE h > 0) AS heating_hours,
               count(*) FILTER (WHERE k > 0) AS cooling_hours,
               coalesce(sum(eh * eh) FILTER (WHERE n > 1), 0) AS shh,
               coalesce(sum(ek * ek) FILTER (WHERE n > 1), 0) AS skk,
               coalesce(sum(eh * ek) FILTER (WHERE n > 1), 0) AS shk,
               coalesce(sum(eh * ec) FILTER (WHERE n > 1), 0) AS shc,
               coalesce(sum(ek * ec) FILTER (WHERE n > 1), 0) AS skc
        FROM residuals
    ),
    solved AS (
        SELECT s.*,
               s.shh > 1e-9 AS has_h,
               s.skk > 1e-9 AS has_k,
               s.shh * s.skk - s.shk * s.shk AS det
        FROM sums s
    )
    -- Both at once when the period holds both (a cooling hour has no heating degrees, so
    -- one alone would take the other's hours as its zero); else the one there is.
    SELECT hours, hdh, cdh, heating_hours, cooling_hours,
           CASE WHEN has_h AND has_k AND det > 1e-9 * shh * skk THEN (shc * skk - skc * shk) / det
                WHEN has_h AND NOT has_k THEN shc / shh END,
           CASE WHEN has_h AND has_k AND det > 1e-9 * shh * skk THEN (skc * shh - shc * shk) / det
                WHEN has_k AND NOT has_h THEN skc / skk END
    FROM solved
$$;
