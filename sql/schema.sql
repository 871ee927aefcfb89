-- Smart grid aggregate tables: the seed's tables and columns, plus what exactly-once
-- writes need (a unique key per window and group, updated_at) and the dead-letter table.
-- Idempotent: safe to run at every start.
--
-- Widened columns (valid input can overflow the seed's types):
--   sensor_aggregates_realtime.stddev_value      DECIMAL(10,4) -> DECIMAL(14,4)
--     (values up to ±999999.9999 can have a sample stddev up to ~1.42e6)
--   consumption_aggregates_realtime.total_consumption DECIMAL(12,4) -> DECIMAL(20,4)
--     (a sum over many readings each below 1e8)

CREATE TABLE IF NOT EXISTS sensor_aggregates_realtime (
    id SERIAL PRIMARY KEY,
    window_start TIMESTAMP NOT NULL,
    window_end TIMESTAMP NOT NULL,
    sensor_type VARCHAR(50) NOT NULL,
    sensor_id VARCHAR(100) NOT NULL,
    avg_value DECIMAL(10, 4),
    min_value DECIMAL(10, 4),
    max_value DECIMAL(10, 4),
    count BIGINT,
    stddev_value DECIMAL(14, 4),
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT sensor_aggregates_realtime_window_group UNIQUE (window_start, sensor_type, sensor_id)
);

CREATE TABLE IF NOT EXISTS consumption_aggregates_realtime (
    id SERIAL PRIMARY KEY,
    window_start TIMESTAMP NOT NULL,
    window_end TIMESTAMP NOT NULL,
    customer_id VARCHAR(100) NOT NULL,
    total_consumption DECIMAL(20, 4),
    avg_consumption DECIMAL(12, 4),
    reading_count BIGINT,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT consumption_aggregates_realtime_window_group UNIQUE (window_start, customer_id)
);

CREATE TABLE IF NOT EXISTS weather_aggregates_realtime (
    id SERIAL PRIMARY KEY,
    window_start TIMESTAMP NOT NULL,
    window_end TIMESTAMP NOT NULL,
    avg_temperature DECIMAL(5, 2),
    avg_humidity DECIMAL(5, 2),
    avg_pressure DECIMAL(7, 2),
    avg_wind_speed DECIMAL(5, 2),
    weather_condition VARCHAR(50),
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT weather_aggregates_realtime_window UNIQUE (window_start)
);

CREATE TABLE IF NOT EXISTS dead_letters (
    id BIGSERIAL PRIMARY KEY,
    topic TEXT NOT NULL,
    kafka_partition INT NOT NULL,
    kafka_offset BIGINT NOT NULL,
    kafka_key BYTEA,
    payload BYTEA,
    reason TEXT NOT NULL,
    error TEXT NOT NULL,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT dead_letters_source UNIQUE (topic, kafka_partition, kafka_offset)
);

CREATE INDEX IF NOT EXISTS dead_letters_reason ON dead_letters (reason, created_at);

-- Rows that PostgreSQL refused for a data reason (SQLSTATE class 22 or 23: a value out of
-- a column's range, a CHECK constraint an operator added, …). The engine validates every
-- value before the write, so this should stay empty; when it does not, the flush that met
-- the row wrote everything else, and the row is kept here as the COPY text it was sent as.
-- A replay after a crash finds the same row again and does not add it twice.
CREATE TABLE IF NOT EXISTS rejected_rows (
    id BIGSERIAL PRIMARY KEY,
    target_table TEXT NOT NULL,
    row_sha256 BYTEA NOT NULL,
    row_text TEXT NOT NULL,
    sqlstate TEXT,
    error TEXT NOT NULL,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT rejected_rows_source UNIQUE (target_table, row_sha256)
);
