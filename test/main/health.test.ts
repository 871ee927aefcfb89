/**
 * Probes and Kafka outage logging with a fake engine status and clock: readiness reasons,
 * liveness, one log line per Kafka outage. The same probes on a live engine with real
 * Kafka and PostgreSQL: test/integration/operations.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { logLevel } from 'kafkajs';
import { KafkaReachability, Probes, type EngineProbeStatus } from '../../src/main/health.js';
import { kafkaLogger } from '../../src/main/kafka-source.js';
import { createLogger } from '../../src/common/log.js';
import { EngineMetrics } from '../../src/main/metrics.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ level: 'debug', json: true, write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) });
  return { log, lines, at: (level: string) => lines.filter((l) => l.level === level) };
}

function setup(opts: { unreachableAfter?: number } = {}) {
  let now = 1_000_000;
  const clock = () => now;
  const status: EngineProbeStatus = { started: true, assigned: 0, lastAssignmentChange: now, fatal: null };
  const m = new EngineMetrics();
  const out = capture();
  const kafka = new KafkaReachability(out.log, clock);
  const probes = new Probes({ status: () => status }, m, kafka, { kafkaUnreachableAfterMs: opts.unreachableAfter ?? 30_000 });
  return { probes, status, m, kafka, out, advance: (ms: number) => (now += ms), now: () => now };
}

test('readyz: 503 until partitions are first assigned, then 200', () => {
  const s = setup();
  s.kafka.answered();
  const before = s.probes.readyz(s.now());
  assert.equal(before.status, 'unavailable');
  assert.match(before.reasons.join(), /waiting for the consumer group to assign partitions/);
  s.status.assigned = 3;
  s.probes.assigned(3, s.now());
  assert.deepEqual(s.probes.readyz(s.now()), { status: 'ok', reasons: [] });
  assert.equal(s.probes.health(s.now()).status, 'ok');
});

test('readyz: an empty assignment is not an assignment', () => {
  const s = setup();
  s.kafka.answered();
  s.probes.assigned(0, s.now());
  assert.equal(s.probes.readyz(s.now()).status, 'unavailable');
});

test('readyz: 503 while Kafka has not answered for longer than the limit, 200 once it answers', () => {
  const s = setup({ unreachableAfter: 30_000 });
  s.status.assigned = 1;
  s.probes.assigned(1, s.now());
  s.kafka.answered();
  s.advance(29_000);
  s.kafka.failed('k1:9092', 'Connection error: connect ECONNREFUSED');
  assert.equal(s.probes.readyz(s.now()).status, 'ok', 'within the limit');
  s.advance(2_000);
  const r = s.probes.readyz(s.now());
  assert.equal(r.status, 'unavailable');
  assert.deepEqual(r.reasons, ['Kafka has not answered for 31 s (k1:9092: Connection error: connect ECONNREFUSED)']);
  assert.equal(s.probes.health(s.now()).kafkaUnreachableSeconds, 31);
  assert.equal(s.probes.livez().status, 'ok', 'an outage is not a reason to restart');
  s.kafka.answered();
  assert.equal(s.probes.readyz(s.now()).status, 'ok');
});

test('readyz: Kafka never reachable since the start', () => {
  const s = setup({ unreachableAfter: 1000 });
  s.advance(5000);
  const r = s.probes.readyz(s.now());
  assert.deepEqual(r.reasons, ['waiting for the consumer group to assign partitions', 'Kafka has not answered since the start 5 s ago']);
});

test('readyz: 503 while PostgreSQL writes fail, at once', () => {
  const s = setup();
  s.status.assigned = 1;
  s.probes.assigned(1, s.now());
  s.kafka.answered();
  s.m.sinkFailingSince = s.now();
  s.advance(1000);
  assert.match(s.probes.readyz(s.now()).reasons.join(), /PostgreSQL writes are failing \(for 1 s\)/);
  const h = s.probes.health(s.now());
  assert.equal(h.status, 'unhealthy');
  assert.equal(h.live.status, 'ok');
  assert.equal(h.sinkFailingSeconds, 1);
  s.m.sinkFailingSince = null;
  assert.equal(s.probes.readyz(s.now()).status, 'ok');
});

test('livez: 503 once the engine has failed; health combines both', () => {
  const s = setup();
  s.status.fatal = 'worker crashed';
  assert.deepEqual(s.probes.livez(), { status: 'unavailable', reasons: ['the engine failed: worker crashed'] });
  const h = s.probes.health(s.now());
  assert.equal(h.status, 'unhealthy');
  assert.equal(h.reasons.filter((r) => r.includes('worker crashed')).length, 1, 'a reason is listed once');
});

test('Kafka outage: one warning when it starts, one reminder a minute, one line when it ends', () => {
  const s = setup();
  s.kafka.answered();
  for (let i = 0; i < 50; i++) {
    s.advance(1000);
    s.kafka.failed('k1:9092', 'Connection error: connect ECONNREFUSED 10.0.0.1:9092');
  }
  s.advance(20_000);
  s.kafka.failed('k1:9092', 'Connection timeout');
  s.kafka.answered();
  s.kafka.answered();
  const warns = s.out.at('warn');
  assert.equal(warns.length, 2, JSON.stringify(warns));
  assert.equal(warns[0].msg, 'Kafka unreachable; the client keeps retrying');
  assert.equal(warns[0].broker, 'k1:9092');
  assert.equal(warns[1].msg, 'Kafka still unreachable; the client keeps retrying');
  assert.equal(warns[1].failingForSeconds, 69);
  const infos = s.out.at('info');
  assert.equal(infos.length, 1);
  assert.equal(infos[0].msg, 'Kafka answers again');
  assert.equal(infos[0].failedForSeconds, 69);
  assert.equal(infos[0].lastError, 'Connection timeout');
});

test('kafka client log: connection errors go to the outage tracker, no stack traces anywhere', () => {
  const out = capture();
  const failures: [string, string][] = [];
  const logger = kafkaLogger(out.log, { answered: () => {}, failed: (b, e) => failures.push([b, e]) }, ['seed:9092'])();
  const entry = (level: logLevel, message: string, extra: Record<string, unknown> = {}) =>
    logger({ namespace: 'Connection', level, label: 'ERROR', log: { timestamp: 'x', logger: 'kafkajs', message, ...extra } });
  entry(logLevel.ERROR, 'Connection error: connect ECONNREFUSED 127.0.0.1:9092', { broker: '127.0.0.1:9092', stack: 'Error: at …' });
  entry(logLevel.ERROR, 'Failed to connect to seed broker, trying another broker from the list: Connection error: connect ECONNREFUSED 127.0.0.1:9092', { retryCount: 3 });
  entry(logLevel.ERROR, 'Connection timeout', { broker: 'k2:9093' });
  entry(logLevel.ERROR, 'Crash: KafkaJSNonRetriableError: something else', { groupId: 'g', stack: 'Error: at …' });
  assert.deepEqual(failures, [
    ['127.0.0.1:9092', 'Connection error: connect ECONNREFUSED 127.0.0.1:9092'],
    ['127.0.0.1:9092', 'Failed to connect to seed broker, trying another broker from the list: Connection error: connect ECONNREFUSED 127.0.0.1:9092'],
    ['k2:9093', 'Connection timeout'],
  ]);
  const shown = out.lines.filter((l) => l.level !== 'debug');
  assert.equal(shown.length, 1, 'only the crash is shown');
  assert.equal(shown[0].msg, 'kafka: Crash: KafkaJSNonRetriableError: something else');
  for (const l of out.lines) assert.equal(l.stack, undefined);
});
