/**
 * Shared test fixtures: the real local Kafka broker and PostgreSQL (started with
 * `npm run services:up`), unique topic names and a unique PostgreSQL schema per test file.
 */
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import pg from 'pg';
import { route } from '../src/main/router.js';
import type { AggregateTask, Kind } from '../src/workers/protocol.js';

export const KAFKA_BROKER = process.env.KAFKA_BROKER ?? '127.0.0.1:9092';
export const PG = {
  host: process.env.POSTGRES_HOST ?? '127.0.0.1',
  port: Number(process.env.POSTGRES_PORT ?? 5432),
  database: process.env.POSTGRES_DB ?? 'test',
  user: process.env.POSTGRES_USER ?? 'postgres',
  password: process.env.POSTGRES_PASSWORD ?? '',
};

/** A short random suffix for topic, group and schema names. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
}

export function kafka(clientId = 'test'): Kafka {
  return new Kafka({ clientId, brokers: [KAFKA_BROKER], logLevel: logLevel.NOTHING });
}

/** Creates topics (waiting for leaders) and returns a cleanup function that deletes them. */
export async function createTopics(
  names: string[],
  partitions = 1,
): Promise<{ admin: Admin; cleanup: () => Promise<void> }> {
  const admin = kafka('test-admin').admin();
  await admin.connect();
  await admin.createTopics({
    waitForLeaders: true,
    topics: names.map((topic) => ({ topic, numPartitions: partitions, replicationFactor: 1 })),
  });
  return {
    admin,
    cleanup: async () => {
      try {
        await admin.deleteTopics({ topics: names, timeout: 10000 });
      } finally {
        await admin.disconnect();
      }
    },
  };
}

/**
 * A fresh PostgreSQL schema, set as the search_path of every connection made with
 * `connection`; dropped (with everything in it) by `cleanup`.
 */
export async function createSchema(prefix = 't'): Promise<{
  schema: string;
  connection: pg.ClientConfig & { options: string };
  client: pg.Client;
  cleanup: () => Promise<void>;
}> {
  const schema = uniqueName(prefix).toLowerCase();
  const admin = new pg.Client(PG);
  await admin.connect();
  await admin.query(`CREATE SCHEMA "${schema}"`);
  const connection = { ...PG, options: `-c search_path="${schema}"` };
  const client = new pg.Client(connection);
  await client.connect();
  return {
    schema,
    connection,
    client,
    cleanup: async () => {
      await client.end().catch(() => {});
      await admin.query(`DROP SCHEMA "${schema}" CASCADE`);
      await admin.end();
    },
  };
}

/**
 * One worker task holding `payloads` in order, packed by the engine's own router (one
 * worker, no size split), for tests that call the aggregation worker directly.
 */
export function packTask(kind: Kind, payloads: (string | Uint8Array)[], watermark: number, windowMs: number): AggregateTask {
  const messages = payloads.map((p, i) => ({ offset: i, key: null, value: Buffer.from(typeof p === 'string' ? Buffer.from(p) : p) }));
  const tasks = route(messages, kind, windowMs, watermark, 1, Math.max(1, payloads.length));
  return tasks[0].task;
}
