/**
 * `npm run bench:e2e`: end-to-end throughput against the real broker and PostgreSQL.
 *
 * Per variant (default: the default mix, then sensor only), on fresh topics:
 *   1. fill them with the load generator (as fast as it goes);
 *   2. the client ceilings, each discarding what it reads:
 *      - wire: the engine's read path without the engine: src/kafka's Fetcher on the main
 *        thread, each partition's raw bytes transferred to a piscina pool of as many
 *        threads as the engine's, decodeRecordBatches + JSON.parse of every value there;
 *      - kafkajs (for reference): a kafkajs consumer configured as the engine's;
 *   3. the engine, --available-now, once per client (--kafka-client wire, then kafkajs),
 *      each into a fresh schema, group and checkpoint directory of its own, in-process in
 *      a child (its metrics are read directly; RSS and CPU include its worker threads);
 * then prints events/s, CPU per event (all threads, and the main thread alone), peak RSS,
 * the ratios engine-wire ÷ wire ceiling, engine-wire ÷ engine-kafkajs and engine-kafkajs ÷
 * kafkajs ceiling, the engines' latency percentiles, writes bench/results/e2e-*.json, and
 * removes topics, schemas, groups and checkpoints. Each phase runs in its own child process.
 *
 *   node dist/bench/e2e.js [--events N] [--clients wire,kafkajs] [--ceilings wire,kafkajs] ...
 */
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/main/config.js';
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
import { createRunEnv, engineArgv, type EngineTarget, type RunEnv } from './lib/env.js';
import { SystemCpu, type CpuShare } from './lib/system-cpu.js';
import type { KafkajsCeilingReply, KafkajsCeilingRequest } from './lib/kafkajs-ceiling-child.js';
import type { WireCeilingReply, WireCeilingRequest } from './lib/wire-ceiling-child.js';
import type { EngineReply, EngineRequest } from './lib/engine-child.js';
import type { ProduceReply, ProduceRequest } from './lib/produce-child.js';

const USAGE = `Usage: npm run bench:e2e -- [options]
  --events N          events per variant (default 5000000)
  --partitions N      partitions per topic (default 3)
  --sensors N         sensors (default 10000)
  --meters N          meters (default 2000)   --customers N (default 500)
  --span D            event time covered, in minutes (default 60)
  --mix S,M,W         run only this mix (e.g. 1,0,0); default: 0.6,0.35,0.05 then 1,0,0
  --clients LIST      engine runs per variant, by --kafka-client (default wire,kafkajs; none: skip them)
  --instances LIST    also run the engine as N members of one group (--group-member, wire client)
                      at once, for each N listed (e.g. 1,2,3); each member gets cores ÷ N worker
                      threads unless --workers is given
  --pin               with --instances: pin member i to core i mod cores (taskset), as if each
                      had a machine of its own (the broker and PostgreSQL stay unpinned)
  --ceilings LIST     client ceilings per variant (default wire,kafkajs; none: skip them)
  --skip-ceilings     same as --ceilings none (--skip-ceiling also works)
  --workers N         engine worker threads, also the wire ceiling's (default: the engine's, = cores)
  --engine-args="…"   extra engine flags, space-separated (fetch sizes, --max-inflight-batches
                      and --workers given here apply to the ceilings too; not --kafka-client)
  --pairs N           run the wire ceiling and the wire engine N times each, alternately, on
                      the same topics (default 1); the ratio target uses the median of the N
                      pairs' ratios, since the machine's speed drifts between minutes
  --no-json           do not write bench/results/e2e-*.json
`;

