/**
 * The wire client over TLS with SASL against the real broker's SASL_SSL listener, which
 * scripts/services.mjs sets up (self-signed test CA; PLAIN and SCRAM-SHA-256/512 for one
 * test user) and describes in .local/kafka/security.json (KAFKA_SECURITY_FILE to use
 * another). For each mechanism: connect, metadata, ListOffsets and a fetch of records
 * written over PLAINTEXT by kafkajs, committed offsets through the group coordinator, and
 * reconnections (each authenticates again); a wrong password is KAFKA_AUTH_FAILED at once;
 * a CA the client does not trust is KAFKA_TLS_FAILED at once.
 *
 * The tests skip (saying why) only when no SASL_SSL listener is configured for the broker
 * at KAFKA_BROKER: a broker started by an older services.mjs, or another broker.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { KafkaWireClient, KafkaWireError, SASL_MECHANISMS, securityFromFiles, type KafkaWireClientOptions, type SaslMechanism } from '../../src/kafka/index.js';
import { KAFKA_BROKER, createTopics, kafka, uniqueName } from '../helpers.js';
import { readAll } from './reader.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const SECURITY_FILE = process.env.KAFKA_SECURITY_FILE ?? path.join(ROOT, '.local', 'kafka', 'security.json');

interface SecurityInfo {
  host: string;
  plaintextPort: number;
  saslSslPort: number;
  broker: string;
  caFile: string;
  username: string;
  password: string;
  mechanisms: string[];
}

/** The listener's details, or why there is none for the broker under test. */
function listener(): SecurityInfo | string {
  let info: SecurityInfo;
  try {
    info = JSON.parse(fs.readFileSync(SECURITY_FILE, 'utf8')) as SecurityInfo;
  } catch (e) {
    return `no SASL_SSL listener configured: cannot read ${SECURITY_FILE} (${(e as Error).message}); ` +
      'the broker was started by an older scripts/services.mjs: `node scripts/services.mjs down && node scripts/services.mjs up` adds it';
  }
  if (`${info.host}:${info.plaintextPort}` !== KAFKA_BROKER) {
    return `no SASL_SSL listener configured for the broker under test: ${SECURITY_FILE} describes the broker at ${info.host}:${info.plaintextPort}, not KAFKA_BROKER=${KAFKA_BROKER}`;
  }
  return info;
}

const found = listener();
const skip = typeof found === 'string' ? found : false;
if (skip) console.log(`# security.test: skipped: ${skip}`);
const info = found as SecurityInfo;

function client(mechanism: SaslMechanism, extra: Partial<KafkaWireClientOptions> = {}): KafkaWireClient {
  return new KafkaWireClient({
    brokers: [info.broker],
    clientId: 'security-test',
    tls: { ca: fs.readFileSync(info.caFile) },
    sasl: { mechanism, username: info.username, password: info.password },
    retryBackoffMs: 50,
    retryTimeoutMs: 20_000,
    ...extra,
  });
}

test('the SASL_SSL listener offers every mechanism the client has', { skip }, () => {
  assert.deepEqual([...info.mechanisms].sort(), [...SASL_MECHANISMS].sort());
  assert.ok(fs.existsSync(info.caFile), info.caFile);
});

