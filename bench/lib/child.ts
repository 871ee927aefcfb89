/**
 * Benchmark phases run in child processes, so that each one's wall time, CPU time and
 * peak RSS are its own (worker threads included: they live in the child's process).
 * The parent sends one request over IPC and gets one reply.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { LIB_DIR } from './common.js';

export interface ChildHandle<T> {
  child: ChildProcess;
  /** The child's one reply (rejects if it exits without replying). */
  reply: Promise<T>;
  send(msg: unknown): void;
}

/** Forks `dist/bench/lib/<name>.js`, sends it `request`, and waits for its reply. */
export function startChild<T>(name: string, request: unknown, execArgv: string[] = []): ChildHandle<T> {
  const child = fork(join(LIB_DIR, `${name}.js`), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv,
    serialization: 'advanced',
  });
  const reply = new Promise<T>((resolve, reject) => {
    let got = false;
    child.once('message', (m: unknown) => {
      const r = m as { error?: string };
      got = true;
      if (r !== null && typeof r === 'object' && typeof r.error === 'string') reject(new Error(`${name}: ${r.error}`));
      else resolve(m as T);
    });
    child.once('exit', (code, signal) => {
      if (!got) reject(new Error(`${name} exited (${signal ?? code}) without a result`));
    });
    child.once('error', reject);
  });
  child.send(request as never);
  return { child, reply, send: (msg) => child.send(msg as never) };
}

/** In a child: handles the one request; the reply (or the error) goes back to the parent. */
export function serveChild<Req, Res>(handler: (req: Req, onMessage: (fn: (m: unknown) => void) => void) => Promise<Res>): void {
  const listeners: ((m: unknown) => void)[] = [];
  let first = true;
  process.on('message', (m: unknown) => {
    if (!first) {
      for (const l of listeners) l(m);
      return;
    }
    first = false;
    handler(m as Req, (fn) => listeners.push(fn)).then(
      (res) => process.send!(res as never, () => process.exit(0)),
      (e: unknown) => {
        const err = e instanceof Error ? (e.stack ?? e.message) : String(e);
        process.send!({ error: err } as never, () => process.exit(1));
      },
    );
  });
  // The parent going away ends the child.
  process.on('disconnect', () => process.exit(1));
}
