/**
 * Shared pieces of the exactly-once suites: a deterministic data set of 200k+ records,
 * the engine as a child process (so it can be killed with SIGKILL), and a dump of every
 * table for row-by-row comparison with an uninterrupted run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { mulberry32 } from '../../loadgen/random.js';
import pg from 'pg';
import { kafka, KAFKA_BROKER, PG } from '../helpers.js';

export const CLI = fileURLToPath(new URL('../../src/main/cli.js', import.meta.url));
export const SERVICES = fileURLToPath(new URL('../../../scripts/services.mjs', import.meta.url));

const BASE = Date.UTC(2026, 10, 27, 0, 0, 0);


export interface Topics {
  sensor: string;
  meter: string;
  weather: string;
}

/**
 * 150k sensor readings (100 sensors), 60k meter readings (40 meters of 12 customers),
 * 1.2k weather records, each topic on `partitions` partitions, with out-of-order records
 * (within the lateness) and ~1% bad records of every kind. Returns the record count.
 */
export async function produceDataset(topics: Topics, partitions: number): Promise<number> {
  const rand = mulberry32(2026);
  const producer = kafka('integrity').producer();
  await producer.connect();
  let total = 0;
  const send = async (topic: string, msgs: { key: string; value: string; partition: number }[]) => {
    // Small record batches, so that fetches stay small and a run takes many batches; one
    // request at a time, so that each partition keeps the order the data set intends.
    for (let i = 0; i < msgs.length; i += 400) {
      await producer.send({ topic, acks: -1, messages: msgs.slice(i, i + 400) });
    }
    total += msgs.length;
  };
  const badKinds = [
    '{"broken": ',
    '[1,2]',
    JSON.stringify({ sensor_id: 'x', customer_id: 'x', value: 'n/a', reading: 'n/a', timestamp: 'later' }),
    JSON.stringify({ sensor_id: 'x', sensor_type: 't', customer_id: 'c', value: 5e6, reading: 5e9, temperature: 5000, humidity: 1, pressure: 1, wind_speed: 1, weather_condition: 'Sunny', timestamp: BASE }),
  ];
  try {
    const sensors: { key: string; value: string; partition: number }[] = [];
    for (let step = 0; step < 1500; step++) {
      for (let s = 0; s < 100; s++) {
        const key = `sensor_${String(s).padStart(3, '0')}`;
        if (rand() < 0.01) {
          sensors.push({ key, partition: s % partitions, value: badKinds[Math.floor(rand() * 4)] });
          continue;
        }
        const t = BASE + step * 10000 - (rand() < 0.1 ? Math.floor(rand() * 240000) : 0);
        const value = s % 10 === 0 ? 999000 + Math.floor(rand() * 10) / 10000 : Math.round(rand() * 5000 * 10000) / 10000;
        sensors.push({ key, partition: s % partitions, value: JSON.stringify({ sensor_id: key, sensor_type: ['voltage', 'current', 'power', 'frequency'][s % 4], value, timestamp: new Date(t).toISOString() }) });
      }
    }
    await send(topics.sensor, sensors);
    const meters: { key: string; value: string; partition: number }[] = [];
    for (let step = 0; step < 1500; step++) {
      for (let m = 0; m < 40; m++) {
        const key = `meter_${m}`;
        if (rand() < 0.01) {
          meters.push({ key, partition: m % partitions, value: badKinds[Math.floor(rand() * 4)] });
          continue;
        }
        const t = BASE + step * 10000 - (rand() < 0.1 ? Math.floor(rand() * 240000) : 0);
        meters.push({ key, partition: m % partitions, value: JSON.stringify({ meter_id: key, customer_id: `customer_${m % 12}`, reading: Math.round((rand() * 4 - 1) * 10000) / 10000, unit: 'kWh', timestamp: new Date(t).toISOString() }) });
      }
    }
    await send(topics.meter, meters);
    const weather: { key: string; value: string; partition: number }[] = [];
    for (let step = 0; step < 1250; step++) {
      const t = BASE + step * 12000;
      const cond = ['Sunny', 'Cloudy', 'Rainy', 'Windy', 'Foggy', 'Stormy'][Math.floor(rand() * 6)];
      weather.push({ key: 'weather', partition: step % partitions, value: step % 97 === 5 ? badKinds[step % 4] : JSON.stringify({ timestamp: new Date(t).toISOString(), temperature: Math.round(rand() * 400) / 10, humidity: Math.round(rand() * 900) / 10, pressure: 990 + Math.round(rand() * 300) / 10, wind_speed: Math.round(rand() * 200) / 10, weather_condition: cond }) });
    }
    await send(topics.weather, weather);
  } finally {
    await producer.disconnect();
  }
  return total;
}

