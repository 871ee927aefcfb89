/**
 * The PostgreSQL sink. Final windows and dead letters are written in one transaction per
 * flush: COPY (pg-copy-streams) into temporary staging tables, then INSERT … SELECT … ON
 * CONFLICT into the real tables, so that a replay after a crash overwrites rows with the
 * same values instead of adding a second row, and never duplicates a dead letter.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { describeError, SmartGridError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { consumptionRows, deadLetterRows, lines, sensorRows, weatherRows } from './copy-rows.js';
import type { Sink, SinkBatch, SinkCounts } from './sink.js';

/** The rows of one flush as COPY text lines, per staging table. */
export interface SinkLines {
  stage_sensor: string[];
  stage_consumption: string[];
  stage_weather: string[];
  stage_dead_letters: string[];
}

type StageTable = keyof SinkLines;
const STAGES: readonly StageTable[] = ['stage_sensor', 'stage_consumption', 'stage_weather', 'stage_dead_letters'];
const TARGET: Record<StageTable, string> = {
  stage_sensor: 'sensor_aggregates_realtime',
  stage_consumption: 'consumption_aggregates_realtime',
  stage_weather: 'weather_aggregates_realtime',
  stage_dead_letters: 'dead_letters',
};

/** SQLSTATE of a PostgreSQL error, or of the first cause that has one. */
export function sqlState(e: unknown): string | null {
  let cur: unknown = e;
  for (let depth = 0; cur !== null && cur !== undefined && depth < 5; depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
    cur = (cur as { cause?: unknown }).cause;
  }
  return null;
}

/**
 * A refusal because of the data itself (class 22: data exception, class 23: integrity
 * constraint violation): writing the same rows again can never succeed, but writing the
 * others can.
 */
export function isDataError(e: unknown): boolean {
  const s = sqlState(e);
  return s !== null && (s.startsWith('22') || s.startsWith('23'));
}

export interface PgConnection {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
  /** Schema holding the tables; empty for the server's search_path. */
  schema?: string;
}

const SQL_DIR = new URL('../../../sql/', import.meta.url);

/** The schema (tables) and the analyst views, as shipped in sql/. */
export async function schemaSql(): Promise<string[]> {
  const files = ['schema.sql', 'views.sql', 'health.sql'];
  const out: string[] = [];
  for (const f of files) {
    try {
      out.push(await readFile(new URL(f, SQL_DIR), 'utf8'));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' && f !== 'schema.sql') continue;
      throw e;
    }
  }
  return out;
}

const STAGING = `
CREATE TEMP TABLE stage_sensor (
  window_start TIMESTAMP, window_end TIMESTAMP, sensor_type VARCHAR(50), sensor_id VARCHAR(100),
  avg_value DECIMAL(10,4), min_value DECIMAL(10,4), max_value DECIMAL(10,4), count BIGINT, stddev_value DECIMAL(14,4)
) ON COMMIT DROP;
CREATE TEMP TABLE stage_consumption (
  window_start TIMESTAMP, window_end TIMESTAMP, customer_id VARCHAR(100),
  total_consumption DECIMAL(20,4), avg_consumption DECIMAL(12,4), reading_count BIGINT
) ON COMMIT DROP;
CREATE TEMP TABLE stage_weather (
  window_start TIMESTAMP, window_end TIMESTAMP, avg_temperature DECIMAL(5,2), avg_humidity DECIMAL(5,2),
  avg_pressure DECIMAL(7,2), avg_wind_speed DECIMAL(5,2), weather_condition VARCHAR(50)
) ON COMMIT DROP;
CREATE TEMP TABLE stage_dead_letters (
  topic TEXT, kafka_partition INT, kafka_offset BIGINT, kafka_key BYTEA, payload BYTEA, reason TEXT, error TEXT
) ON COMMIT DROP;`;