const OPTIONS = {
  events: { type: 'string', default: '5000000' },
  partitions: { type: 'string', default: '3' },
  sensors: { type: 'string', default: '10000' },
  meters: { type: 'string', default: '2000' },
  customers: { type: 'string', default: '500' },
  span: { type: 'string', default: '60' },
  mix: { type: 'string' },
  clients: { type: 'string', default: 'wire,kafkajs' },
  instances: { type: 'string', default: '' },
  pin: { type: 'boolean', default: false },
  pairs: { type: 'string', default: '1' },
  ceilings: { type: 'string', default: 'wire,kafkajs' },
  workers: { type: 'string' },
  'engine-args': { type: 'string', default: '' },
  'skip-ceilings': { type: 'boolean', default: false },
  'skip-ceiling': { type: 'boolean', default: false },
  'no-json': { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h' },
} as const;
const fail = (msg: string): never => {
  process.stderr.write(`${msg}\n${USAGE}`);
  process.exit(2);
};
const { values: a } = (() => {
  try {
    return parseArgs({ options: OPTIONS });
  } catch (e) {
    return fail((e as Error).message);
  }
})();
if (a.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const num = (name: string, v: string): number => {
  const n = Number(v.replace(/_/g, ''));
  if (!Number.isInteger(n) || n < 1) fail(`--${name}: "${v}" must be a positive integer`);
  return n;
};
type Client = 'wire' | 'kafkajs';
const CLIENTS: readonly Client[] = ['wire', 'kafkajs'];
const clientList = (name: string, v: string, allowNone: boolean): Client[] => {
  if (allowNone && v.trim() === 'none') return [];
  const l = v.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const bad = l.filter((s) => !(CLIENTS as readonly string[]).includes(s));
  if (bad.length > 0 || (l.length === 0 && !allowNone)) fail(`--${name}: "${v}" must list ${CLIENTS.join(' and/or ')}${allowNone ? ' (or be none)' : ''}`);
  return [...new Set(l as Client[])];
};
const EVENTS = num('events', a.events);
const PAIRS = num('pairs', a.pairs);
const PARTITIONS = num('partitions', a.partitions);
const SENSORS = num('sensors', a.sensors);
const METERS = num('meters', a.meters);
const CUSTOMERS = num('customers', a.customers);
const SPAN_MS = num('span', a.span) * 60_000;
const ENGINES = clientList('clients', a.clients, true);
const INSTANCES = a.instances.trim() === '' ? [] : [...new Set(a.instances.split(',').map((x) => num('instances', x.trim())))];
const CEILINGS = a['skip-ceilings'] || a['skip-ceiling'] ? [] : clientList('ceilings', a.ceilings, true);
const parseMix = (s: string): [number, number, number] => {
  const m = s.split(',').map(Number);
  if (m.length !== 3 || m.some((x) => !(x >= 0)) || m[0] + m[1] + m[2] <= 0) fail(`--mix: "${s}" must be three weights S,M,W`);
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
if (engineExtra.some((s) => s === '--kafka-client' || s.startsWith('--kafka-client='))) fail('--engine-args: choose the engine runs with --clients, not --kafka-client');
if (a.workers !== undefined) engineExtra.push('--workers', String(num('workers', a.workers)));

// The engine's settings (its defaults, or what --engine-args/--workers set): the ceilings
// read with the same fetch sizes, and the wire ceiling decodes on as many threads.
const ENGINE = (() => {
  try {
    return loadConfig(['--available-now', ...engineExtra], {}).config;
  } catch (e) {
    return fail(`--engine-args: ${(e as Error).message}`);
  }
})();
const FETCH = {
  maxBytesPerPartition: ENGINE.maxBytesPerPartition,
  maxBytes: ENGINE.maxBytes,
  maxWaitMs: ENGINE.maxWaitMs,
  partitionsConcurrency: ENGINE.partitionsConcurrency,
  maxInflightBatches: ENGINE.maxInflightBatches,
  workers: ENGINE.workers,
};

/** One measured run: a ceiling or an engine. */
interface Measured {
  events: number;
  /** Child start to the end (ceiling: last record decoded; engine: run() resolved). */
  wallMs: number;
  /** First record to last record. */
  activeMs: number;
  eventsPerSec: number;
  activeEventsPerSec: number;
  /** CPU of the whole child process (every thread) per event, µs. */
  cpuUsPerEvent: number;
  /** CPU of the child's main thread alone per event, µs (NaN without /proc). */
  mainThreadCpuUsPerEvent: number;
  peakRss: number;
  /** Where the machine's CPU went during the phase. */
  machine: CpuShare;
}

const measured = (events: number, wallMs: number, activeMs: number, cpuMs: number, mainThreadCpuMs: number, peakRss: number, machine: CpuShare): Measured => ({
  events,
  wallMs,
  activeMs,
  eventsPerSec: (events / wallMs) * 1000,
  activeEventsPerSec: (events / activeMs) * 1000,
  cpuUsPerEvent: (cpuMs * 1000) / events,
  mainThreadCpuUsPerEvent: (mainThreadCpuMs * 1000) / events,
  peakRss,
  machine,
});

type EngineRun = EngineReply & { measured: Measured; client: Client; target: EngineTarget; rowsInDb: Record<string, number> };

interface Ratio {
  /** e.g. "engine wire ÷ wire ceiling". */
  name: string;
  eventsPerSec: number;
  activeEventsPerSec: number;
}

/** N engines as members of one group, run at once to the end of the input. */
interface MembersRun {
  instances: number;
  workersEach: number;
  /** Start of the first to the end of the last member; events ÷ that. */
  measured: Measured;
  /** Records each member counted in (replays after a partition moved included). */
  recordsIn: number[];
  rowsInDb: Record<string, number>;
}

interface VariantResult {
  name: string;
  mix: [number, number, number];
  events: number;
  fill: ProduceReply & { cpu: CpuShare };
  ceilings: {
    wire?: WireCeilingReply & { measured: Measured };
    kafkajs?: KafkajsCeilingReply & { measured: Measured };
  };
  engines: { wire?: EngineRun; kafkajs?: EngineRun };
  members: MembersRun[];
  ratios: Ratio[];
  /** --pairs: each pair's engine wire ÷ wire ceiling (the first pair is the runs above). */
  pairs: Ratio[];
  totalMs: number;
}

async function rowsInDb(schema: string): Promise<Record<string, number>> {
  const pg = (await import('pg')).default;
  const { PG } = await import('./lib/common.js');
  const c = new pg.Client({ ...PG, options: `-c search_path=${schema}` });
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
const rate = (m: Measured): string => `${fmtInt(m.events)} records in ${(m.wallMs / 1000).toFixed(1)} s = ${fmtInt(m.eventsPerSec)} events/s`;
const secs = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
const us = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '-');

const median = (xs: number[]): number => {
  const s = [...xs].sort((p, q) => p - q);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** The median of several pairs' ratios, named `name (median of N pairs)`. */
function medianRatio(name: string, pairs: Ratio[]): Ratio {
  return { name: `${name} (median of ${pairs.length} pairs)`, eventsPerSec: median(pairs.map((p) => p.eventsPerSec)), activeEventsPerSec: median(pairs.map((p) => p.activeEventsPerSec)) };
}

function ratio(name: string, x: Measured | undefined, y: Measured | undefined): Ratio | undefined {
  if (x === undefined || y === undefined) return undefined;
  return { name, eventsPerSec: x.eventsPerSec / y.eventsPerSec, activeEventsPerSec: x.activeEventsPerSec / y.activeEventsPerSec };
}

async function runWireCeiling(env: RunEnv, sys: SystemCpu): Promise<WireCeilingReply & { measured: Measured }> {
  sys.reset();
  const r = await startChild<WireCeilingReply>('wire-ceiling-child', {
    brokers: [KAFKA_BROKER],
    topics: Object.values(env.topics),
    workers: FETCH.workers,
    maxInflight: FETCH.maxInflightBatches,
    maxBytesPerPartition: FETCH.maxBytesPerPartition,
    maxBytes: FETCH.maxBytes,
    maxWaitMs: FETCH.maxWaitMs,
  } satisfies WireCeilingRequest).reply;
  const out = { ...r, measured: measured(r.messages, r.wallMs, r.activeMs, r.cpuMs, r.mainThreadCpuMs, r.peakRss, sys.share()) };
  say(`wire ceiling (fetch + decode + JSON.parse on ${r.workerThreads} worker threads, discard): ${rate(out.measured)}`);
  if (r.messages !== EVENTS) say(`WARNING: the wire ceiling decoded ${r.messages} records, expected ${EVENTS}`);
  return out;
}

async function runEngine(env: RunEnv, client: Client, sys: SystemCpu, tag: string = client): Promise<EngineRun> {
  const target = await env.engineTarget(tag);
  sys.reset();
  const e = await startChild<EngineReply>('engine-child', {
    argv: engineArgv(env, ['--available-now', ...engineExtra, '--kafka-client', client], target),
    expected: EVENTS,
  } satisfies EngineRequest).reply;
  const m = measured(e.recordsIn, e.wallMs, e.lastRecordMs - e.firstRecordMs, e.cpuMs, e.mainThreadCpuMs, e.peakRss, sys.share());
  say(`engine --kafka-client ${client} (--available-now → PostgreSQL): ${rate(m)}; first record at ${secs(e.firstRecordMs)}, last at ${secs(e.lastRecordMs)}, done at ${secs(e.wallMs)}`);
  if (e.recordsIn !== EVENTS) say(`WARNING: the engine (${client}) counted ${e.recordsIn} records in, expected ${EVENTS}`);
  return { ...e, measured: m, client, target, rowsInDb: await rowsInDb(target.schema) };
}

async function runMembers(env: RunEnv, n: number, sys: SystemCpu): Promise<MembersRun> {
  const target = await env.engineTarget(`members${n}`);
  const given = engineExtra.includes('--workers');
  const workersEach = given ? ENGINE.workers : Math.max(1, Math.floor(ENGINE.workers / n));
  sys.reset();
  const t0 = performance.now();
  const runs = Array.from({ length: n }, (_, i) => {
    const h = startChild<EngineReply>('engine-child', {
      argv: engineArgv(env, [
        '--available-now', ...engineExtra, ...(given ? [] : ['--workers', String(workersEach)]),
        '--group-member', '--instance-id', `bench-${i + 1}`, '--session-timeout', '10s',
      ], target),
      expected: Math.ceil(EVENTS / n),
    } satisfies EngineRequest);
    // Before the member starts its worker threads, which inherit the affinity.
    if (a.pin && n > 1) spawnSync('taskset', ['-a', '-p', '-c', String(i % availableParallelism()), String(h.child.pid)], { stdio: 'ignore' });
    return h.reply;
  });
  const replies = await Promise.all(runs);
  const wallMs = performance.now() - t0;
  const cpuMs = replies.reduce((x, r) => x + r.cpuMs, 0);
  const mainMs = replies.reduce((x, r) => x + r.mainThreadCpuMs, 0);
  const first = Math.min(...replies.map((r) => r.firstRecordMs));
  const m = measured(EVENTS, wallMs, wallMs - (Number.isFinite(first) ? first : 0), cpuMs, mainMs, Math.max(...replies.map((r) => r.peakRss)), sys.share());
  const recordsIn = replies.map((r) => r.recordsIn);
  say(`${n} member${n > 1 ? 's' : ''}${a.pin && n > 1 ? ' pinned to a core each' : ''} (--group-member, ${workersEach} worker threads each, --available-now → PostgreSQL): ${rate(m)}; records in per member ${recordsIn.map(fmtInt).join(' + ')}`);
  return { instances: n, workersEach, measured: m, recordsIn, rowsInDb: await rowsInDb(target.schema) };
}

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

    const ceilings: VariantResult['ceilings'] = {};
    for (const c of CEILINGS) {
      sys.reset();
      if (c === 'wire') {
        ceilings.wire = await runWireCeiling(env, sys);
      } else {
        const group = `${env.groupId}_ceiling`;
        env.groups.push(group);
        const r = await startChild<KafkajsCeilingReply>('kafkajs-ceiling-child', {
          brokers: [KAFKA_BROKER],
          topics: Object.values(env.topics),
          groupId: group,
          maxBytesPerPartition: FETCH.maxBytesPerPartition,
          maxBytes: FETCH.maxBytes,
          maxWaitMs: FETCH.maxWaitMs,
          partitionsConcurrency: FETCH.partitionsConcurrency,
        } satisfies KafkajsCeilingRequest).reply;
        ceilings.kafkajs = { ...r, measured: measured(r.messages, r.wallMs, r.activeMs, r.cpuMs, r.mainThreadCpuMs, r.peakRss, sys.share()) };
        say(`kafkajs ceiling (consumer, discard, no parse): ${rate(ceilings.kafkajs.measured)}`);
      }
    }

    const engines: VariantResult['engines'] = {};
    for (const c of ENGINES) engines[c] = await runEngine(env, c, sys);
    const pairs: Ratio[] = [];
    const pairRatio = (i: number, e: Measured, c: Measured): Ratio => ({ name: `pair ${i}: engine wire ÷ wire ceiling`, eventsPerSec: e.eventsPerSec / c.eventsPerSec, activeEventsPerSec: e.activeEventsPerSec / c.activeEventsPerSec });
    if (engines.wire !== undefined && ceilings.wire !== undefined) {
      pairs.push(pairRatio(1, engines.wire.measured, ceilings.wire.measured));
      for (let i = 2; i <= PAIRS; i++) {
        const c = await runWireCeiling(env, sys);
        const e = await runEngine(env, 'wire', sys, `wire${i}`);
        pairs.push(pairRatio(i, e.measured, c.measured));
        say(`pair ${i}: engine wire ÷ wire ceiling ${pairs[i - 1].eventsPerSec.toFixed(2)} (active ${pairs[i - 1].activeEventsPerSec.toFixed(2)})`);
      }
    }
    const members: MembersRun[] = [];
    for (const n of INSTANCES) members.push(await runMembers(env, n, sys));

    const ew = engines.wire?.measured;
    const ek = engines.kafkajs?.measured;
    const ratios = [
      pairs.length > 1 ? medianRatio('engine wire ÷ wire ceiling', pairs) : ratio('engine wire ÷ wire ceiling', ew, ceilings.wire?.measured),
      ratio('engine wire ÷ engine kafkajs', ew, ek),
      ratio('engine kafkajs ÷ kafkajs ceiling', ek, ceilings.kafkajs?.measured),
      ratio('wire ceiling ÷ kafkajs ceiling', ceilings.wire?.measured, ceilings.kafkajs?.measured),
    ].filter((r): r is Ratio => r !== undefined);
    const one = members.find((x) => x.instances === 1);
    for (const x of members) {
      if (one !== undefined && x !== one) {
        ratios.push({ name: `${x.instances} members ÷ 1 member`, eventsPerSec: x.measured.eventsPerSec / one.measured.eventsPerSec, activeEventsPerSec: x.measured.activeEventsPerSec / one.measured.activeEventsPerSec });
        ratios.push({ name: `${x.instances} members ÷ 1 member, CPU per event`, eventsPerSec: x.measured.cpuUsPerEvent / one.measured.cpuUsPerEvent, activeEventsPerSec: NaN });
      }
    }
    return { name, mix, events: EVENTS, fill, ceilings, engines, members, ratios, pairs, totalMs: performance.now() - started };
  } finally {
    await env.cleanup();
  }
}

const machine = machineInfo();
say(`End-to-end benchmark on ${machineLine(machine)}; broker ${KAFKA_BROKER} and PostgreSQL on the same machine.`);
say(
  `engine runs: ${ENGINES.map((c) => `--kafka-client ${c}`).join(', ')}; ceilings: ${CEILINGS.length === 0 ? 'none' : CEILINGS.join(', ')}; ` +
    `${FETCH.workers} worker threads, fetch ${fmtMiB(FETCH.maxBytesPerPartition)}/partition, ${fmtMiB(FETCH.maxBytes)}/request, wait ${FETCH.maxWaitMs} ms, ` +
    `${FETCH.maxInflightBatches} batches in flight (wire), ${FETCH.partitionsConcurrency} partitions at once (kafkajs)`,
);
const t0 = performance.now();
const results: VariantResult[] = [];
for (const v of variants) results.push(await runVariant(v.name, v.mix));

const runsOf = (r: VariantResult): { run: string; m: Measured }[] => [
  ...(r.ceilings.wire ? [{ run: 'wire ceiling', m: r.ceilings.wire.measured }] : []),
  ...(r.ceilings.kafkajs ? [{ run: 'kafkajs ceiling', m: r.ceilings.kafkajs.measured }] : []),
  ...(r.engines.wire ? [{ run: 'engine wire', m: r.engines.wire.measured }] : []),
  ...(r.engines.kafkajs ? [{ run: 'engine kafkajs', m: r.engines.kafkajs.measured }] : []),
  ...r.members.map((x) => ({ run: `${x.instances} member${x.instances > 1 ? 's' : ''} × ${x.workersEach} workers${a.pin && x.instances > 1 ? ', pinned' : ''}`, m: x.measured })),
];

say('\n== results');
say(
  table(
    ['variant', 'run', 'events/s', 'active ev/s', 'µs CPU/ev', 'µs main-thread CPU/ev', 'peak RSS', 'machine busy cores'],
    results.flatMap((r) =>
      runsOf(r).map(({ run, m }) => [r.name, run, fmtInt(m.eventsPerSec), fmtInt(m.activeEventsPerSec), us(m.cpuUsPerEvent), us(m.mainThreadCpuUsPerEvent), fmtMiB(m.peakRss), m.machine.machineCores.toFixed(2)]),
    ),
  ),
);
say('(events/s = events ÷ wall time from process start to finish, connect and group join included; "active" = first to last record;');
say(' engine wall time also includes writing every window, the final checkpoint and the offset commit. CPU: all threads of the');
say(' process (workers included), and its main thread alone (/proc/<pid>/task/<pid>/stat); 10 ms resolution.)');
const ratioRows = results.flatMap((r) => [...(r.pairs.length > 1 ? r.pairs : []), ...r.ratios].map((x) => [r.name, x.name, x.eventsPerSec.toFixed(2), Number.isFinite(x.activeEventsPerSec) ? x.activeEventsPerSec.toFixed(2) : '-']));
if (ratioRows.length > 0) say('\n' + table(['variant', 'ratio', 'events/s', 'active ev/s'], ratioRows));

for (const r of results) {
  for (const e of [r.engines.wire, r.engines.kafkajs]) {
    if (e === undefined) continue;
    say(`\n${r.name}, engine --kafka-client ${e.client}: latency (hdr histograms of the engine's metrics)`);
    say(table(LATENCY_HEAD, [latencyRow('per batch (dispatch → merged)', e.batchLatency), latencyRow('sink flush (one transaction)', e.flushLatency), latencyRow('window final → committed', e.finalToCommit)]));
    const dec = e.decodeMs + e.aggregateMs;
    say(
      `rows: ${Object.entries(e.rowsInDb).map(([t, n]) => `${t} ${fmtInt(n)}`).join(', ')}; ${fmtInt(e.batches)} worker tasks on ${e.workerThreads} threads, ` +
        `worker decode ${fmtInt(e.decodeMs)} ms + aggregate ${fmtInt(e.aggregateMs)} ms = ${fmtInt((e.recordsIn / dec) * 1000)} records per worker-second`,
    );
    const m = e.measured;
    say(
      `CPU: engine ${fmtInt(e.cpuMs)} ms (user ${fmtInt(e.cpuUserMs)}, sys ${fmtInt(e.cpuSystemMs)}; main thread ${fmtInt(e.mainThreadCpuMs)}) = ` +
        `${us(m.cpuUsPerEvent)} µs/event (main thread ${us(m.mainThreadCpuUsPerEvent)}); the machine averaged ${m.machine.machineCores} busy cores ` +
        `(broker ${m.machine.brokerCores}, PostgreSQL ${m.machine.postgresCores})`,
    );
    say(`memory: engine peak RSS ${fmtMiB(e.peakRss)} (at start ${fmtMiB(e.baselineRss)})`);
  }
  for (const x of r.members) {
    const ref = r.engines.wire?.rowsInDb ?? r.members[0].rowsInDb;
    const diff = Object.keys(ref).filter((t) => ref[t] !== x.rowsInDb[t]);
    say(`${r.name}, ${x.instances} members: ` + (diff.length === 0 ? 'the same number of rows in every table as the reference run' : `NOTE different row counts in ${diff.join(', ')}: ${JSON.stringify(x.rowsInDb)}`));
  }
  const w = r.engines.wire?.rowsInDb;
  const k = r.engines.kafkajs?.rowsInDb;
  if (w !== undefined && k !== undefined) {
    const diff = Object.keys(w).filter((t) => w[t] !== k[t]);
    say(diff.length === 0 ? `${r.name}: both engine runs wrote the same number of rows to every table` : `${r.name}: NOTE the engine runs wrote different row counts to ${diff.join(', ')}`);
  }
  const ceil = [r.ceilings.wire, r.ceilings.kafkajs].filter((c) => c !== undefined);
  if (ceil.length > 0) {
    say(
      `${r.name}: ceilings: ` +
        [
          ...(r.ceilings.wire ? [`wire peak RSS ${fmtMiB(r.ceilings.wire.peakRss)}, ${fmtInt(r.ceilings.wire.fetches)} fetches, ${fmtInt(r.ceilings.wire.batches)} worker tasks, machine ${r.ceilings.wire.measured.machine.machineCores} busy cores (broker ${r.ceilings.wire.measured.machine.brokerCores})`] : []),
          ...(r.ceilings.kafkajs ? [`kafkajs peak RSS ${fmtMiB(r.ceilings.kafkajs.peakRss)}, machine ${r.ceilings.kafkajs.measured.machine.machineCores} busy cores (broker ${r.ceilings.kafkajs.measured.machine.brokerCores})`] : []),
        ].join('; ') +
        `; variant took ${fmtMs(r.totalMs / 1000)} s`,
    );
  }
}

say('\n== targets');
const targets: { target: string; measured: string; met: boolean | null }[] = [];
for (const r of results) {
  const x = r.ratios.find((q) => q.name.startsWith('engine wire ÷ wire ceiling'));
  if (x !== undefined) targets.push({ target: `engine wire ≥ 0.8 × wire ceiling (${r.name}${r.pairs.length > 1 ? `, median of ${r.pairs.length} pairs` : ''})`, measured: x.eventsPerSec.toFixed(2), met: x.eventsPerSec >= 0.8 });
  const y = r.ratios.find((q) => q.name === 'engine wire ÷ engine kafkajs');
  if (y !== undefined) targets.push({ target: `engine wire ≥ 2 × engine kafkajs (${r.name})`, measured: y.eventsPerSec.toFixed(2), met: y.eventsPerSec >= 2 });
}
const sensorOnly = results.find((r) => r.mix[1] === 0 && r.mix[2] === 0);
// The engine's default client, or the one that ran.
const sensorEngine = sensorOnly?.engines.wire ?? sensorOnly?.engines.kafkajs;
if (sensorEngine !== undefined) {
  targets.push({
    target: `≥ 150k events/s end to end, sensor topic, ${fmtInt(SENSORS)} sensors (engine ${sensorEngine.client})`,
    measured: `${fmtInt(sensorEngine.measured.eventsPerSec)} events/s`,
    met: SENSORS >= 10000 ? sensorEngine.measured.eventsPerSec >= 150_000 : null,
  });
}
say(table(['target', 'measured', 'verdict'], targets.map((t) => [t.target, t.measured, t.met === null ? 'n/a' : verdict(t.met)])));
say(`total time ${((performance.now() - t0) / 1000).toFixed(0)} s`);

if (!a['no-json']) {
  const file = writeResult('e2e', {
    machine,
    options: {
      events: EVENTS,
      partitions: PARTITIONS,
      sensors: SENSORS,
      meters: METERS,
      customers: CUSTOMERS,
      spanMs: SPAN_MS,
      clients: ENGINES,
      instances: INSTANCES,
      pin: a.pin,
      ceilings: CEILINGS,
      engineArgs: engineExtra,
      fetch: FETCH,
    },
    results,
    targets,
    totalMs: performance.now() - t0,
  });
  say(`results: ${file}`);
}