export function engineArgs(o: { topics: Topics; schema: string; group: string; checkpointDir: string; extra?: string[] }): string[] {
  return [
    '--available-now', '--kafka-broker', KAFKA_BROKER, '--postgres-host', PG.host, '--postgres-port', String(PG.port),
    '--postgres-db', PG.database, '--postgres-schema', o.schema, '--topic-sensor', o.topics.sensor,
    '--topic-meter', o.topics.meter, '--topic-weather', o.topics.weather, '--group-id', o.group,
    '--checkpoint-dir', o.checkpointDir, '--idle-timeout', '0', '--metrics-port', '0', '--no-create-topics',
    '--log-format', 'json', '--log-level', 'debug', '--progress-interval', '1s', '--session-timeout', '6s',
    ...(o.extra ?? []),
  ];
}

/** Settings that make a run long enough to be interrupted many times. */
export const SLOW = ['--max-bytes-per-partition', '24kb', '--partitions-concurrency', '1', '--checkpoint-interval', '250ms', '--task-records', '200'];

export interface EngineProcess {
  child: ChildProcess;
  /** Resolves with the exit code (null when killed by a signal) and signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves when a log line with this message appears (after `after` ms from start). */
  waitFor(msg: string | RegExp, after?: number): Promise<Record<string, unknown>>;
  lines: Record<string, unknown>[];
}

export function startEngine(args: string[], env: NodeJS.ProcessEnv = {}): EngineProcess {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  const lines: Record<string, unknown>[] = [];
  const started = Date.now();
  let waiters: { re: RegExp | string; after: number; resolve: (l: Record<string, unknown>) => void }[] = [];
  createInterface({ input: child.stderr! }).on('line', (text) => {
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text);
    } catch {
      line = { msg: text };
    }
    lines.push(line);
    const msg = String(line.msg);
    waiters = waiters.filter((w) => {
      const hit = (typeof w.re === 'string' ? msg === w.re : w.re.test(msg)) && Date.now() - started >= w.after;
      if (hit) w.resolve(line);
      return !hit;
    });
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return {
    child,
    exited,
    lines,
    waitFor: (re, after = 0) => new Promise((resolve) => waiters.push({ re, after, resolve })),
  };
}

/** Every row of the four tables, without surrogate ids and wall-clock columns. */
export async function dumpTables(schema: string) {
  const c = new pg.Client({ ...PG, options: `-c search_path=${schema}` });
  await c.connect();
  try {
    const q = async (sql: string) => (await c.query(sql)).rows;
    return {
      sensor: await q('SELECT window_start, window_end, sensor_type, sensor_id, avg_value, min_value, max_value, count, stddev_value FROM sensor_aggregates_realtime ORDER BY window_start, sensor_type, sensor_id'),
      meter: await q('SELECT window_start, window_end, customer_id, total_consumption, avg_consumption, reading_count FROM consumption_aggregates_realtime ORDER BY window_start, customer_id'),
      weather: await q('SELECT window_start, window_end, avg_temperature, avg_humidity, avg_pressure, avg_wind_speed, weather_condition FROM weather_aggregates_realtime ORDER BY window_start'),
      dead: await q('SELECT topic, kafka_partition, kafka_offset, kafka_key, payload, reason, error FROM dead_letters ORDER BY topic, kafka_partition, kafka_offset'),
    };
  } finally {
    await c.end();
  }
}

export type Dump = Awaited<ReturnType<typeof dumpTables>>;

/** Total records accounted for: Σ counts + weather records + dead letters. */
export function accounted(d: Dump, weatherRecords: number): number {
  return d.sensor.reduce((n, r) => n + Number(r.count), 0) + d.meter.reduce((n, r) => n + Number(r.reading_count), 0) + weatherRecords + d.dead.length;
}

export async function runToCompletion(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 180000): Promise<EngineProcess> {
  const p = startEngine(args, env);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), timeoutMs);
  const { code } = await p.exited;
  clearTimeout(timer);
  if (code !== 0) {
    throw new Error(`engine exited with ${code}; last log lines:\n${p.lines.slice(-15).map((l) => JSON.stringify(l)).join('\n')}`);
  }
  return p;
}