test('PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512: metadata, ListOffsets, fetch and committed offsets over TLS; every reconnection authenticates', { skip }, async (t) => {
  const topic = uniqueName('wire_sec');
  const { cleanup } = await createTopics([topic], 2);
  t.after(cleanup);
  // Written over PLAINTEXT: the SASL_SSL side only reads.
  const expected: { partition: number; key: string; value: string }[] = [];
  for (let i = 0; i < 200; i++) expected.push({ partition: i % 2, key: `k${i}`, value: JSON.stringify({ i, s: 'ü€'.repeat(i % 3) }) });
  const p = kafka('security-test-producer').producer();
  await p.connect();
  await p.send({ topic, messages: expected });
  await p.disconnect();
  const tps = [0, 1].map((partition) => ({ topic, partition }));

  for (const mechanism of SASL_MECHANISMS) {
    await t.test(mechanism, async () => {
      const c = client(mechanism);
      try {
        await c.connect();
        assert.equal(await c.partitionCount(topic), 2);
        // The broker names itself by the listener asked: the SASL_SSL port, not PLAINTEXT's.
        const brokers = (c as unknown as { brokers: Map<number, { host: string; port: number }> }).brokers;
        assert.deepEqual([...brokers.values()].map((b) => `${b.host}:${b.port}`), [info.broker]);
        assert.deepEqual((await c.listOffsets(tps, 'earliest')).map((x) => x.offset), [0n, 0n]);
        assert.deepEqual((await c.listOffsets(tps, 'latest')).map((x) => x.offset), [100n, 100n]);
        const r = await readAll(c, topic, [0, 1], new Map([[0, 100n], [1, 100n]]));
        for (const q of [0, 1]) {
          assert.deepEqual(
            r.records.filter((x) => x.partition === q).map((x) => ({ partition: x.partition, key: x.key, value: x.value })),
            expected.filter((x) => x.partition === q),
          );
        }
        // Group coordinator: FindCoordinator answers with the SASL_SSL listener too.
        const group = uniqueName(`wire_sec_${mechanism}`);
        await c.commitOffsets(group, [{ topic, partition: 1, offset: 42n }]);
        assert.deepEqual((await c.fetchCommittedOffsets(group, tps)).map((x) => x.offset), [-1n, 42n]);

        // Break every connection as a network failure would: the reconnections must
        // authenticate (the broker would close an unauthenticated one at its first request).
        const conns = (c as unknown as { connections: Map<string, Promise<{ destroy: () => void }>> }).connections;
        assert.ok(conns.size >= 1);
        for (const conn of conns.values()) (await conn).destroy();
        assert.deepEqual((await c.listOffsets(tps, 'latest')).map((x) => x.offset), [100n, 100n]);
        const again = await readAll(c, topic, [0, 1], new Map([[0, 100n], [1, 100n]]));
        assert.equal(again.records.length, 200);
      } finally {
        await c.close();
      }
    });
  }
});

test('a wrong password fails at once with KAFKA_AUTH_FAILED naming mechanism and user, not the password', { skip }, async (t) => {
  for (const mechanism of SASL_MECHANISMS) {
    await t.test(mechanism, async () => {
      const wrong = `not-${info.password}`;
      const c = new KafkaWireClient({
        brokers: [info.broker],
        tls: { ca: fs.readFileSync(info.caFile) },
        sasl: { mechanism, username: info.username, password: wrong },
        retryTimeoutMs: 30_000,
      });
      const t0 = Date.now();
      try {
        await assert.rejects(c.connect(), (e: unknown) => {
          assert.ok(e instanceof KafkaWireError, String(e));
          assert.equal(e.code, 'KAFKA_AUTH_FAILED');
          assert.equal(e.canRetry, false);
          assert.match(e.message, new RegExp(`^SASL ${mechanism.toUpperCase()} authentication of user "${info.username}" at ${info.broker} failed: .*Authentication failed`));
          assert.ok(!e.message.includes(wrong) && !e.message.includes(info.password), e.message);
          return true;
        });
      } finally {
        await c.close();
      }
      assert.ok(Date.now() - t0 < 10_000, `took ${Date.now() - t0} ms: the failure was retried`);
    });
  }
  // An unknown user too (SCRAM refuses it at the first message).
  const c = client('scram-sha-256', { sasl: { mechanism: 'scram-sha-256', username: uniqueName('nobody'), password: 'x' } });
  await assert.rejects(c.connect(), (e: unknown) => e instanceof KafkaWireError && e.code === 'KAFKA_AUTH_FAILED');
  await c.close();
});

test('a broker certificate the client does not trust fails at once with KAFKA_TLS_FAILED saying what to set', { skip }, async () => {
  // The system's CAs only: the local test CA is not among them.
  const c = client('plain', { tls: {}, retryTimeoutMs: 30_000 });
  const t0 = Date.now();
  try {
    await assert.rejects(c.connect(), (e: unknown) => {
      assert.ok(e instanceof KafkaWireError, String(e));
      assert.equal(e.code, 'KAFKA_TLS_FAILED');
      assert.equal(e.canRetry, false);
      assert.match(e.message, new RegExp(`^TLS handshake with ${info.broker} failed: the broker's certificate is not trusted \\((SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)`));
      assert.match(e.message, /Set tls\.ca/);
      assert.ok(e.cause instanceof Error);
      return true;
    });
  } finally {
    await c.close();
  }
  assert.ok(Date.now() - t0 < 10_000, `took ${Date.now() - t0} ms: the failure was retried`);
  // Without verification (tests only) the same listener is fine.
  const insecure = client('plain', { tls: { rejectUnauthorized: false } });
  await insecure.connect();
  await insecure.close();
});

