/**
 * Where the machine's CPU went during a phase, from /proc (Linux only; elsewhere the
 * figures are zero): all cores together, the Kafka broker, PostgreSQL (all its processes)
 * and one chosen process (the benchmark's child).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { clockTicks, ROOT } from './common.js';

interface Snapshot {
  at: number;
  busy: number;
  total: number;
  broker: number;
  postgres: number;
  child: number;
}

export interface CpuShare {
  seconds: number;
  /** Average busy cores over all cores (0 .. nproc). */
  machineCores: number;
  brokerCores: number;
  postgresCores: number;
  childCores: number;
}

function read(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/**
 * utime + stime (ticks) of one process, 0 if gone; with `reaped`, also the time of its
 * exited children (PostgreSQL backends end with their connection; the postmaster reaps them).
 */
function procTicks(pid: number, reaped = false): number {
  const s = read(`/proc/${pid}/stat`);
  const close = s.lastIndexOf(')');
  if (close < 0) return 0;
  const f = s.slice(close + 2).split(' ');
  return Number(f[11]) + Number(f[12]) + (reaped ? Number(f[13]) + Number(f[14]) : 0);
}

function brokerPid(): number {
  try {
    const j = JSON.parse(read(join(ROOT, '.local', 'services.json'))) as { kafka?: { pid?: number } };
    return j.kafka?.pid ?? 0;
  } catch {
    return 0;
  }
}

function postgresTicks(): number {
  let sum = 0;
  let names: string[] = [];
  try {
    names = readdirSync('/proc');
  } catch {
    return 0;
  }
  for (const n of names) {
    if (!/^\d+$/.test(n)) continue;
    const s = read(`/proc/${n}/stat`);
    if (!s.includes('(postgres)')) continue;
    sum += procTicks(Number(n), true);
  }
  return sum;
}

export class SystemCpu {
  private readonly broker = brokerPid();
  private start: Snapshot;
  constructor(private child = 0) {
    this.start = this.snap();
  }

  setChild(pid: number): void {
    this.child = pid;
  }

  private snap(): Snapshot {
    const line = read('/proc/stat').split('\n')[0] ?? '';
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    const total = v.slice(0, 8).reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
    return {
      at: performance.now(),
      busy: total - idle,
      total,
      broker: this.broker > 0 ? procTicks(this.broker) : 0,
      postgres: postgresTicks(),
      child: this.child > 0 ? procTicks(this.child) : 0,
    };
  }

  /** Resets the start of the phase. */
  reset(): void {
    this.start = this.snap();
  }

  /** Sample the child's ticks now (call just before it exits). */
  childTicks(): number {
    return this.child > 0 ? procTicks(this.child) : 0;
  }

  /** Average cores used since the start (or reset). */
  share(childTicksAtEnd?: number): CpuShare {
    const e = this.snap();
    const seconds = (e.at - this.start.at) / 1000;
    const tick = clockTicks();
    const cores = (ticks: number): number => (seconds > 0 ? Math.round((ticks / tick / seconds) * 100) / 100 : 0);
    const childEnd = childTicksAtEnd ?? e.child;
    return {
      seconds: Math.round(seconds * 10) / 10,
      machineCores: cores(e.busy - this.start.busy),
      brokerCores: cores(e.broker - this.start.broker),
      postgresCores: cores(e.postgres - this.start.postgres),
      childCores: cores(childEnd - this.start.child),
    };
  }
}
