/**
 * `npm run bench:e2e`: end-to-end throughput against the real broker and PostgreSQL.
 *
 * Per variant (default: the default mix, then sensor only), on fresh topics:
 *   1. fill them with the load generator (as fast as it goes);
 *   2. the client ceiling: a kafkajs consumer configured as the engine's, discarding;
 *   3. the engine, --available-now, into a fresh schema, in-process in a child (its
 *      metrics are read directly; RSS and CPU include its worker threads);
 * then prints events/s of both and their ratio, latency percentiles, peak RSS and CPU
 * per event, writes bench/results/e2e-*.json, and removes topics, schema, groups and
 * checkpoints. Each phase runs in its own child process.
 *
 *   node dist/bench/e2e.js [--events N] [--partitions N] [--sensors N] [--mix S,M,W] ...
 */
import { parseArgs } from 'node:util';
import { startChild } from './lib/child.js';
import {
  fmtInt,
  fmtMiB,
  fmtMs,
  KAFKA_BROKER,
  LATENCY_HEAD,
  latencyRow,
  machineInfo,
  machineLine,
  table,
  verdict,
  writeResult,
} from './lib/common.js';
import { createRunEnv, engineArgv, type RunEnv } from './lib/env.js';
import { SystemCpu, type CpuShare } from './lib/system-cpu.js';
import type { CeilingReply, CeilingRequest } from './lib/ceiling-child.js';
import type { EngineReply, EngineRequest } from './lib/engine-child.js';
import type { ProduceReply, ProduceRequest } from './lib/produce-child.js';

const USAGE = `Usage: npm run bench:e2e -- [options]
  --events N          events per variant (default 5000000)
  --partitions N      partitions per topic (default 3)
  --sensors N         sensors (default 10000)
  --meters N          meters (default 2000)   --customers N (default 500)
  --span D            event time covered, in minutes (default 60)
  --mix S,M,W         run only this mix (e.g. 1,0,0); default: 0.6,0.35,0.05 then 1,0,0
  --workers N         engine worker threads (default: the engine's, = cores)
  --engine-args "…"   extra engine flags, space-separated
  --skip-ceiling      do not measure the kafkajs client ceiling
  --no-json           do not write bench/results/e2e-*.json
`;

const { values: a } = parseArgs({
  options: {
    events: { type: 'string', default: '5000000' },
    partitions: { type: 'string', default: '3' },
    sensors: { type: 'string', default: '10000' },
    meters: { type: 'string', default: '2000' },
    customers: { type: 'string', default: '500' },
    span: { type: 'string', default: '60' },
    mix: { type: 'string' },
    workers: { type: 'string' },
    'engine-args': { type: 'string', default: '' },
    'skip-ceiling': { type: 'boolean', default: false },
    'no-json': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  },
});
if (a.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const num = (name: string, v: string): number => {
  const n = Number(v.replace(/_/g, ''));
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write(`--${name}: "${v}" must be a positive integer\n`);
    process.exit(2);
  }
  return n;
};
const EVENTS = num('events', a.events);
const PARTITIONS = num('partitions', a.partitions);
const SENSORS = num('sensors', a.sensors);
const METERS = num('meters', a.meters);
const CUSTOMERS = num('customers', a.customers);
const SPAN_MS = num('span', a.span) * 60_000;
const parseMix = (s: string): [number, number, number] => {
  const m = s.split(',').map(Number);
  if (m.length !== 3 || m.some((x) => !(x >= 0)) || m[0] + m[1] + m[2] <= 0) {
    process.stderr.write(`--mix: "${s}" must be three weights S,M,W\n`);
    process.exit(2);
  }
  return m as [number, number, number];
};
const variants: { name: string; mix: [number, number, number] }[] =
  a.mix !== undefined
    ? [{ name: `mix ${a.mix}`, mix: parseMix(a.mix) }]
    : [
        { name: 'default mix 0.6,0.35,0.05', mix: [0.6, 0.35, 0.05] },
        { name: 'sensor only 1,0,0', mix: [1, 0, 0] },
      ];
const engineExtra = a['engine-args'].split(/\s+/).filter((s) => s !== '');
if (a.workers !== undefined) engineExtra.push('--workers', String(num('workers', a.workers)));

// The engine's fetch settings (its defaults), used for the ceiling as well.
const FETCH = { maxBytesPerPartition: 2 * 2 ** 20, maxBytes: 16 * 2 ** 20, maxWaitMs: 100, partitionsConcurrency: 4 };

interface VariantResult {
  name: string;
  mix: [number, number, number];
  events: number;
  fill: ProduceReply & { cpu: CpuShare };
  ceiling?: CeilingReply & { eventsPerSec: number; activeEventsPerSec: number; cpu: CpuShare };
  engine: EngineReply & { eventsPerSec: number; activeEventsPerSec: number; cpu: CpuShare; rowsInDb: Record<string, number> };
  ratio?: number;
  activeRatio?: number;
  totalMs: number;
}