// A replay writes identical values; skipping identical rows keeps updated_at meaningful.
const UPSERT_SENSOR = `
INSERT INTO sensor_aggregates_realtime AS t
  (window_start, window_end, sensor_type, sensor_id, avg_value, min_value, max_value, count, stddev_value)
SELECT window_start, window_end, sensor_type, sensor_id, avg_value, min_value, max_value, count, stddev_value FROM stage_sensor
ON CONFLICT ON CONSTRAINT sensor_aggregates_realtime_window_group DO UPDATE SET
  window_end = EXCLUDED.window_end, avg_value = EXCLUDED.avg_value, min_value = EXCLUDED.min_value,
  max_value = EXCLUDED.max_value, count = EXCLUDED.count, stddev_value = EXCLUDED.stddev_value,
  updated_at = CURRENT_TIMESTAMP
WHERE (t.window_end, t.avg_value, t.min_value, t.max_value, t.count, t.stddev_value)
  IS DISTINCT FROM (EXCLUDED.window_end, EXCLUDED.avg_value, EXCLUDED.min_value, EXCLUDED.max_value, EXCLUDED.count, EXCLUDED.stddev_value)`;

const UPSERT_CONSUMPTION = `
INSERT INTO consumption_aggregates_realtime AS t
  (window_start, window_end, customer_id, total_consumption, avg_consumption, reading_count)
SELECT window_start, window_end, customer_id, total_consumption, avg_consumption, reading_count FROM stage_consumption
ON CONFLICT ON CONSTRAINT consumption_aggregates_realtime_window_group DO UPDATE SET
  window_end = EXCLUDED.window_end, total_consumption = EXCLUDED.total_consumption,
  avg_consumption = EXCLUDED.avg_consumption, reading_count = EXCLUDED.reading_count, updated_at = CURRENT_TIMESTAMP
WHERE (t.window_end, t.total_consumption, t.avg_consumption, t.reading_count)
  IS DISTINCT FROM (EXCLUDED.window_end, EXCLUDED.total_consumption, EXCLUDED.avg_consumption, EXCLUDED.reading_count)`;

const UPSERT_WEATHER = `
INSERT INTO weather_aggregates_realtime AS t
  (window_start, window_end, avg_temperature, avg_humidity, avg_pressure, avg_wind_speed, weather_condition)
SELECT window_start, window_end, avg_temperature, avg_humidity, avg_pressure, avg_wind_speed, weather_condition FROM stage_weather
ON CONFLICT ON CONSTRAINT weather_aggregates_realtime_window DO UPDATE SET
  window_end = EXCLUDED.window_end, avg_temperature = EXCLUDED.avg_temperature, avg_humidity = EXCLUDED.avg_humidity,
  avg_pressure = EXCLUDED.avg_pressure, avg_wind_speed = EXCLUDED.avg_wind_speed,
  weather_condition = EXCLUDED.weather_condition, updated_at = CURRENT_TIMESTAMP
WHERE (t.window_end, t.avg_temperature, t.avg_humidity, t.avg_pressure, t.avg_wind_speed, t.weather_condition)
  IS DISTINCT FROM (EXCLUDED.window_end, EXCLUDED.avg_temperature, EXCLUDED.avg_humidity, EXCLUDED.avg_pressure,
                    EXCLUDED.avg_wind_speed, EXCLUDED.weather_condition)`;

const INSERT_DEAD_LETTERS = `
INSERT INTO dead_letters (topic, kafka_partition, kafka_offset, kafka_key, payload, reason, error)
SELECT topic, kafka_partition, kafka_offset, kafka_key, payload, reason, error FROM stage_dead_letters
ON CONFLICT ON CONSTRAINT dead_letters_source DO NOTHING`;

const INSERT_REJECTED = `
INSERT INTO rejected_rows (target_table, row_sha256, row_text, sqlstate, error)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT ON CONSTRAINT rejected_rows_source DO NOTHING`;

async function copyInto(client: pg.PoolClient, table: string, text: string): Promise<void> {
  if (text === '') return;
  text += '\n';
  const stream = client.query(copyFrom(`COPY ${table} FROM STDIN`));
  // Feed large chunks: the text is already built; split it only to bound each write.
  const CHUNK = 1 << 20;
  const chunks: string[] = [];
  for (let i = 0; i < text.length; i += CHUNK) chunks.push(text.slice(i, i + CHUNK));
  await pipeline(Readable.from(chunks), stream);
}

export interface PgSinkOptions {
  /**
   * statement_timeout and lock_timeout of sink writes (ms, 0 = none): a write blocked by a
   * lock or a stuck server fails and is retried instead of hanging unnoticed.
   */
  statementTimeoutMs?: number;
}

export class PgSink implements Sink {
  private readonly pool: pg.Pool;

