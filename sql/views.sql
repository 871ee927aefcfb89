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
