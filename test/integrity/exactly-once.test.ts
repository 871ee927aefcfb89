/**
 * Exactly-once across crashes, outages and restarts (contract section 5): every scenario
 * processes the same 200k-record data set with its own consumer group, checkpoint
 * directory and PostgreSQL schema, and must end with tables equal, row for row and value
 * for value, to those of one uninterrupted --available-now run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, rm, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createTopics, PG, uniqueName } from '../helpers.js';
import { dumpTables, engineArgs, produceDataset, runToCompletion, SERVICES, SLOW, startEngine, type Dump, type Topics } from './harness.js';

const PARTITIONS = 4;
const WEATHER_RECORDS = 1250;

test('exactly-once results across kill -9, PostgreSQL outages, broker restarts and corrupt snapshots', { timeout: 1_500_000 }, async (t) => {
  const topics: Topics = { sensor: uniqueName('int-sensor'), meter: uniqueName('int-meter'), weather: uniqueName('int-weather') };
  const { cleanup } = await createTopics(Object.values(topics), PARTITIONS);
  t.after(cleanup);
  const total = await produceDataset(topics, PARTITIONS);
  assert.ok(total >= 200000, `${total} records`);

  const admin = new pg.Client(PG);
  await admin.connect();
  const schemas: string[] = [];
  const dirs: string[] = [];
  t.after(async () => {
    for (const s of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
    await admin.end();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });
  const scenario = async (name: string) => {
    const schema = uniqueName(name).toLowerCase();
    schemas.push(schema);
    const checkpointDir = await mkdtemp(join(tmpdir(), `${name}-`));
    dirs.push(checkpointDir);
    return { schema, checkpointDir, group: uniqueName(name) };
  };

  // The reference: one uninterrupted run.
  const ref = await scenario('ref');
  await runToCompletion(engineArgs({ topics, ...ref }));
  const expected: Dump = await dumpTables(ref.schema);
  const weatherDead = expected.dead.filter((d) => d.topic === topics.weather).length;
  const sum = expected.sensor.reduce((n, r) => n + Number(r.count), 0) + expected.meter.reduce((n, r) => n + Number(r.reading_count), 0);
  assert.equal(sum + expected.dead.length + (WEATHER_RECORDS - weatherDead), total, 'the reference accounts for every record once');
  assert.ok(expected.dead.length > 1000 && expected.sensor.length > 1000 && expected.weather.length > 0);

  const same = async (schema: string, what: string) => {
    const got = await dumpTables(schema);
    assert.equal(got.sensor.length, expected.sensor.length, `${what}: sensor rows`);
    assert.equal(got.meter.length, expected.meter.length, `${what}: consumption rows`);
    assert.equal(got.dead.length, expected.dead.length, `${what}: dead letters`);
    assert.deepEqual(got, expected, what);
  };

  await t.test('kill -9 at random moments and right after flushes and checkpoints, five times or more', async () => {
    const s = await scenario('crash');
    const args = engineArgs({ topics, ...s, extra: SLOW });
    const plan = ['random', 'flushed', 'checkpoint', 'random', 'flushed', 'checkpoint'];
    let kills = 0;
    const resumeMs: number[] = [];
    for (const mode of plan) {
      const spawnedAt = Date.now();
      const p = startEngine(args);
      if (kills > 0) {
        // After a kill -9: how soon is the restarted engine processing records again?
        void p.waitFor('first records processed').then(() => resumeMs.push(Date.now() - spawnedAt));
      }
      // Measured from the moment the (re)started engine owns its partitions: after a
      // kill -9 the group first waits out the dead member's session.
      const trigger = p.waitFor('partitions assigned').then(() =>
        mode === 'random' ? new Promise((r) => setTimeout(r, 50 + Math.floor(Math.random() * 200))) : p.waitFor(mode),
      );
      const outcome = await Promise.race([trigger.then(() => 'kill'), p.exited.then(() => 'exited')]);
      if (outcome === 'exited') {
        const { code } = await p.exited;
        assert.equal(code, 0, 'an attempt may only end by finishing');
        break;
      }
      p.child.kill('SIGKILL');
      const { signal } = await p.exited;
      assert.equal(signal, 'SIGKILL');
      kills++;
      const progress = p.lines.filter((l) => l.msg === 'flushed').length;
      t.diagnostic(`kill ${kills} (${mode}) after ${progress} flushes in this attempt`);
    }
    assert.ok(kills >= 5, `only ${kills} kills happened before the run finished`);
    // The wire source assigns partitions from the snapshot: no group session to wait out.
    // Target 3 s on a quiet machine; the bound here is generous for a loaded CI machine.
    t.diagnostic(`processing again after kill -9 + restart (ms from spawn): ${resumeMs.join(', ')}`);
    // (A restart killed before its first batch was merged reports nothing.)
    assert.ok(resumeMs.length >= 2, `only ${resumeMs.length} restarts reported their first records`);
    assert.ok(Math.max(...resumeMs) < 15000, `a restart took ${Math.max(...resumeMs)} ms to process records again`);
    await runToCompletion(args);
    await same(s.schema, 'after kill -9 and restarts');
  });

  await t.test('PostgreSQL refuses writes and drops connections for a while; nothing is lost', async () => {
    const s = await scenario('pgout');
    const role = s.schema + '_role';
    await admin.query(`CREATE ROLE ${role} LOGIN`);
    t.after(() => admin.query(`DROP OWNED BY ${role} CASCADE; DROP ROLE IF EXISTS ${role}`).catch(() => {}));
    await admin.query(`CREATE SCHEMA ${s.schema} AUTHORIZATION ${role}`);
    const p = startEngine(engineArgs({ topics, ...s, extra: SLOW }), { POSTGRES_USER: role });
    // The tables exist once the engine starts reading; from then on it cannot write.
    await p.waitFor(/^available-now: processing/);
    await admin.query(`REVOKE INSERT, UPDATE ON ALL TABLES IN SCHEMA ${s.schema} FROM ${role}`);
    await p.waitFor(/PostgreSQL write failed/);
    // While writes fail, fetching pauses: the records read stop growing (bounded memory).
    const readSoFar = () => Number([...p.lines].reverse().find((l) => l.msg === 'progress')?.records ?? -1);
    await new Promise((r) => setTimeout(r, 1500));
    const before = readSoFar();
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(readSoFar(), before, 'no records are read while the sink is down');
    assert.ok(before < total, 'the outage struck mid-run');
    for (let i = 0; i < 6; i++) {
      await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, [role]);
      await new Promise((r) => setTimeout(r, 500));
    }
    await admin.query(`GRANT INSERT, UPDATE ON ALL TABLES IN SCHEMA ${s.schema} TO ${role}`);
    const { code } = await p.exited;
    assert.equal(code, 0, p.lines.slice(-10).map((l) => JSON.stringify(l)).join('\n'));
    assert.ok(p.lines.some((l) => l.msg === 'PostgreSQL writes succeed again; resuming'));
    await same(s.schema, 'after a PostgreSQL outage');
  });

  await t.test('the Kafka broker stops and starts again mid-run', async () => {
    const s = await scenario('kafkart');
    const p = startEngine(engineArgs({ topics, ...s, extra: SLOW }));
    // As soon as it reads (the wire source reads the whole input within a few flushes).
    await p.waitFor('first records processed');
    // Freeze the engine mid-run while the broker stops, then let it run against the
    // stopped broker for a while before the broker comes back.
    p.child.kill('SIGSTOP');
    const down = spawnSync(process.execPath, [SERVICES, 'down', '--no-postgres'], { encoding: 'utf8' });
    p.child.kill('SIGCONT');
    assert.equal(down.status, 0, down.stderr + down.stdout);
    await new Promise((r) => setTimeout(r, 4000));
    const up = spawnSync(process.execPath, [SERVICES, 'up', '--no-postgres'], { encoding: 'utf8' });
    assert.equal(up.status, 0, up.stderr + up.stdout);
    const timer = setTimeout(() => p.child.kill('SIGKILL'), 240000);
    const { code } = await p.exited;
    clearTimeout(timer);
    assert.equal(code, 0, p.lines.slice(-10).map((l) => JSON.stringify(l)).join('\n'));
    // Connection failures are reported once per outage ('Kafka unreachable; …'); other
    // client problems (a failed heartbeat, a rejoin) as 'kafka: …' warnings.
    const noticed = p.lines.filter(
      (l) => l.msg === 'Kafka unreachable; the client keeps retrying' || (String(l.msg).startsWith('kafka: ') && l.level !== 'debug'),
    );
    t.diagnostic(`the engine logged ${noticed.length} Kafka client problems, e.g. ${JSON.stringify(noticed[0]?.msg)}`);
    assert.ok(noticed.length > 0, 'the engine really ran into the stopped broker');
    await same(s.schema, 'after a broker restart');
  });

  await t.test('SIGTERM mid-run stops gracefully (exit 0, bounded time); the next run finishes exactly', async () => {
    const s = await scenario('sigterm');
    const args = engineArgs({ topics, ...s, extra: SLOW });
    const live = args.filter((a) => a !== '--available-now');
    const p = startEngine(live);
    await p.waitFor('partitions assigned');
    await p.waitFor('flushed');
    const t0 = Date.now();
    p.child.kill('SIGTERM');
    const { code } = await p.exited;
    const took = Date.now() - t0;
    assert.equal(code, 0, p.lines.slice(-10).map((l) => JSON.stringify(l)).join('\n'));
    assert.ok(took < 30000, `stopped in ${took} ms`);
    assert.ok(p.lines.some((l) => l.msg === 'stopped'));
    t.diagnostic(`graceful stop took ${took} ms`);
    await runToCompletion(args);
    await same(s.schema, 'after a graceful stop and a restart');
  });

  await t.test('a truncated newest snapshot falls back to the previous one', async () => {
    const s = await scenario('corrupt');
    const args = engineArgs({ topics, ...s, extra: SLOW });
    const p = startEngine(args);
    // Let a few checkpoints happen (and offsets be committed past the older ones).
    await p.waitFor('partitions assigned');
    for (let i = 0; i < 3; i++) await p.waitFor('checkpoint');
    p.child.kill('SIGKILL');
    await p.exited;
    const dir = join(s.checkpointDir, s.group);
    const snaps = (await readdir(dir)).filter((f) => /^snapshot-\d+\.bin$/.test(f)).sort();
    assert.ok(snaps.length >= 2, `snapshots: ${snaps}`);
    await truncate(join(dir, snaps[snaps.length - 1]), 100);
    const done = await runToCompletion(args);
    assert.ok(done.lines.some((l) => l.msg === 'checkpoint is unreadable; falling back to the previous one'));
    await same(s.schema, 'after falling back from a corrupt snapshot');
  });

  const refusal = (p: { lines: Record<string, unknown>[] }) =>
    p.lines.find((l) => l.msg === 'engine stopped on an error' && l.code === 'INSTANCE_CONFLICT');

  await t.test('a second engine on the same checkpoint directory refuses and says why; the tables stay exact', async () => {
    const s = await scenario('samedir');
    const args = engineArgs({ topics, ...s, extra: SLOW });
    const first = startEngine(args);
    await first.waitFor('partitions assigned');
    const second = startEngine(args);
    const { code } = await second.exited;
    assert.equal(code, 1);
    const why = refusal(second);
    assert.ok(why, second.lines.slice(-5).map((l) => JSON.stringify(l)).join('\n'));
    assert.match(String(why.error), /checkpoint directory .* is locked by another running engine instance \(pid \d+/);
    t.diagnostic(`refusal: ${String(why.error).slice(0, 160)}…`);
    const done = await first.exited;
    assert.equal(done.code, 0, first.lines.slice(-10).map((l) => JSON.stringify(l)).join('\n'));
    await same(s.schema, 'with a second engine on the same directory');
  });

  await t.test('a second engine with the same group id on another directory refuses; the tables stay exact', async () => {
    const s = await scenario('twodirs');
    const first = startEngine(engineArgs({ topics, ...s, extra: SLOW }));
    await first.waitFor('partitions assigned');
    const otherDir = await mkdtemp(join(tmpdir(), 'twodirs-b-'));
    dirs.push(otherDir);
    const second = startEngine(engineArgs({ topics, ...s, checkpointDir: otherDir, extra: SLOW }));
    const { code } = await second.exited;
    assert.equal(code, 1);
    const why = refusal(second);
    assert.ok(why, second.lines.slice(-5).map((l) => JSON.stringify(l)).join('\n'));
    // The wire source is no group member: the group's lock in PostgreSQL is what it meets.
    assert.match(String(why.error), /another engine instance already runs consumer group '.*' \(it holds the group's lock in PostgreSQL: smartgrid-stream@/);
    const done = await first.exited;
    assert.equal(done.code, 0, first.lines.slice(-10).map((l) => JSON.stringify(l)).join('\n'));
    await same(s.schema, 'with a second engine in the same group on another machine');
  });

  await t.test('two engines started at the same moment with one group id: exactly one refuses; the tables stay exact', async () => {
    const s = await scenario('together');
    const otherDir = await mkdtemp(join(tmpdir(), 'together-b-'));
    dirs.push(otherDir);
    const a = startEngine(engineArgs({ topics, ...s, extra: SLOW }));
    const b = startEngine(engineArgs({ topics, ...s, checkpointDir: otherDir, extra: SLOW }));
    const [ra, rb] = await Promise.all([a.exited, b.exited]);
    const codes = [ra.code, rb.code].sort();
    const loser = ra.code === 0 ? b : a;
    const winner = ra.code === 0 ? a : b;
    assert.deepEqual(codes, [0, 1], `${JSON.stringify(loser.lines.slice(-3))}`);
    const error = loser.lines.find((l) => l.msg === 'engine stopped on an error');
    assert.ok(error && ['INSTANCE_CONFLICT', 'CHECKPOINT_MISSING'].includes(String(error.code)), JSON.stringify(error));
    t.diagnostic(`the later engine refused with ${String(error.code)}`);
    // The winner writes into the first engine's directory or the other; either way the
    // rows come from one owner only.
    assert.ok(winner.lines.some((l) => l.msg === 'available-now run complete'));
    await same(s.schema, 'with two engines started at once');
  });
});
