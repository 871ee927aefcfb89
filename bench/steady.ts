/**
 * `npm run bench:steady`: end-to-end latency in steady state. The load generator produces
 * at a fixed rate with event time = wall-clock time (startMs = now, one event every
 * 1000/rate ms) while the engine runs live (not available-now) with 5 s windows, 1 s
 * allowed lateness and 1 s idle timeout, so windows become final during the run. At 25 %,
 * 50 % and 75 % of the maximum rate (--max-rate, or the rate of the engine's wire run in
 * the newest bench/results/e2e-*.json for the same mix) it reports:
 *
 *  - window final → committed: the engine's own hdr histogram (reset after a warm-up);
 *  - window end → row visible: measured directly. A poller queries each table every
 *    --poll ms for window starts it has not seen; the delay is the wall-clock time the
 *    window's rows first became visible minus its window_end, minus the offset between
 *    the producer's wall clock and event time (connection set-up). This is "event
 *    produced → its window's row committed, minus the window's own length" for the
 *    window's first event; it includes the allowed lateness (the watermark delay), the
 *    fetch wait, processing, and the sink transaction, and has ± poll/2 resolution.
 *
 *   node dist/bench/steady.js [--max-rate N] [--levels 0.25,0.5,0.75] [--duration S] ...
 */
import { readdirSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import pg from 'pg';
import hdr from 'hdr-histogram-js';
import { startChild } from './lib/child.js';
import {
  fmtInt,
  fmtMiB,
  KAFKA_BROKER,
  LATENCY_HEAD,
  latencyRow,
  machineInfo,
  machineLine,
  PG,
  RESULTS_DIR,
  sleep,
  table,
  verdict,
  writeResult,
  type LatencySummary,
} from './lib/common.js';
import { createRunEnv, engineArgv } from './lib/env.js';
import { SystemCpu, type CpuShare } from './lib/system-cpu.js';
import type { EngineEvent, EngineMessage, EngineReply, EngineRequest } from './lib/engine-child.js';
import type { ProduceReply, ProduceRequest } from './lib/produce-child.js';

const USAGE = `Usage: npm run bench:steady -- [options]
  --max-rate N        100 % rate in events/s (default: engine wire rate of the newest e2e result with this mix)
  --levels L,L,…      shares of the maximum rate (default 0.25,0.5,0.75)
  --duration S        seconds of production per level (default 60)
  --warmup S          seconds excluded from the latency figures at the start (default 10)
  --mix S,M,W         (default 0.6,0.35,0.05)
  --sensors N         (default 10000)   --meters N (default 2000)   --customers N (default 500)
  --partitions N      partitions per topic (default 3)
  --window S          window size of all three kinds, seconds (default 5)
  --lateness MS       allowed lateness (default 1000)   --idle-timeout MS (default 1000)
  --poll MS           poll interval of the direct measurement (default 50)
  --no-json           do not write bench/results/steady-*.json
`;

const { values: a } = parseArgs({
  options: {
    'max-rate': { type: 'string' },
    levels: { type: 'string', default: '0.25,0.5,0.75' },
    duration: { type: 'string', default: '60' },
    warmup: { type: 'string', default: '10' },
    mix: { type: 'string', default: '0.6,0.35,0.05' },
    sensors: { type: 'string', default: '10000' },
    meters: { type: 'string', default: '2000' },
    customers: { type: 'string', default: '500' },
    partitions: { type: 'string', default: '3' },
    window: { type: 'string', default: '5' },
    lateness: { type: 'string', default: '1000' },
    'idle-timeout': { type: 'string', default: '1000' },
    poll: { type: 'string', default: '50' },
    'no-json': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  },
});
if (a.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const die = (msg: string): never => {
  process.stderr.write(msg + '\n');
  process.exit(2);
};
const pos = (name: string, v: string): number => {
  const n = Number(v);
  return n > 0 && Number.isFinite(n) ? n : die(`--${name}: "${v}" must be a positive number`);
};
const MIX = a.mix.split(',').map(Number) as [number, number, number];
if (MIX.length !== 3 || MIX.some((x) => !(x >= 0))) die(`--mix: "${a.mix}" must be three weights S,M,W`);
const LEVELS = a.levels.split(',').map((x) => pos('levels', x));
const DURATION_MS = pos('duration', a.duration) * 1000;
const WARMUP_MS = Number(a.warmup) * 1000;
const WINDOW_MS = pos('window', a.window) * 1000;
const LATENESS_MS = Number(a.lateness);
const IDLE_MS = Number(a['idle-timeout']);
const POLL_MS = pos('poll', a.poll);
const PARTITIONS = pos('partitions', a.partitions);

/**
 * The rate of the engine's wire run (its default client, which this benchmark runs) for
 * this mix in the newest e2e result file that has one. Files from before the wire client
 * (one engine run, on kafkajs) are skipped.
 */
function maxRateFromE2e(): { rate: number; file: string } | null {
  let files: string[] = [];
  try {
    files = readdirSync(RESULTS_DIR).filter((f) => /^e2e-.*\.json$/.test(f)).sort().reverse();
  } catch {
    return null;
  }
  for (const f of files) {
    const j = JSON.parse(readFileSync(RESULTS_DIR + f, 'utf8')) as { results?: { mix: number[]; engines?: { wire?: { measured: { eventsPerSec: number } } } }[] };
    const r = j.results?.find((x) => x.mix.length === 3 && x.mix.every((v, i) => Math.abs(v - MIX[i]) < 1e-9) && x.engines?.wire !== undefined);
    if (r !== undefined) return { rate: r.engines!.wire!.measured.eventsPerSec, file: f };
  }
  return null;
}

const fromE2e = a['max-rate'] === undefined ? maxRateFromE2e() : null;
const MAX_RATE = a['max-rate'] !== undefined ? pos('max-rate', a['max-rate']) : (fromE2e?.rate ?? die('no --max-rate and no bench/results/e2e-*.json with this mix: run npm run bench:e2e first (with the wire client)'));

const say = (s: string): boolean => process.stdout.write(s + '\n');

/** Polls the aggregate tables for windows not seen before; records when each became visible. */
class VisibilityPoller {
  private readonly seen = new Map<string, number>();
  /** table → window_start (ms) → wall-clock ms first visible. */
  readonly visible: { table: string; startMs: number; at: number }[] = [];
  private stopped = false;
  private loop: Promise<void> = Promise.resolve();
  private readonly client: pg.Client;
  constructor(schema: string) {
    this.client = new pg.Client({ ...PG, options: `-c search_path=${schema}` });
  }
  async start(): Promise<void> {
    await this.client.connect();
    this.loop = this.run();
  }
  private async run(): Promise<void> {
    const tables = ['sensor_aggregates_realtime', 'consumption_aggregates_realtime', 'weather_aggregates_realtime'];
    const last = new Map<string, number>(tables.map((t) => [t, 0]));
    while (!this.stopped) {
      const t0 = Date.now();
      for (const t of tables) {
        try {
          const r = await this.client.query<{ s: number }>(
            `SELECT DISTINCT (EXTRACT(EPOCH FROM window_start) * 1000)::float8 AS s FROM ${t} WHERE window_start > to_timestamp($1 / 1000.0) AT TIME ZONE 'UTC'`,
            [last.get(t)!],
          );
          const now = Date.now();
          for (const row of r.rows) {
            const key = `${t}:${row.s}`;
            if (this.seen.has(key)) continue;
            this.seen.set(key, now);
            this.visible.push({ table: t, startMs: row.s, at: now });
            if (row.s > last.get(t)!) last.set(t, row.s);
          }
        } catch {
          // the engine has not created the tables yet
        }
      }
      const wait = POLL_MS - (Date.now() - t0);
      if (wait > 0) await sleep(wait);
    }
  }
  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    await this.client.end();
  }
}

function histogramSummary(valuesMs: number[]): LatencySummary {
  const h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });
  let sum = 0;
  for (const v of valuesMs) {
    const us = Math.max(1, Math.round(v * 1000));
    h.recordValue(us);
    sum += us;
  }
  const p = (q: number): number => (h.totalCount === 0 ? 0 : h.getValueAtPercentile(q) / 1000);
  return { count: h.totalCount, p50: p(50), p90: p(90), p99: p(99), p999: p(99.9), max: h.maxValue / 1000, meanMs: h.totalCount ? sum / h.totalCount / 1000 : 0 };
}

