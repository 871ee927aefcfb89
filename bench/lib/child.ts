/**
 * Benchmark phases run in child processes, so that each one's wall time, CPU time and
 * peak RSS are its own (worker threads included: they live in the child's process).
 * The parent sends one request over IPC and gets one reply; in between, either side may
 * send events (the parent's are `send(msg)`, the child's arrive at `onEvent`).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { LIB_DIR } from './common.js';

type Wire = { kind: 'reply'; data: unknown } | { kind: 'error'; error: string } | { kind: 'event'; data: unknown };

export interface ChildHandle<T> {
  child: ChildProcess;
  /** The child's one reply (rejects if it fails or exits without replying). */
  reply: Promise<T>;
  send(msg: unknown): void;
}

/** Forks `dist/bench/lib/<name>.js`, sends it `request`, and waits for its reply. */
export function startChild<T>(name: string, request: unknown, onEvent?: (e: unknown) => void, execArgv: string[] = []): ChildHandle<T> {
  const child = fork(join(LIB_DIR, `${name}.js`), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv,
    serialization: 'advanced',
  });
  const reply = new Promise<T>((resolve, reject) => {
    let got = false;
    child.on('message', (m: unknown) => {
      const w = m as Wire;
      if (w.kind === 'event') {
        onEvent?.(w.data);
        return;
      }
      got = true;
      if (w.kind === 'error') reject(new Error(`${name}: ${w.error}`));
      else resolve(w.data as T);
    });
    child.once('exit', (code, signal) => {
      if (!got) reject(new Error(`${name} exited (${signal ?? code}) without a result`));
    });
    child.once('error', reject);
  });
  child.send(request as never);
  return { child, reply, send: (msg) => child.send(msg as never) };
}

export interface ChildContext {
  /** Messages the parent sends after the request. */
  onMessage(fn: (m: unknown) => void): void;
  emit(event: unknown): void;
}

/** In a child: handles the one request; the reply (or the error) goes back to the parent. */
export function serveChild<Req, Res>(handler: (req: Req, ctx: ChildContext) => Promise<Res>): void {
  const listeners: ((m: unknown) => void)[] = [];
  let first = true;
  const send = (w: Wire, then?: () => void): void => {
    if (then === undefined) process.send!(w as never);
    else process.send!(w as never, () => then());
  };
  process.on('message', (m: unknown) => {
    if (!first) {
      for (const l of listeners) l(m);
      return;
    }
    first = false;
    const ctx: ChildContext = { onMessage: (fn) => listeners.push(fn), emit: (data) => send({ kind: 'event', data }) };
    handler(m as Req, ctx).then(
      (data) => send({ kind: 'reply', data }, () => process.exit(0)),
      (e: unknown) => send({ kind: 'error', error: e instanceof Error ? (e.stack ?? e.message) : String(e) }, () => process.exit(1)),
    );
  });
  // The parent going away ends the child.
  process.on('disconnect', () => process.exit(1));
}