  constructor(
    private readonly conn: PgConnection,
    private readonly log: Logger,
    opts: PgSinkOptions = {},
  ) {
    const timeout = opts.statementTimeoutMs ?? 0;
    this.pool = new pg.Pool({
      host: conn.host,
      port: conn.port,
      database: conn.database,
      user: conn.user,
      password: conn.password,
      options:
        [conn.schema ? `-c search_path=${conn.schema}` : '', timeout > 0 ? `-c statement_timeout=${timeout} -c lock_timeout=${timeout}` : '']
          .filter((o) => o !== '')
          .join(' ') || undefined,
      max: 2,
      connectionTimeoutMillis: 10000,
      idleTimeoutMillis: 30000,
      application_name: 'smartgrid-stream',
    });
    // An idle client losing its connection must not crash the process; the next query
    // gets a fresh connection.
    this.pool.on('error', (e) => this.log.warn('idle PostgreSQL connection failed', { error: e.message }));
  }

  /** Creates the tables and views if missing (idempotent). */
  async init(): Promise<void> {
    const client = await this.connect();
    try {
      // Serialise concurrent starts: CREATE … IF NOT EXISTS is not race-free.
      await client.query('SELECT pg_advisory_lock(727274)');
      try {
        if (this.conn.schema) {
          // CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when the schema
          // exists; a role that owns only its schema must still start.
          const { rowCount } = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [this.conn.schema]);
          if (rowCount === 0) await client.query(`CREATE SCHEMA IF NOT EXISTS ${this.conn.schema}`);
        }
        for (const sql of await schemaSql()) await client.query(sql);
      } finally {
        await client.query('SELECT pg_advisory_unlock(727274)');
      }
    } catch (e) {
      throw new SmartGridError('POSTGRES_ERROR', 'could not create the schema', { cause: e, canRetry: isTransient(e) });
    } finally {
      client.release();
    }
  }

  private async connect(): Promise<pg.PoolClient> {
    try {
      return await this.pool.connect();
    } catch (e) {
      throw new SmartGridError('POSTGRES_UNAVAILABLE', 'cannot connect to PostgreSQL', { cause: e, canRetry: true });
    }
  }

  /**
   * Writes one flush. Normally one transaction; if PostgreSQL refuses it for a data reason
   * (isDataError), the rows are bisected into smaller transactions until the refused rows
   * are found: every other row is written, each refused one goes to `rejected_rows`. A
   * replay after a crash meets the same rows and writes the same result (upserts, and
   * ON CONFLICT DO NOTHING for dead letters and rejected rows).
   */
  async write(b: SinkBatch): Promise<SinkCounts> {
    const text: Record<StageTable, string> = {
      stage_sensor: sensorRows(b.sensor, b.windowMs.sensor),
      stage_consumption: consumptionRows(b.meter, b.windowMs.meter),
      stage_weather: weatherRows(b.weather, b.windowMs.weather),
      stage_dead_letters: deadLetterRows(b.deadLetters),
    };
    const counts: SinkCounts = {
      sensor: b.sensor.reduce((n, w) => n + w.keys.length, 0),
      meter: b.meter.reduce((n, w) => n + w.keys.length, 0),
      weather: b.weather.filter((w) => w.keys.length > 0).length,
      deadLetters: b.deadLetters.length,
      rejected: 0,
    };
    if (STAGES.every((t) => text[t] === '')) return counts;
    // First try: each table's text as one piece (no splitting into lines).
    const whole = (t: StageTable): string[] => (text[t] === '' ? [] : [text[t].slice(0, -1)]);
    try {
      await this.writeLines({
        stage_sensor: whole('stage_sensor'),
        stage_consumption: whole('stage_consumption'),
        stage_weather: whole('stage_weather'),
        stage_dead_letters: whole('stage_dead_letters'),
      });
      return counts;
    } catch (e) {
      if (!isDataError(e)) throw e;
      this.log.warn('PostgreSQL refused a flush for a data reason; finding the refused rows', {
        error: describeError(e),
      });
    }
    // COPY text escapes newlines inside values, so each line is one row.
    const all: SinkLines = {
      stage_sensor: lines(text.stage_sensor),
      stage_consumption: lines(text.stage_consumption),
      stage_weather: lines(text.stage_weather),
      stage_dead_letters: lines(text.stage_dead_letters),
    };
    const rejected = await this.bisect(all);
    for (const r of rejected) {
      const key = r.table === 'stage_sensor' ? 'sensor' : r.table === 'stage_consumption' ? 'meter' : r.table === 'stage_weather' ? 'weather' : 'deadLetters';
      counts[key]--;
    }
    counts.rejected = rejected.length;
    return counts;
  }

  /** Writes `rows` in halves, recursively; returns the single rows PostgreSQL refused, recorded. */
  private async bisect(rows: SinkLines): Promise<{ table: StageTable; line: string }[]> {
    const n = size(rows);
    if (n === 1) {
      const table = STAGES.find((t) => rows[t].length === 1)!;
      const line = rows[table][0];
      try {
        await this.writeLines(rows);
        return [];
      } catch (e) {
        if (!isDataError(e)) throw e;
        await this.recordRejected(table, line, e);
        return [{ table, line }];
      }
    }
    const [a, b] = halves(rows);
    const out: { table: StageTable; line: string }[] = [];
    for (const part of [a, b]) {
      try {
        await this.writeLines(part);
      } catch (e) {
        if (!isDataError(e)) throw e;
        out.push(...(await this.bisect(part)));
      }
    }
    return out;
  }

  private async recordRejected(table: StageTable, line: string, e: unknown): Promise<void> {
    const client = await this.connect();
    try {
      const err = (e instanceof SmartGridError && e.cause !== undefined ? e.cause : e) as Error;
      await client.query(INSERT_REJECTED, [
        TARGET[table],
        createHash('sha256').update(line).digest(),
        line,
        sqlState(e),
        err?.message ?? String(e),
      ]);
      this.log.error('PostgreSQL refused a row; kept in rejected_rows', { table: TARGET[table], sqlstate: sqlState(e), error: err?.message });
    } catch (e2) {
      throw new SmartGridError('SINK_WRITE_FAILED', 'recording a refused row in rejected_rows failed', {
        cause: e2,
        canRetry: isTransient(e2),
      });
    } finally {
      client.release();
    }
  }

  /** Writes rows in one transaction: COPY into staging tables, then upsert. */
  private async writeLines(rows: SinkLines): Promise<void> {
    const client = await this.connect();
    let broken = false;
    try {
      await client.query('BEGIN');
      await client.query(STAGING);
      for (const t of STAGES) await copyInto(client, t, rows[t].join('\n'));
      if (rows.stage_sensor.length > 0) await client.query(UPSERT_SENSOR);
      if (rows.stage_consumption.length > 0) await client.query(UPSERT_CONSUMPTION);
      if (rows.stage_weather.length > 0) await client.query(UPSERT_WEATHER);
      if (rows.stage_dead_letters.length > 0) await client.query(INSERT_DEAD_LETTERS);
      await client.query('COMMIT');
    } catch (e) {
      await client.query('ROLLBACK').catch(() => {
        broken = true;
      });
      throw new SmartGridError('SINK_WRITE_FAILED', 'writing aggregates to PostgreSQL failed', {
        cause: e,
        canRetry: isTransient(e),
      });
    } finally {
      // A connection whose transaction state is unknown is not returned to the pool.
      client.release(broken ? true : undefined);
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

function size(r: SinkLines): number {
  return r.stage_sensor.length + r.stage_consumption.length + r.stage_weather.length + r.stage_dead_letters.length;
}

/** Splits rows into two non-empty halves (by position over the four tables in order). */
function halves(r: SinkLines): [SinkLines, SinkLines] {
  const flat: [StageTable, string][] = [];
  for (const t of STAGES) for (const l of r[t]) flat.push([t, l]);
  const mid = flat.length >> 1;
  const make = (part: [StageTable, string][]): SinkLines => {
    const out: SinkLines = { stage_sensor: [], stage_consumption: [], stage_weather: [], stage_dead_letters: [] };
    for (const [t, l] of part) out[t].push(l);
    return out;
  };
  return [make(flat.slice(0, mid)), make(flat.slice(mid))];
}

/**
 * Whether a PostgreSQL failure may pass: lost connections, shutdowns, lock and resource
 * problems, and permission changes by an operator (SQLSTATE 42501), which the outage
 * drills use. Constraint violations and bad SQL are bugs: retrying cannot help.
 */
export function isTransient(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  if (typeof code !== 'string') return true; // network errors (ECONNREFUSED, …) and timeouts
  if (/^E[A-Z]+$/.test(code)) return true;
  return /^(08|53|57|58|40|55)/.test(code) || code === '42501' || code === '3D000' || code === '28000';
}