async function rowsInDb(env: RunEnv): Promise<Record<string, number>> {
  const pg = (await import('pg')).default;
  const { PG } = await import('./lib/common.js');
  const c = new pg.Client({ ...PG, options: `-c search_path=${env.schema}` });
  await c.connect();
  try {
    const out: Record<string, number> = {};
    for (const t of ['sensor_aggregates_realtime', 'consumption_aggregates_realtime', 'weather_aggregates_realtime', 'dead_letters']) {
      const r = await c.query<{ n: string }>(`SELECT count(*) AS n FROM ${t}`);
      out[t] = Number(r.rows[0].n);
    }
    return out;
  } finally {
    await c.end();
  }
}

const say = (s: string): boolean => process.stdout.write(s + '\n');

async function runVariant(name: string, mix: [number, number, number]): Promise<VariantResult> {
  const started = performance.now();
  const env = await createRunEnv(mix[1] === 0 && mix[2] === 0 ? 'sensor' : 'mixed', PARTITIONS);
  try {
    say(`\n== ${name}: ${fmtInt(EVENTS)} events, ${PARTITIONS} partitions per topic, ${fmtInt(SENSORS)} sensors, ${fmtInt(METERS)} meters, ${fmtInt(CUSTOMERS)} customers, ${SPAN_MS / 60000} min of event time`);
    const sys = new SystemCpu();
    const produce = startChild<ProduceReply>('produce-child', {
      brokers: [KAFKA_BROKER],
      generate: {
        seed: 1,
        events: EVENTS,
        sensors: SENSORS,
        meters: METERS,
        customers: CUSTOMERS,
        spanMs: SPAN_MS,
        mix: { sensor: mix[0], meter: mix[1], weather: mix[2] },
        partitions: PARTITIONS,
        topics: env.topics,
      },
    } satisfies ProduceRequest);
    const fill = { ...(await produce.reply), cpu: sys.share() };
    say(`fill: ${fmtInt(fill.events)} events (${fmtInt(fill.bytes / fill.events)} bytes each) in ${(fill.elapsedMs / 1000).toFixed(1)} s = ${fmtInt(fill.rate)} events/s`);

    let ceiling: VariantResult['ceiling'];
    if (!a['skip-ceiling']) {
      const group = `${env.groupId}_ceiling`;
      env.groups.push(group);
      sys.reset();
      const c = await startChild<CeilingReply>('ceiling-child', {
        brokers: [KAFKA_BROKER],
        topics: Object.values(env.topics),
        groupId: group,
        ...FETCH,
      } satisfies CeilingRequest).reply;
      ceiling = { ...c, eventsPerSec: (c.messages / c.wallMs) * 1000, activeEventsPerSec: (c.messages / c.activeMs) * 1000, cpu: sys.share() };
      say(`client ceiling (kafkajs, discard): ${fmtInt(c.messages)} messages in ${(c.wallMs / 1000).toFixed(1)} s = ${fmtInt(ceiling.eventsPerSec)} events/s`);
    }

    sys.reset();
    const e = await startChild<EngineReply>('engine-child', {
      argv: engineArgv(env, ['--available-now', ...engineExtra]),
      expected: EVENTS,
    } satisfies EngineRequest).reply;
    const cpu = sys.share();
    const active = e.lastRecordMs - e.firstRecordMs;
    const engine = {
      ...e,
      eventsPerSec: (e.recordsIn / e.wallMs) * 1000,
      activeEventsPerSec: (e.recordsIn / active) * 1000,
      cpu,
      rowsInDb: await rowsInDb(env),
    };
    say(`engine (--available-now → PostgreSQL): ${fmtInt(e.recordsIn)} records in ${(e.wallMs / 1000).toFixed(1)} s = ${fmtInt(engine.eventsPerSec)} events/s`);
    if (e.recordsIn !== EVENTS) say(`WARNING: the engine counted ${e.recordsIn} records in, expected ${EVENTS}`);
    return {
      name,
      mix,
      events: EVENTS,
      fill,
      ceiling,
      engine,
      ratio: ceiling === undefined ? undefined : engine.eventsPerSec / ceiling.eventsPerSec,
      activeRatio: ceiling === undefined ? undefined : engine.activeEventsPerSec / ceiling.activeEventsPerSec,
      totalMs: performance.now() - started,
    };
  } finally {
    await env.cleanup();
  }
}

const machine = machineInfo();
say(`End-to-end benchmark on ${machineLine(machine)}; broker ${KAFKA_BROKER} and PostgreSQL on the same machine.`);
const t0 = performance.now();
const results: VariantResult[] = [];
for (const v of variants) results.push(await runVariant(v.name, v.mix));

