/**
 * `npm run bench:state`: memory and restart time of a large open state.
 *
 * Builds a WindowStore of sensor states directly (synthetic AggregateResults merged as
 * the coordinator merges workers' partials: fresh key strings per result, as structured
 * clone delivers them), measures the process RSS, snapshots it through CheckpointStore
 * (as Engine.checkpoint does: WindowStore.snapshot() inside the topic snapshot, then
 * save()), and times a restart from it in a fresh process: loadLatest() + restore().
 *
 *   node --expose-gc dist/bench/state-size.js [--states N] [--groups N] [--no-json]
 *
 * Targets: 1M open (window, group) states in ≤ 1 GiB RSS; restart from a checkpoint of
 * that size in ≤ 5 s.
 */
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CheckpointStore, type TopicSnapshot } from '../src/main/checkpoint.js';
import { silentLogger } from '../src/common/log.js';
import { WindowStore } from '../src/main/window-store.js';
import { Kind, type AggregateResult } from '../src/workers/protocol.js';
import { STATS_WIDTH, statsAdd, statsInit } from '../src/workers/stats.js';
import { startChild } from './lib/child.js';
import { fmtInt, fmtMiB, machineInfo, machineLine, RssSampler, table, verdict, writeResult } from './lib/common.js';
import type { RestoreReply, RestoreRequest } from './lib/restore-child.js';

/** The longest gap between ticks of a timer of `everyMs`, minus the period: how long the event loop stalled. */
class LoopStall {
  private last = performance.now();
  private max = 0;
  private readonly timer: NodeJS.Timeout;
  constructor(private readonly everyMs: number) {
    this.timer = setInterval(() => this.tick(), everyMs);
  }
  private tick(): void {
    const now = performance.now();
    this.max = Math.max(this.max, now - this.last - this.everyMs);
    this.last = now;
  }
  peek(): number {
    return this.max;
  }
  stop(): number {
    this.tick();
    clearInterval(this.timer);
    return this.max;
  }
}

const { values: a } = parseArgs({
  options: {
    states: { type: 'string', default: '1000000' },
    groups: { type: 'string', default: '100000' },
    'no-json': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  },
});
if (a.help) {
  process.stdout.write('Usage: npm run bench:state -- [--states N (default 1000000)] [--groups N per window (default 100000)] [--no-json]\n');
  process.exit(0);
}
const STATES = Number(a.states);
const GROUPS = Math.min(Number(a.groups), STATES);
if (!(Number.isInteger(STATES) && STATES > 0 && Number.isInteger(GROUPS) && GROUPS > 0)) {
  process.stderr.write('--states and --groups must be positive integers\n');
  process.exit(2);
}
const WINDOWS = Math.ceil(STATES / GROUPS);
const WINDOW_MS = 300_000;
const START = Date.UTC(2026, 10, 28);
const TYPES = ['voltage', 'current', 'power', 'frequency', 'temperature', 'humidity'];
const CHUNK = 8192; // partials per synthetic worker result

const gc = (globalThis as { gc?: () => void }).gc;
const settle = (): number => {
  gc?.();
  gc?.();
  return process.memoryUsage.rss();
};
const say = (s: string): boolean => process.stdout.write(s + '\n');

const machine = machineInfo();
say(`State-size benchmark on ${machineLine(machine)}${gc === undefined ? ' (run with --expose-gc for settled RSS figures)' : ''}`);
say(`${fmtInt(STATES)} open sensor states: ${fmtInt(WINDOWS)} windows × ${fmtInt(GROUPS)} groups, merged from results of ${fmtInt(CHUNK)} partials`);

const rss = new RssSampler(50);
const baseline = settle();

// ------------------------------------------------------------------ build
const store = new WindowStore(Kind.sensor, WINDOW_MS);
const tb = performance.now();
let made = 0;
for (let w = 0; w < WINDOWS && made < STATES; w++) {
  for (let g0 = 0; g0 < GROUPS && made < STATES; g0 += CHUNK) {
    const k = Math.min(CHUNK, GROUPS - g0, STATES - made);
    const keys: string[] = new Array(k);
    const stats = new Float64Array(k * STATS_WIDTH);
    for (let j = 0; j < k; j++) {
      const id = g0 + j;
      // A fresh string per result, as structured clone delivers worker results.
      keys[j] = `${TYPES[id % TYPES.length]}\u0000sensor_${String(id).padStart(6, '0')}`;
      statsInit(stats, j * STATS_WIDTH);
      for (let v = 0; v < 20; v++) statsAdd(stats, j * STATS_WIDTH, 230 + ((id * 7 + v * 13) % 100) / 10, 1e9);
    }
    const r: AggregateResult = {
      kind: Kind.sensor,
      n: k * 20,
      keys,
      windows: new Float64Array(k).fill(START + w * WINDOW_MS),
      groups: Uint32Array.from({ length: k }, (_, j) => j),
      stats,
      condNames: [],
      condCounts: new Uint32Array(0),
      rejected: new Uint32Array(0),
      reasons: new Uint8Array(0),
      errors: [],
      partMaxTs: new Float64Array(1),
      threadId: 0,
      decodeNs: 0,
      aggregateNs: 0,
    };
    store.merge(r);
    made += k;
  }
}
const buildMs = performance.now() - tb;
const withState = settle();
rss.sample();
say(`built ${fmtInt(store.openStates)} states in ${(buildMs / 1000).toFixed(1)} s; RSS ${fmtMiB(withState)} (before: ${fmtMiB(baseline)}, state: ${fmtMiB(withState - baseline)}, ${fmtInt((withState - baseline) / store.openStates)} bytes per state)`);

