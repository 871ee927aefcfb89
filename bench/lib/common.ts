/**
 * Shared pieces of the benchmarks: machine description, result files, formatting,
 * memory/CPU sampling, and the names of the local services.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Latency } from '../../src/main/metrics.js';

/** Repository root (bench/lib/common.ts compiles to dist/bench/lib/common.js). */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const RESULTS_DIR = fileURLToPath(new URL('../../../bench/results/', import.meta.url));
/** Compiled bench/lib directory, for forking the child entry points. */
export const LIB_DIR = fileURLToPath(new URL('./', import.meta.url));

export const KAFKA_BROKER = process.env.KAFKA_BROKER ?? '127.0.0.1:9092';
export const PG = {
  host: process.env.POSTGRES_HOST ?? '127.0.0.1',
  port: Number(process.env.POSTGRES_PORT ?? 5432),
  database: process.env.POSTGRES_DB ?? 'test',
  user: process.env.POSTGRES_USER ?? 'postgres',
  password: process.env.POSTGRES_PASSWORD ?? '',
};

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  ramGiB: number;
  node: string;
  platform: string;
  gitCommit: string;
  gitDirty: boolean;
  loadAvg: number[];
  date: string;
}

function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m !== null) return m[1].trim();
  } catch {
    // not Linux
  }
  return cpus()[0]?.model ?? 'unknown';
}

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

export function machineInfo(): MachineInfo {
  return {
    cpuModel: cpuModel(),
    cores: availableParallelism(),
    ramGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    gitCommit: git(['rev-parse', 'HEAD']) || 'unknown',
    gitDirty: git(['status', '--porcelain', '--untracked-files=no']) !== '',
    loadAvg: loadavg().map((x) => Math.round(x * 100) / 100),
    date: new Date().toISOString(),
  };
}

export function machineLine(m: MachineInfo): string {
  return (
    `${m.cores} cores (${m.cpuModel}), ${m.ramGiB} GiB RAM, Node ${m.node}, commit ${m.gitCommit.slice(0, 10)}` +
    `${m.gitDirty ? ' (+uncommitted changes)' : ''}, load average ${m.loadAvg.join(' ')}`
  );
}

/** Writes `bench/results/<name>-<timestamp>.json` and returns its path. */
export function writeResult(name: string, body: unknown): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = `${RESULTS_DIR}${name}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
  writeFileSync(file, JSON.stringify(body, null, 2) + '\n');
  return file;
}

// ------------------------------------------------------------------ formatting

export const fmtInt = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : String(n));
export const fmtMs = (ms: number): string => (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2));
export const fmtMiB = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

/** A plain text table with right-aligned columns after the first. */
export function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string => r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ');
  return [line(head), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}

export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  meanMs: number;
}

/** Percentiles (ms) of one of the engine's hdr histograms. */
export function summarize(l: Latency): LatencySummary {
  return {
    count: l.count,
    p50: l.percentileMs(50),
    p90: l.percentileMs(90),
    p99: l.percentileMs(99),
    p999: l.percentileMs(99.9),
    max: l.maxMs(),
    meanMs: l.count === 0 ? 0 : l.sumUs / l.count / 1000,
  };
}

export function latencyRow(name: string, s: LatencySummary): string[] {
  return [name, fmtInt(s.count), fmtMs(s.p50), fmtMs(s.p90), fmtMs(s.p99), fmtMs(s.p999), fmtMs(s.max)];
}
export const LATENCY_HEAD = ['latency (ms)', 'count', 'p50', 'p90', 'p99', 'p99.9', 'max'];

// ------------------------------------------------------------------ resources

/**
 * Peak resident set size, sampled every `everyMs`. Worker threads live in the same
 * process, so their heaps and buffers are included.
 */
export class RssSampler {
  peak = process.memoryUsage.rss();
  last = this.peak;
  private readonly timer: NodeJS.Timeout;
  constructor(everyMs = 100) {
    this.timer = setInterval(() => this.sample(), everyMs);
    this.timer.unref();
  }
  sample(): number {
    this.last = process.memoryUsage.rss();
    if (this.last > this.peak) this.peak = this.last;
    return this.last;
  }
  stop(): number {
    clearInterval(this.timer);
    this.sample();
    return this.peak;
  }
}

/** CPU time (user + system, all threads of the process) since `from`, in ms. */
export function cpuMsSince(from: NodeJS.CpuUsage): { userMs: number; systemMs: number; totalMs: number } {
  const d = process.cpuUsage(from);
  return { userMs: d.user / 1000, systemMs: d.system / 1000, totalMs: (d.user + d.system) / 1000 };
}

let ticksPerSecond: number | undefined;

/** Clock ticks per second of /proc's CPU times (`getconf CLK_TCK`, normally 100). */
export function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    let n = NaN;
    try {
      n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    } catch {
      // no getconf: Linux's USER_HZ is 100 everywhere
    }
    ticksPerSecond = Number.isInteger(n) && n > 0 ? n : 100;
  }
  return ticksPerSecond;
}

/**
 * CPU time (user + system) of this process's main thread alone, in ms, from
 * /proc/<pid>/task/<pid>/stat (the main thread's tid is the pid); NaN where there is no
 * /proc. Resolution: one clock tick (10 ms). Node 20 has no per-thread CPU clock of its own.
 */
export function mainThreadCpuMs(): number {
  const tck = clockTicks();
  let s: string;
  try {
    s = readFileSync(`/proc/${process.pid}/task/${process.pid}/stat`, 'utf8');
  } catch {
    return NaN;
  }
  // The command name (field 2) may contain spaces: count fields after its closing paren.
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / tck;
}

/** Main-thread CPU ms since a `mainThreadCpuMs()` reading. */
export const mainThreadCpuMsSince = (from: number): number => mainThreadCpuMs() - from;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A verdict cell: whether a measured value meets a target. */
export const verdict = (ok: boolean): string => (ok ? 'met' : 'NOT met');