interface LevelResult {
  share: number;
  targetRate: number;
  produced: ProduceReply;
  eventTimeLagMs: number;
  engine: EngineReply;
  atEnd: Extract<EngineEvent, { mark: string }> | null;
  direct: LatencySummary;
  directMinusLateness: LatencySummary;
  directByTable: Record<string, LatencySummary>;
  cpu: CpuShare;
}

async function runLevel(share: number): Promise<LevelResult> {
  const rate = Math.round(MAX_RATE * share);
  const env = await createRunEnv('steady', PARTITIONS);
  try {
    say(`\n== ${Math.round(share * 100)} % of ${fmtInt(MAX_RATE)} = ${fmtInt(rate)} events/s for ${DURATION_MS / 1000} s`);
    const w = `${WINDOW_MS / 1000}s`;
    let ready!: () => void;
    const isReady = new Promise<void>((r) => (ready = r));
    let atEnd: Extract<EngineEvent, { mark: string }> | null = null;
    let gotMark!: () => void;
    const marked = new Promise<void>((r) => (gotMark = r));
    const engine = startChild<EngineReply>(
      'engine-child',
      {
        argv: engineArgv(env, [
          '--sensor-window', w, '--consumption-window', w, '--weather-window', w,
          '--allowed-lateness', `${LATENESS_MS}ms`, '--idle-timeout', `${IDLE_MS}ms`,
        ]),
        expected: Infinity,
      } satisfies EngineRequest,
      (e) => {
        const ev = e as EngineEvent;
        if ('ready' in ev) ready();
        else {
          atEnd = ev;
          gotMark();
        }
      },
    );
    const send = (m: EngineMessage): void => engine.send(m);
    await Promise.race([isReady, engine.reply.then(() => {})]);
    const poller = new VisibilityPoller(env.schema);
    await poller.start();
    const sys = new SystemCpu();
    const producer = startChild<ProduceReply>('produce-child', {
      brokers: [KAFKA_BROKER],
      generate: {
        seed: 3,
        sensors: Number(a.sensors),
        meters: Number(a.meters),
        customers: Number(a.customers),
        mix: { sensor: MIX[0], meter: MIX[1], weather: MIX[2] },
        partitions: PARTITIONS,
        topics: env.topics,
        latenessMs: Math.max(1, LATENESS_MS),
        windows: { sensorMs: WINDOW_MS, meterMs: WINDOW_MS, weatherMs: WINDOW_MS },
      },
      rate,
      durationMs: DURATION_MS,
      realTime: true,
      // Small batches: the generator has no linger timer, a batch leaves when full.
      batchBytes: 16 * 1024,
    } satisfies ProduceRequest);
    const warm = setTimeout(() => send({ reset: true }), WARMUP_MS);
    const produced = await producer.reply;
    clearTimeout(warm);
    const cpu = sys.share();
    const producedEnd = Date.now();
    // Let the windows that were open at the end become final, then take the engine's figures.
    await sleep(WINDOW_MS + LATENESS_MS + IDLE_MS + 1500);
    send({ mark: 'end' });
    await Promise.race([marked, sleep(5000)]);
    await poller.stop();
    send({ stop: true });
    const result = await engine.reply;

    const lag = produced.wallStartMs - produced.eventStartMs;
    const from = produced.wallStartMs + WARMUP_MS;
    const rows = poller.visible.filter((v) => v.startMs + WINDOW_MS >= from - lag && v.startMs + WINDOW_MS <= producedEnd - lag);
    const delay = (v: { startMs: number; at: number }): number => v.at - (v.startMs + WINDOW_MS) - lag;
    const byTable: Record<string, LatencySummary> = {};
    for (const t of new Set(rows.map((r) => r.table))) byTable[t] = histogramSummary(rows.filter((r) => r.table === t).map(delay));
    return {
      share,
      targetRate: rate,
      produced,
      eventTimeLagMs: lag,
      engine: result,
      atEnd,
      direct: histogramSummary(rows.map(delay)),
      directMinusLateness: histogramSummary(rows.map((r) => delay(r) - LATENESS_MS)),
      directByTable: byTable,
      cpu,
    };
  } finally {
    await env.cleanup();
  }
}

