/**
 * Several instances (--group-member): three engines share the partitions of one consumer
 * group over a load-generator data set with out-of-order, late and bad records of every
 * kind. Mid-run one is killed with SIGKILL, another is started, one is stopped
 * gracefully; when the input is consumed, a last member run with --available-now writes
 * the windows still open. Every row must equal the generator's own exact computation, and
 * every bad or late record must be in dead_letters exactly once: the partitions' states
 * moved between instances through PostgreSQL without losing or doubling a record.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLoad } from '../../loadgen/index.js';
import { createSchema, createTopics, KAFKA_BROKER, kafka, PG, uniqueName } from '../helpers.js';
import { assertTablesMatch } from '../expected-rows.js';
import { startEngine, type EngineProcess } from './harness.js';

const EVENTS = Number(process.env.SMARTGRID_INSTANCES_EVENTS ?? 1_000_000);
const PARTITIONS = 4;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test(`3 instances over ${EVENTS} generated events with kill -9, a late joiner and a graceful stop: every row equals the exact expectation`, { timeout: 1_200_000 }, async (t) => {
  const topics = { sensor: uniqueName('mi-s'), meter: uniqueName('mi-m'), weather: uniqueName('mi-w') };
  const { cleanup } = await createTopics(Object.values(topics), PARTITIONS);
  t.after(cleanup);
  const db = await createSchema('mi');
  t.after(db.cleanup);
  const dir = await mkdtemp(join(tmpdir(), 'mi-'));
  t.after(() => rm(dir, { recursive: true, force: true }));

  const summary = await runLoad({
    generate: {
      seed: 14, events: EVENTS, sensors: 600, meters: 200, customers: 50, weatherLocations: 3, spanMs: 24 * 3600000,
      partitions: PARTITIONS, topics, outOfOrderShare: 0.05, lateShare: 0.002, badShare: 0.005, timestampStyle: 'mixed',
    },
    // Small producer batches: each fetched batch covers little event time (see loadgen-vs-engine).
    kafka: { brokers: [KAFKA_BROKER], batchBytes: 16384 },
    expected: true,
  });
  const expected = summary.expected!;
  assert.ok(expected.deadLetters.byReason.late > 0 && expected.deadLetters.byReason.invalid_json > 0);

  const group = uniqueName('mi');
  const args = (id: string, extra: string[] = []): string[] => [
    '--group-member', '--instance-id', id, '--session-timeout', '2s',
    '--kafka-broker', KAFKA_BROKER, '--postgres-host', PG.host, '--postgres-port', String(PG.port),
    '--postgres-db', PG.database, '--postgres-schema', db.schema, '--topic-sensor', topics.sensor, '--topic-meter', topics.meter,
    '--topic-weather', topics.weather, '--group-id', group, '--checkpoint-dir', dir, '--idle-timeout', '0',
    '--metrics-port', '0', '--progress-interval', '1s', '--no-create-topics', '--log-format', 'json', '--log-level', 'info',
    '--max-bytes-per-partition', '16kb', '--checkpoint-interval', '500ms', '--workers', '1',
    ...extra,
  ];
  const running: { id: string; p: EngineProcess }[] = [];
  t.after(async () => {
    for (const { p } of running) p.child.kill('SIGKILL');
    // SMARTGRID_TEST_LOGS=folder keeps every instance's log lines there.
    const logs = process.env.SMARTGRID_TEST_LOGS;
    if (logs !== undefined) {
      for (const [i, { id, p }] of running.entries()) await writeFile(join(logs, `${i}-${id}.log`), p.lines.map((l) => JSON.stringify(l)).join('\n'));
    }
  });
  const start = (id: string, extra: string[] = []): EngineProcess => {
    const p = startEngine(args(id, extra));
    running.push({ id, p });
    return p;
  };
  const processed = (p: EngineProcess): number => {
    let n = 0;
    for (const l of p.lines) if (l.msg === 'progress' && typeof l.records === 'number') n = Math.max(n, l.records);
    return n;
  };
  const admin = kafka('mi-admin').admin();
  await admin.connect();
  t.after(() => admin.disconnect());
  /** Records of the input not yet covered by the group's committed offsets. */
  const lag = async (): Promise<number> => {
    let n = 0;
    for (const topic of Object.values(topics)) {
      const ends = await admin.fetchTopicOffsets(topic);
      const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
      for (const e of ends) {
        const c = Number(committed.partitions.find((p) => p.partition === e.partition)?.offset ?? -1);
        n += Number(e.high) - Math.max(0, c);
      }
    }
    return n;
  };

  /** Waits until at most `share` of the input is left uncommitted. */
  const until = async (share: number): Promise<number> => {
    for (;;) {
      const n = await lag();
      if (n <= EVENTS * share) return n;
      await sleep(200);
    }
  };

  const a = start('a');
  const b = start('b');
  await until(0.9);
  // A third instance joins: the partitions are spread over three.
  const c = start('c');
  await c.waitFor('first records processed');
  const lagAtKill = await until(0.7);
  assert.ok(lagAtKill > 0, 'the run is still going when a is killed');
  a.child.kill('SIGKILL');
  await a.exited;
  const killedAt = Date.now();
  const restoredAfter = (p: EngineProcess) => p.waitFor('partitions restored').then(() => Date.now() - killedAt);
  // Failover: a's partitions are restored on b or c once its session (2 s) expires.
  const failoverMs = await Promise.race([restoredAfter(b), restoredAfter(c)]);
  assert.ok(failoverMs < 30_000, `a's partitions resumed on the others ${failoverMs} ms after the kill`);
  // Its partitions move to b and c once its session (2 s) expires.
  await until(0.45);
  b.child.kill('SIGTERM');
  const bExit = await b.exited;
  assert.equal(bExit.code, 0, 'b stops gracefully');
  assert.ok(b.lines.some((l) => l.msg === 'partitions revoked'), 'b gave its partitions up');
  // c alone now: it takes every partition and consumes the rest of the input.
  const deadline = Date.now() + 600_000;
  while ((await lag()) > 0) {
    assert.ok(Date.now() < deadline, 'the input is consumed within 10 minutes');
    assert.equal(c.child.exitCode, null, `c is running; last lines:\n${c.lines.slice(-10).map((l) => JSON.stringify(l)).join('\n')}`);
    await sleep(1000);
  }
  c.child.kill('SIGTERM');
  assert.equal((await c.exited).code, 0, 'c stops gracefully');
  assert.ok(processed(c) > 0 && processed(b) > 0);

  // The windows still open are written by a member run that ends with the input.
  const last = start('a', ['--available-now']);
  const { code } = await last.exited;
  assert.equal(code, 0, `the available-now member exits 0; last lines:\n${last.lines.slice(-10).map((l) => JSON.stringify(l)).join('\n')}`);

  await assertTablesMatch(db.client, expected, 2);
  const incomplete = (await db.client.query(`SELECT count(*)::int AS n FROM smartgrid_window_completeness WHERE NOT complete`)).rows;
  assert.equal(incomplete[0].n, 0, 'every window is complete once the input is consumed');
  t.diagnostic(`failover after kill -9: ${failoverMs} ms (session timeout 2 s); lag when a was killed: ${lagAtKill}; records processed by b ${processed(b)}, c ${processed(c)}`);
});
