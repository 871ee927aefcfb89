/**
 * The PostgreSQL sink. Final windows and dead letters are written in one transaction per
 * flush: COPY (pg-copy-streams) into temporary staging tables, then INSERT … SELECT … ON
 * CONFLICT into the real tables, so that a replay after a crash overwrites rows with the
 * same values instead of adding a second row, and never duplicates a dead letter.
 */
import { readFile } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { SmartGridError } from './errors.js';
import type { Logger } from './log.js';
import type { WindowState } from './window-store.js';
import { STATS_WIDTH, S_COUNT, S_MAX, S_MIN, meanText, sampleStddev, sumText } from '../workers/stats.js';
import { SUM_SCALE } from '../workers/protocol.js';
import { copyBytea, copyNumber, copyText, copyTimestamp, COPY_NULL } from './copy-text.js';

export interface DeadLetter {
  topic: string;
  partition: number;
  offset: number;
  key: Buffer | null;
  payload: Buffer | null;
  reason: string;
  error: string;
}

export interface SinkBatch {
  sensor: WindowState[];
  meter: WindowState[];
  weather: WindowState[];
  windowMs: { sensor: number; meter: number; weather: number };
  deadLetters: DeadLetter[];
}

export interface SinkCounts {
  sensor: number;
  meter: number;
  weather: number;
  deadLetters: number;
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

const copyDecimal = (text: string | null): string => (text === null ? COPY_NULL : text);

/** The most frequent condition; a tie goes to the alphabetically first (code point order). */
export function modeCondition(conds: Map<string, number>): string | null {
  let best: string | null = null;
  let bestCount = 0;
  for (const [name, count] of conds) {
    if (count > bestCount || (count === bestCount && best !== null && name < best)) {
      best = name;
      bestCount = count;
    }
  }
  return best;
}

/** COPY text for the sensor rows of final windows. */
export function sensorRows(windows: WindowState[], windowMs: number): string {
  let out = '';
  for (const w of windows) {
    const ws = copyTimestamp(w.start);
    const we = copyTimestamp(w.start + windowMs);
    for (let s = 0; s < w.keys.length; s++) {
      const key = w.keys[s];
      const sep = key.indexOf('\u0000');
      const o = s * STATS_WIDTH;
      const st = w.stats;
      out +=
        ws + '\t' + we + '\t' + copyText(key.slice(0, sep)) + '\t' + copyText(key.slice(sep + 1)) + '\t' +
        copyDecimal(meanText(st, o, SUM_SCALE[0], 4)) + '\t' + copyNumber(st[o + S_MIN]) + '\t' + copyNumber(st[o + S_MAX]) + '\t' +
        copyNumber(st[o + S_COUNT]) + '\t' + copyNumber(sampleStddev(st, o)) + '\n';
    }
  }
  return out;
}

export function consumptionRows(windows: WindowState[], windowMs: number): string {
  let out = '';
  for (const w of windows) {
    const ws = copyTimestamp(w.start);
    const we = copyTimestamp(w.start + windowMs);
    for (let s = 0; s < w.keys.length; s++) {
      const o = s * STATS_WIDTH;
      const st = w.stats;
      out +=
        ws + '\t' + we + '\t' + copyText(w.keys[s]) + '\t' + sumText(st, o, SUM_SCALE[1], 4) + '\t' +
        copyDecimal(meanText(st, o, SUM_SCALE[1], 4)) + '\t' + copyNumber(st[o + S_COUNT]) + '\n';
    }
  }
  return out;
}

export function weatherRows(windows: WindowState[], windowMs: number): string {
  let out = '';
  for (const w of windows) {
    if (w.keys.length === 0) continue;
    const st = w.stats;
    const cond = w.conds === null ? null : modeCondition(w.conds);
    out +=
      copyTimestamp(w.start) + '\t' + copyTimestamp(w.start + windowMs) + '\t' +
      copyDecimal(meanText(st, 0, SUM_SCALE[2], 2)) + '\t' + copyDecimal(meanText(st, STATS_WIDTH, SUM_SCALE[2], 2)) + '\t' +
      copyDecimal(meanText(st, 2 * STATS_WIDTH, SUM_SCALE[2], 2)) + '\t' + copyDecimal(meanText(st, 3 * STATS_WIDTH, SUM_SCALE[2], 2)) + '\t' +
      (cond === null ? COPY_NULL : copyText(cond)) + '\n';
  }
  return out;
}

export function deadLetterRows(dls: DeadLetter[]): string {
  let out = '';
  for (const d of dls) {
    out +=
      copyText(d.topic) + '\t' + d.partition + '\t' + d.offset + '\t' + copyBytea(d.key) + '\t' +
      copyBytea(d.payload) + '\t' + copyText(d.reason) + '\t' + copyText(d.error) + '\n';
  }
  return out;
}

async function copyInto(client: pg.PoolClient, table: string, text: string): Promise<void> {
  if (text === '') return;
  const stream = client.query(copyFrom(`COPY ${table} FROM STDIN`));
  // Feed large chunks: the text is already built; split it only to bound each write.
  const CHUNK = 1 << 20;
  const chunks: string[] = [];
  for (let i = 0; i < text.length; i += CHUNK) chunks.push(text.slice(i, i + CHUNK));
  await pipeline(Readable.from(chunks), stream);
}

export class PgSink {
  private readonly pool: pg.Pool;

  constructor(
    private readonly conn: PgConnection,
    private readonly log: Logger,
  ) {
    this.pool = new pg.Pool({
      host: conn.host,
      port: conn.port,
      database: conn.database,
      user: conn.user,
      password: conn.password,
      options: conn.schema ? `-c search_path=${conn.schema}` : undefined,
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

  /** Writes one flush in one transaction. Returns the rows sent per table. */
  async write(b: SinkBatch): Promise<SinkCounts> {
    const sensor = sensorRows(b.sensor, b.windowMs.sensor);
    const meter = consumptionRows(b.meter, b.windowMs.meter);
    const weather = weatherRows(b.weather, b.windowMs.weather);
    const dls = deadLetterRows(b.deadLetters);
    const counts: SinkCounts = {
      sensor: b.sensor.reduce((n, w) => n + w.keys.length, 0),
      meter: b.meter.reduce((n, w) => n + w.keys.length, 0),
      weather: b.weather.filter((w) => w.keys.length > 0).length,
      deadLetters: b.deadLetters.length,
    };
    if (sensor === '' && meter === '' && weather === '' && dls === '') return counts;
    const client = await this.connect();
    let broken = false;
    try {
      await client.query('BEGIN');
      await client.query(STAGING);
      await copyInto(client, 'stage_sensor', sensor);
      await copyInto(client, 'stage_consumption', meter);
      await copyInto(client, 'stage_weather', weather);
      await copyInto(client, 'stage_dead_letters', dls);
      if (sensor !== '') await client.query(UPSERT_SENSOR);
      if (meter !== '') await client.query(UPSERT_CONSUMPTION);
      if (weather !== '') await client.query(UPSERT_WEATHER);
      if (dls !== '') await client.query(INSERT_DEAD_LETTERS);
      await client.query('COMMIT');
      return counts;
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