const machine = machineInfo();
say(`Steady-state benchmark on ${machineLine(machine)}`);
say(
  `max rate ${fmtInt(MAX_RATE)} events/s (${a['max-rate'] !== undefined ? '--max-rate' : `from ${fromE2e!.file}`}), mix ${MIX.join(',')}, ` +
    `windows ${WINDOW_MS / 1000} s, lateness ${LATENESS_MS} ms, idle timeout ${IDLE_MS} ms, warm-up ${WARMUP_MS / 1000} s excluded`,
);
const t0 = performance.now();
const levels: LevelResult[] = [];
for (const s of LEVELS) {
  const r = await runLevel(s);
  levels.push(r);
  const fc = r.atEnd?.finalToCommit ?? r.engine.finalToCommit;
  say(
    `produced ${fmtInt(r.produced.events)} at ${fmtInt(r.produced.rate)} events/s (event time ${r.eventTimeLagMs} ms behind the wall clock); ` +
      `engine in ${fmtInt(r.engine.recordsIn)}; final→committed p99 ${fc.p99.toFixed(0)} ms; window end→visible p50 ${r.direct.p50.toFixed(0)} ms`,
  );
}

say('\n== results');
for (const r of levels) {
  const fc = r.atEnd ?? r.engine;
  say(`\n${Math.round(r.share * 100)} % = ${fmtInt(r.targetRate)} events/s (achieved ${fmtInt(r.produced.rate)}); machine ${r.cpu.machineCores} busy cores (broker ${r.cpu.brokerCores}, PostgreSQL ${r.cpu.postgresCores}); engine peak RSS ${fmtMiB(r.engine.peakRss)}, ${((r.engine.cpuMs * 1000) / Math.max(1, r.engine.recordsIn)).toFixed(1)} µs CPU/event`);
  say(
    table(LATENCY_HEAD, [
      latencyRow('engine: window final → committed', fc.finalToCommit),
      latencyRow('engine: per batch', fc.batchLatency),
      latencyRow('engine: sink flush', fc.flushLatency),
      latencyRow('direct: window end → visible', r.direct),
      latencyRow('  minus allowed lateness', r.directMinusLateness),
      ...Object.entries(r.directByTable).map(([t, s]) => latencyRow(`  ${t.replace('_aggregates_realtime', '')}`, s)),
    ]),
  );
}
const half = levels.find((l) => Math.abs(l.share - 0.5) < 1e-9);
if (half !== undefined) {
  const p99 = (half.atEnd ?? half.engine).finalToCommit.p99;
  say('\n== targets');
  say(table(['target', 'measured', 'verdict'], [['p99 window final → committed ≤ 250 ms at 50 % of max rate', `${p99.toFixed(0)} ms`, verdict(p99 <= 250)]]));
}
say(`total time ${((performance.now() - t0) / 1000).toFixed(0)} s`);
if (!a['no-json']) {
  const file = writeResult('steady', {
    machine,
    options: { maxRate: MAX_RATE, maxRateSource: a['max-rate'] !== undefined ? 'option' : fromE2e?.file, levels: LEVELS, durationMs: DURATION_MS, warmupMs: WARMUP_MS, mix: MIX, windowMs: WINDOW_MS, latenessMs: LATENESS_MS, idleMs: IDLE_MS, pollMs: POLL_MS },
    levels,
  });
  say(`results: ${file}`);
}
