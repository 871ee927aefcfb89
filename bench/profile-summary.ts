/**
 * Summarises V8 .cpuprofile files (from `node --cpu-prof`) by function self time, and by
 * where the code comes from (engine, worker code, kafkajs, pg, Node internals, GC).
 *
 *   node dist/bench/profile-summary.js PROFILE.cpuprofile… [--top N]
 *
 * Each file is one thread (the main thread and each worker thread write their own).
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const { values: a, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '15' } } });
const TOP = Number(a.top);
if (positionals.length === 0) {
  process.stderr.write('Usage: node dist/bench/profile-summary.js FILE.cpuprofile… [--top N]\n');
  process.exit(2);
}

function origin(url: string, fn: string): string {
  if (fn === '(garbage collector)') return 'GC';
  // Idle: V8's idle, and a piscina worker blocked in Atomics.wait for its next task.
  if (fn === '(idle)' || fn === 'atomicsWaitLoop') return 'idle';
  if (fn === '(program)') return 'program (native, not attributed)';
  if (url === '') return 'native/builtin';
  if (url.startsWith('node:')) return 'Node internals';
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m !== null) return m[1];
  const s = /\/dist\/(.+)\/[^/]+\.js$/.exec(url);
  if (s !== null) return s[1];
  return url;
}

const short = (url: string): string => url.replace(/^file:\/\/.*?\/(dist|node_modules)\//, '$1/');

for (const file of positionals) {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, { ms: number; frame: CallFrame }>();
  const byOrigin = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const n = byId.get(p.samples[i]);
    const dt = (p.timeDeltas[i] ?? 0) / 1000;
    if (n === undefined) continue;
    total += dt;
    const f = n.callFrame;
    const key = `${f.functionName}|${f.url}|${f.lineNumber}`;
    const e = self.get(key) ?? { ms: 0, frame: f };
    e.ms += dt;
    self.set(key, e);
    const o = origin(f.url, f.functionName);
    byOrigin.set(o, (byOrigin.get(o) ?? 0) + dt);
  }
  const idle = byOrigin.get('idle') ?? 0;
  const busy = total - idle;
  process.stdout.write(`\n${basename(file)}: ${(total / 1000).toFixed(1)} s sampled, ${(busy / 1000).toFixed(1)} s busy (${((busy / total) * 100).toFixed(0)} %; idle = V8 idle + piscina's Atomics.wait)\n`);
  process.stdout.write('  by origin (% of busy):\n');
  for (const [o, ms] of [...byOrigin].filter(([o]) => o !== 'idle').sort((x, y) => y[1] - x[1]).slice(0, 10)) {
    process.stdout.write(`    ${((ms / busy) * 100).toFixed(1).padStart(5)} %  ${(ms / 1000).toFixed(2).padStart(6)} s  ${o}\n`);
  }
  process.stdout.write(`  top ${TOP} functions by self time (% of busy):\n`);
  const top = [...self.values()].filter((e) => origin(e.frame.url, e.frame.functionName) !== 'idle').sort((x, y) => y.ms - x.ms).slice(0, TOP);
  for (const e of top) {
    const f = e.frame;
    const where = f.url === '' ? '' : ` ${short(f.url)}:${f.lineNumber + 1}`;
    process.stdout.write(`    ${((e.ms / busy) * 100).toFixed(1).padStart(5)} %  ${(e.ms / 1000).toFixed(2).padStart(6)} s  ${f.functionName || '(anonymous)'}${where}\n`);
  }
}