// ------------------------------------------------------------------ checkpoint
const dir = await mkdtemp(join(tmpdir(), 'bench_state_'));
let restore: RestoreReply;
let snapshotMs: number;
let saveMs: number;
let fileBytes: number;
let peakDuringSave: number;
let maxStallMs: number;
try {
  const cp = new CheckpointStore(dir, 3, silentLogger);
  // Main-thread blocking is measured as the engine lives it: at the barrier (merging
  // paused) WindowStore.snapshot() takes views of the live state and the writer yields to
  // the event loop between pieces; the longest gap of a 10 ms timer over both is the
  // longest stall the event loop sees, and the time is how long merging waited.
  const stall = new LoopStall(10);
  const ts = performance.now();
  const topics: TopicSnapshot[] = [
    { topic: 'smartgrid-sensor-data', windowMs: WINDOW_MS, watermark: START, partitions: [{ partition: 0, maxTs: START }], offsets: [{ partition: 0, offset: STATES * 20 }], windows: store.snapshot() },
    { topic: 'smartgrid-meter-readings', windowMs: 3_600_000, watermark: null, partitions: [], offsets: [], windows: [] },
    { topic: 'smartgrid-weather-data', windowMs: 3_600_000, watermark: null, partitions: [], offsets: [], windows: [] },
  ];
  const t1 = performance.now();
  await cp.save({ groupId: 'bench-state', topics });
  const t2 = performance.now();
  maxStallMs = stall.stop();
  snapshotMs = t1 - ts;
  saveMs = t2 - t1;
  peakDuringSave = rss.stop();
  const file = (await readdir(dir)).find((f) => f.endsWith('.bin'))!;
  fileBytes = (await stat(join(dir, file))).size;
  say(
    `checkpoint: WindowStore.snapshot() ${fmtInt(snapshotMs)} ms + CheckpointStore.save() ${fmtInt(saveMs)} ms ` +
      `(binary pieces, SHA-256, fsync; merging paused, event loop free), longest event-loop stall ${fmtInt(maxStallMs)} ms; ` +
      `file ${fmtMiB(fileBytes)}; peak RSS ${fmtMiB(peakDuringSave)}`,
  );
  restore = await startChild<RestoreReply>('restore-child', { dir } satisfies RestoreRequest, undefined, ['--expose-gc']).reply;
  say(
    `restart (fresh process): loadLatest() ${fmtInt(restore.loadMs)} ms + WindowStore.restore() ${fmtInt(restore.restoreMs)} ms = ${fmtInt(restore.totalMs)} ms; ` +
      `${fmtInt(restore.openStates)} states; RSS after ${fmtMiB(restore.rssAfter)}, peak ${fmtMiB(restore.peakRss)}`,
  );
} finally {
  await rm(dir, { recursive: true, force: true });
}

const stateBytes = withState - baseline;
const targets = [
  { target: 'main thread never blocked > ~100 ms by a checkpoint (longest event-loop stall)', measured: `${fmtInt(maxStallMs)} ms`, met: maxStallMs <= 100 },
  { target: 'peak RSS while checkpointing ≤ 1.5 × the state (above the baseline)', measured: `${((peakDuringSave - baseline) / stateBytes).toFixed(2)} ×`, met: peakDuringSave - baseline <= 1.5 * stateBytes },
  { target: `${fmtInt(STATES)} open states in ≤ 1 GiB RSS (building process)`, measured: fmtMiB(withState), met: withState <= 2 ** 30 },
  { target: `… and peak RSS while checkpointing`, measured: fmtMiB(peakDuringSave), met: peakDuringSave <= 2 ** 30 },
  { target: `… and RSS after a restart`, measured: fmtMiB(restore.rssAfter), met: restore.rssAfter <= 2 ** 30 },
  { target: 'restart from that checkpoint ≤ 5 s (load + restore)', measured: `${(restore.totalMs / 1000).toFixed(2)} s`, met: restore.totalMs <= 5000 },
];
say('\n' + table(['target', 'measured', 'verdict'], targets.map((t) => [t.target, t.measured, verdict(t.met)])));
if (STATES < 1_000_000) say('(fewer than 1M states: the verdicts are about the chosen size, not the target)');
if (!a['no-json']) {
  const file = writeResult('state', {
    machine,
    options: { states: STATES, groupsPerWindow: GROUPS, windows: WINDOWS },
    buildMs,
    rss: { baseline, withState, perStateBytes: (withState - baseline) / STATES, peakDuringSave },
    checkpoint: { snapshotMs, saveMs, maxStallMs, fileBytes },
    restore,
    targets,
  });
  say(`results: ${file}`);
}
void store;
