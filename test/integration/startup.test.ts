/**
 * Start-up against the real PostgreSQL: configuration errors fail at once with a plain
 * message; an unreachable database is retried until --startup-timeout; SIGTERM is
 * honoured while retrying; /metrics listens on loopback unless told otherwise.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KAFKA_BROKER, PG, uniqueName } from '../helpers.js';

const CLI = fileURLToPath(new URL('../../src/main/cli.js', import.meta.url));

function engine(args: string[]) {
  const child = spawn(process.execPath, [CLI, '--kafka-broker', KAFKA_BROKER, '--metrics-port', '0', '--log-format', 'json', '--progress-interval', '0', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const lines: Record<string, unknown>[] = [];
  let buf = '';
  child.stderr!.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const l = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        lines.push(JSON.parse(l) as Record<string, unknown>);
      } catch {
        lines.push({ msg: l });
      }
    }
  });
  const t0 = Date.now();
  const exited = new Promise<{ code: number | null; ms: number }>((r) => child.on('exit', (code) => r({ code, ms: Date.now() - t0 })));
  return { child, lines, exited };
}

async function waitFor(lines: Record<string, unknown>[], msg: string, ms = 20000): Promise<Record<string, unknown>> {
  const end = Date.now() + ms;
  for (;;) {
    const l = lines.find((x) => x.msg === msg);
    if (l) return l;
    if (Date.now() > end) throw new Error(`no log line '${msg}'; got ${JSON.stringify(lines.slice(-3))}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('a database that does not exist fails at once with a plain message (no 60 s of retries)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'startup-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const e = engine(['--postgres-host', PG.host, '--postgres-port', String(PG.port), '--postgres-db', uniqueName('nodb'), '--checkpoint-dir', dir]);
  const { code, ms } = await e.exited;
  assert.equal(code, 1);
  assert.ok(ms < 15000, `took ${ms} ms`);
  const err = e.lines.find((l) => l.msg === 'engine stopped on an error');
  assert.match(String(err?.error), /PostgreSQL refused the engine at start-up: the database does not exist \(check --postgres-db/);
});

test('an unreachable PostgreSQL is retried; SIGTERM while retrying exits 0 at once; /metrics is on loopback', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'startup-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const e = engine(['--postgres-host', '127.0.0.1', '--postgres-port', '1', '--startup-timeout', '60s', '--checkpoint-dir', dir]);
  const serving = await waitFor(e.lines, 'serving /metrics, /livez, /readyz and /health');
  assert.equal(serving.host, '127.0.0.1', 'loopback by default');
  await waitFor(e.lines, 'PostgreSQL is not ready; retrying');
  const t0 = Date.now();
  e.child.kill('SIGTERM');
  const { code } = await e.exited;
  assert.equal(code, 0);
  assert.ok(Date.now() - t0 < 5000, `stopped ${Date.now() - t0} ms after SIGTERM`);
  assert.ok(e.lines.some((l) => l.msg === 'stopped before the engine had started'));
});

test('--startup-timeout bounds the retries with a plain message', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'startup-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const e = engine(['--postgres-host', '127.0.0.1', '--postgres-port', '1', '--startup-timeout', '1500ms', '--checkpoint-dir', dir]);
  const { code, ms } = await e.exited;
  assert.equal(code, 1);
  assert.ok(ms < 12000, `took ${ms} ms`);
  const err = e.lines.find((l) => l.msg === 'engine stopped on an error');
  assert.match(String(err?.error), /PostgreSQL was not reachable within --startup-timeout \(1500 ms\)/);
});