test('the wrong kind of listener: no TLS on the SASL_SSL port is KAFKA_TLS_FAILED; SASL on the PLAINTEXT port is KAFKA_AUTH_FAILED', { skip }, async () => {
  const plain = new KafkaWireClient({ brokers: [info.broker], retryTimeoutMs: 30_000 });
  await assert.rejects(plain.connect(), (e: unknown) => {
    assert.ok(e instanceof KafkaWireError && e.code === 'KAFKA_TLS_FAILED', String(e));
    assert.match(e.message, /answered in TLS/);
    return true;
  });
  await plain.close();
  const sasl = new KafkaWireClient({ brokers: [KAFKA_BROKER], sasl: { mechanism: 'plain', username: info.username, password: info.password }, retryTimeoutMs: 30_000 });
  await assert.rejects(sasl.connect(), (e: unknown) => {
    assert.ok(e instanceof KafkaWireError && e.code === 'KAFKA_AUTH_FAILED', String(e));
    assert.match(e.message, /no SASL mechanism enabled: is this a SASL listener\?/);
    return true;
  });
  await sasl.close();
});

test('securityFromFiles: the options an operator gives as files connect (SCRAM-SHA-512, CA file, password file)', { skip }, async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'sg-sec-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const passwordFile = path.join(dir, 'password');
  await writeFile(passwordFile, `${info.password}\n`, { mode: 0o600 });
  const security = await securityFromFiles({ ca: info.caFile, mechanism: 'SCRAM-SHA-512', username: info.username, passwordFile });
  const c = new KafkaWireClient({ brokers: [info.broker], ...security });
  try {
    await c.connect();
    assert.ok((await c.partitionCount('__consumer_offsets')) >= 1);
  } finally {
    await c.close();
  }
});

test('the engine over SASL_SSL: its flags (CA file, SCRAM-SHA-256, password file) read a topic into PostgreSQL', { skip }, async (t) => {
  const { createApp } = await import('../../src/main/app.js');
  const { loadConfig } = await import('../../src/main/config.js');
  const { silentLogger } = await import('../../src/common/log.js');
  const { createSchema, PG } = await import('../helpers.js');
  const topics = { sensor: uniqueName('sec-s'), meter: uniqueName('sec-m'), weather: uniqueName('sec-w') };
  const { cleanup } = await createTopics(Object.values(topics), 1);
  t.after(cleanup);
  const db = await createSchema('sec');
  t.after(db.cleanup);
  const dir = await mkdtemp(path.join(tmpdir(), 'sec-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const pw = path.join(dir, 'password');
  await writeFile(pw, info.password + '\n', { mode: 0o600 });
  const p = kafka('sec-engine').producer();
  await p.connect();
  const at = Date.UTC(2026, 10, 28);
  await p.send({
    topic: topics.sensor,
    messages: Array.from({ length: 50 }, (_, i) => ({
      value: JSON.stringify({ sensor_id: 's1', sensor_type: 'voltage', value: i, timestamp: new Date(at + i * 1000).toISOString() }),
    })),
  });
  await p.disconnect();
  const argv = [
    '--available-now', '--kafka-broker', info.broker, '--kafka-tls-ca', info.caFile, '--kafka-sasl-mechanism', 'scram-sha-256',
    '--kafka-sasl-username', info.username, '--kafka-sasl-password-file', pw, '--postgres-host', PG.host, '--postgres-port', String(PG.port),
    '--postgres-db', PG.database, '--postgres-schema', db.schema, '--topic-sensor', topics.sensor, '--topic-meter', topics.meter,
    '--topic-weather', topics.weather, '--group-id', uniqueName('sec'), '--checkpoint-dir', dir, '--metrics-port', '0', '--no-create-topics',
    '--max-future-skew', '0',
  ];
  const app = createApp(loadConfig(argv, {}).config, silentLogger);
  try {
    await app.run();
  } finally {
    await app.close();
  }
  const rows = (await db.client.query('SELECT count::int, avg_value FROM sensor_aggregates_realtime')).rows;
  assert.deepEqual(rows, [{ count: 50, avg_value: '24.5000' }]);
});
