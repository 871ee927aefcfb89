/**
 * Fresh, disposable resources for one benchmark run: topics, a consumer group, a
 * PostgreSQL schema and a checkpoint directory, all removed again by `cleanup()` (also on
 * Ctrl-C).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { KAFKA_BROKER, PG } from './common.js';

export const uniqueName = (prefix: string): string => `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;

export interface RunEnv {
  topics: { sensor: string; meter: string; weather: string };
  groupId: string;
  schema: string;
  checkpointDir: string;
  /** Extra consumer groups to delete at cleanup. */
  groups: string[];
  cleanup(): Promise<void>;
}

const cleanups = new Set<() => Promise<void>>();
let hooked = false;
function hookSignals(): void {
  if (hooked) return;
  hooked = true;
  const onSignal = (sig: NodeJS.Signals): void => {
    process.stderr.write(`\n${sig}: cleaning up benchmark topics, schema and checkpoints…\n`);
    void Promise.allSettled([...cleanups].map((c) => c())).then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
}

/** Creates the topics (and a checkpoint directory); the engine creates the schema. */
export async function createRunEnv(tag: string, partitions: number): Promise<RunEnv> {
  hookSignals();
  const base = uniqueName(`bench_${tag}`).toLowerCase();
  const topics = { sensor: `${base}_sensor`, meter: `${base}_meter`, weather: `${base}_weather` };
  const kafka = new Kafka({ clientId: 'bench-admin', brokers: [KAFKA_BROKER], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({
    waitForLeaders: true,
    topics: Object.values(topics).map((topic) => ({ topic, numPartitions: partitions, replicationFactor: 1 })),
  });
  const checkpointDir = await mkdtemp(join(tmpdir(), `${base}_ckpt_`));
  const env: RunEnv = {
    topics,
    groupId: `${base}_engine`,
    schema: base,
    checkpointDir,
    groups: [],
    cleanup: async () => {
      cleanups.delete(env.cleanup);
      const errors: string[] = [];
      const step = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
        try {
          await fn();
        } catch (e) {
          errors.push(`${what}: ${(e as Error).message}`);
        }
      };
      await step('delete groups', () => admin.deleteGroups([env.groupId, ...env.groups]).catch(() => {}));
      await step('delete topics', () => admin.deleteTopics({ topics: Object.values(topics), timeout: 30000 }));
      await step('disconnect', () => admin.disconnect());
      await step('drop schema', async () => {
        const c = new pg.Client(PG);
        await c.connect();
        try {
          await c.query(`DROP SCHEMA IF EXISTS "${env.schema}" CASCADE`);
        } finally {
          await c.end();
        }
      });
      await step('remove checkpoints', () => rm(checkpointDir, { recursive: true, force: true }));
      if (errors.length > 0) process.stderr.write(`cleanup: ${errors.join('; ')}\n`);
    },
  };
  cleanups.add(env.cleanup);
  return env;
}

/** The engine's command line for this environment. */
export function engineArgv(env: RunEnv, extra: string[]): string[] {
  return [
    '--kafka-broker', KAFKA_BROKER,
    '--topic-sensor', env.topics.sensor,
    '--topic-meter', env.topics.meter,
    '--topic-weather', env.topics.weather,
    '--postgres-host', PG.host,
    '--postgres-port', String(PG.port),
    '--postgres-db', PG.database,
    '--postgres-user', PG.user,
    '--postgres-password', PG.password,
    '--postgres-schema', env.schema,
    '--group-id', env.groupId,
    '--checkpoint-dir', env.checkpointDir,
    '--no-create-topics',
    '--metrics-port', '0',
    '--progress-interval', '0',
    '--log-level', 'error',
    ...extra,
  ];
}