say('\n== results');
const rows: string[][] = [];
for (const r of results) {
  const c = r.ceiling;
  const e = r.engine;
  rows.push([
    r.name,
    c === undefined ? '-' : fmtInt(c.eventsPerSec),
    fmtInt(e.eventsPerSec),
    r.ratio === undefined ? '-' : r.ratio.toFixed(2),
    c === undefined ? '-' : fmtInt(c.activeEventsPerSec),
    fmtInt(e.activeEventsPerSec),
    r.activeRatio === undefined ? '-' : r.activeRatio.toFixed(2),
    c === undefined ? '-' : ((c.cpuMs * 1000) / c.messages).toFixed(1),
    ((e.cpuMs * 1000) / e.recordsIn).toFixed(1),
    fmtMiB(e.peakRss),
  ]);
}
say(
  table(
    ['variant', 'ceiling ev/s', 'engine ev/s', 'ratio', 'ceil. active', 'eng. active', 'ratio', 'ceil. µs CPU/ev', 'eng. µs CPU/ev', 'eng. peak RSS'],
    rows,
  ),
);
say('(ev/s = events ÷ wall time from process start to finish, connect and group join included; "active" = first to last record;');
say(' engine wall time also includes writing every window, the final checkpoint and the offset commit.)');
for (const r of results) {
  const e = r.engine;
  say(`\n${r.name}: engine latency (hdr histograms of the engine's metrics)`);
  say(table(LATENCY_HEAD, [latencyRow('per batch (dispatch → merged)', e.batchLatency), latencyRow('sink flush (one transaction)', e.flushLatency), latencyRow('window final → committed', e.finalToCommit)]));
  const dec = e.decodeMs + e.aggregateMs;
  say(
    `rows: ${Object.entries(e.rowsInDb).map(([t, n]) => `${t} ${fmtInt(n)}`).join(', ')}; ${fmtInt(e.batches)} worker tasks on ${e.workerThreads} threads, ` +
      `worker decode ${fmtInt(e.decodeMs)} ms + aggregate ${fmtInt(e.aggregateMs)} ms = ${fmtInt((e.recordsIn / dec) * 1000)} records per worker-second`,
  );
  say(
    `CPU: engine ${fmtInt(e.cpuMs)} ms (user ${fmtInt(e.cpuUserMs)}, sys ${fmtInt(e.cpuSystemMs)}) = ${((e.cpuMs * 1000) / e.recordsIn).toFixed(1)} µs/event; ` +
      `during the engine phase the machine averaged ${e.cpu.machineCores} busy cores (broker ${e.cpu.brokerCores}, PostgreSQL ${e.cpu.postgresCores})` +
      (r.ceiling ? `; during the ceiling phase ${r.ceiling.cpu.machineCores} (broker ${r.ceiling.cpu.brokerCores})` : ''),
  );
  say(`memory: engine peak RSS ${fmtMiB(e.peakRss)} (at start ${fmtMiB(e.baselineRss)})${r.ceiling ? `, ceiling consumer ${fmtMiB(r.ceiling.peakRss)}` : ''}; variant took ${fmtMs(r.totalMs / 1000)} s`);
}

say('\n== targets');
const targets: { target: string; measured: string; met: boolean | null }[] = [];
for (const r of results) {
  if (r.ratio !== undefined) targets.push({ target: `engine ≥ 0.8 × client ceiling (${r.name})`, measured: r.ratio.toFixed(2), met: r.ratio >= 0.8 });
}
const sensorOnly = results.find((r) => r.mix[1] === 0 && r.mix[2] === 0);
if (sensorOnly !== undefined) {
  targets.push({
    target: `≥ 150k events/s end to end, sensor topic, ${fmtInt(SENSORS)} sensors`,
    measured: `${fmtInt(sensorOnly.engine.eventsPerSec)} events/s`,
    met: SENSORS >= 10000 ? sensorOnly.engine.eventsPerSec >= 150_000 : null,
  });
}
say(table(['target', 'measured', 'verdict'], targets.map((t) => [t.target, t.measured, t.met === null ? 'n/a' : verdict(t.met)])));
say(`total time ${((performance.now() - t0) / 1000).toFixed(0)} s`);

if (!a['no-json']) {
  const file = writeResult('e2e', {
    machine,
    options: { events: EVENTS, partitions: PARTITIONS, sensors: SENSORS, meters: METERS, customers: CUSTOMERS, spanMs: SPAN_MS, engineArgs: engineExtra, fetch: FETCH },
    results,
    targets,
    totalMs: performance.now() - t0,
  });
  say(`results: ${file}`);
}
