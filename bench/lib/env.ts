/**
 * Fresh, disposable resources for one benchmark run: topics, a consumer group, a
 * PostgreSQL schema and a checkpoint directory (and more of the last three for further
 * engine runs on the same topics: `engineTarget`), all removed again by `cleanup()` (also
 * on Ctrl-C).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { KAFKA_BROKER, PG } from './common.js';

export const uniqueName = (prefix: string): string => `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;

/** Where one engine run keeps its state: consumer group, PostgreSQL schema, checkpoints. */
export interface EngineTarget {
  groupId: string;
  schema: string;
  checkpointDir: string;
}

export interface RunEnv extends EngineTarget {
  topics: { sensor: string; meter: string; weather: string };
  /** Extra consumer groups to delete at cleanup. */
  groups: string[];
  /**
   * A further group, schema and checkpoint directory of their own (named after `tag`),
   * for another engine run on the same topics; removed at cleanup with the rest.
   */
  engineTarget(tag: string): Promise<EngineTarget>;
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
  const targets: EngineTarget[] = [];
  const env: RunEnv = {
    topics,
    groupId: `${base}_engine`,
    schema: base,
    checkpointDir,
    groups: [],
    engineTarget: async (tag) => {
      const name = `${base}_${tag.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`;
      if (name === env.schema || targets.some((t) => t.schema === name)) throw new Error(`engine target "${tag}" exists already`);
      const t = { groupId: `${name}_engine`, schema: name, checkpointDir: await mkdtemp(join(tmpdir(), `${name}_ckpt_`)) };
      targets.push(t);
      return t;
    },
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
      const all: EngineTarget[] = [env, ...targets];
      // One at a time: a group that was never used (no engine ran into it) fails alone.
      for (const g of [...all.map((t) => t.groupId), ...env.groups]) await admin.deleteGroups([g]).catch(() => {});
      await step('delete topics', () => admin.deleteTopics({ topics: Object.values(topics), timeout: 30000 }));
      await step('disconnect', () => admin.disconnect());
      await step('drop schemas', async () => {
        const c = new pg.Client(PG);
        await c.connect();
        try {
          for (const t of all) await c.query(`DROP SCHEMA IF EXISTS "${t.schema}" CASCADE`);
        } finally {
          await c.end();
        }
      });
      for (const t of all) await step('remove checkpoints', () => rm(t.checkpointDir, { recursive: true, force: true }));
      if (errors.length > 0) process.stderr.write(`cleanup: ${errors.join('; ')}\n`);
    },
  };
  cleanups.add(env.cleanup);
  return env;
}

/** The engine's command line for this environment (its own group, schema and checkpoints, or `target`'s). */
export function engineArgv(env: RunEnv, extra: string[], target: EngineTarget = env): string[] {
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
    '--postgres-schema', target.schema,
    '--group-id', target.groupId,
    '--checkpoint-dir', target.checkpointDir,
    '--no-create-topics',
    '--metrics-port', '0',
    '--progress-interval', '0',
    '--log-level', 'error',
    ...extra,
  ];
}
