/**
 * RecordSource on kafkajs: one consumer group subscribed to the input topics, eachBatch,
 * automatic commits off, offsets resolved by the engine only once processed.
 */
import { Kafka, logLevel, type Admin, type Consumer, type LogEntry } from 'kafkajs';
import { SmartGridError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { GroupMember, PartitionOffsets, PartitionRef, RecordSource, SourceHandlers } from './source.js';

export interface KafkaSourceOptions {
  brokers: string[];
  groupId: string;
  clientId?: string;
  fromBeginning: boolean;
  maxBytesPerPartition: number;
  maxBytes: number;
  maxWaitMs: number;
  partitionsConcurrency: number;
  sessionTimeoutMs?: number;
  /** The topics to subscribe to. */
  topics: string[];
  /** Told about every answer from Kafka and every connection failure (readiness, outage logs). */
  reachability?: KafkaReachabilityListener;
}

export interface KafkaReachabilityListener {
  answered(): void;
  failed(broker: string, error: string): void;
}

/** kafkajs log lines that only say a broker could not be reached (one per retry attempt). */
const CONNECTION_FAILURE =
  /^(Connection error|Connection timeout|Failed to connect|Closed connection)|ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|ECONNRESET|EAI_AGAIN|Request .* timed out/;

export function kafkaLogger(log: Logger, reachability?: KafkaReachabilityListener, brokers: string[] = []) {
  return () =>
    ({ level, log: entry }: LogEntry) => {
      const { message, ...rest } = entry;
      const fields = { ...rest } as Record<string, unknown>;
      delete fields.timestamp;
      delete fields.logger;
      // Stack traces of the client's internals say nothing an operator can act on.
      delete fields.stack;
      if (reachability !== undefined && level <= logLevel.WARN && CONNECTION_FAILURE.test(message)) {
        // One line per outage (KafkaReachability), not one per retry attempt.
        const broker = typeof fields.broker === 'string' ? fields.broker : (/\b[\w.-]+:\d{2,5}\b/.exec(message)?.[0] ?? brokers.join(','));
        reachability.failed(broker, message);
        log.debug(`kafka: ${message}`, fields);
        return;
      }
      if (level === logLevel.ERROR) log.warn(`kafka: ${message}`, fields);
      else if (level === logLevel.WARN) log.info(`kafka: ${message}`, fields);
      else log.debug(`kafka: ${message}`, fields);
    };
}

export class KafkaSource implements RecordSource {
  private readonly kafka: Kafka;
  private readonly admin: Admin;
  private readonly topicAdmin: KafkaAdmin;
  private readonly consumer: Consumer;
  private running = false;
  readonly clientId: string;

  constructor(
    private readonly opts: KafkaSourceOptions,
    log: Logger,
  ) {
    this.clientId = opts.clientId ?? 'smartgrid-stream';
    this.kafka = new Kafka({
      clientId: this.clientId,
      brokers: opts.brokers,
      logLevel: logLevel.WARN,
      logCreator: kafkaLogger(log, opts.reachability, opts.brokers),
      // A broker that goes away is retried with capped exponential backoff for ~5 minutes
      // per operation before the error surfaces.
      retry: { initialRetryTime: 300, maxRetryTime: 10000, retries: 30 },
      connectionTimeout: 5000,
    });
    this.admin = this.kafka.admin();
    this.topicAdmin = new KafkaAdmin(this.admin, log);
    this.consumer = this.kafka.consumer({
      groupId: opts.groupId,
      maxBytesPerPartition: opts.maxBytesPerPartition,
      maxBytes: opts.maxBytes,
      maxWaitTimeInMs: opts.maxWaitMs,
      sessionTimeout: opts.sessionTimeoutMs ?? 30000,
      heartbeatInterval: Math.min(3000, Math.floor((opts.sessionTimeoutMs ?? 30000) / 5)),
      retry: { initialRetryTime: 300, maxRetryTime: 10000, retries: Number.MAX_SAFE_INTEGER },
    });
    const r = opts.reachability;
    if (r !== undefined) {
      // Every response (fetches, heartbeats, metadata) proves Kafka reachable.
      this.admin.on(this.admin.events.REQUEST, () => r.answered());
      this.consumer.on(this.consumer.events.REQUEST, () => r.answered());
    }
  }

  async connect(): Promise<void> {
    try {
      await this.admin.connect();
    } catch (e) {
      throw new SmartGridError('KAFKA_UNAVAILABLE', `cannot reach Kafka at ${this.opts.brokers.join(',')}`, {
        cause: e,
        canRetry: true,
      });
    }
  }

  ensureTopics(topics: string[], create: boolean, partitions: number): Promise<Map<string, number[]>> {
    return this.topicAdmin.ensureTopics(topics, create, partitions);
  }

  async offsets(topic: string): Promise<PartitionOffsets[]> {
    const res = await this.admin.fetchTopicOffsets(topic);
    return res.map((r) => ({ partition: r.partition, low: Number(r.low), high: Number(r.high) }));
  }

  async committed(topic: string): Promise<Map<number, number>> {
    const res = await this.admin.fetchOffsets({ groupId: this.opts.groupId, topics: [topic] });
    const out = new Map<number, number>();
    for (const t of res) for (const p of t.partitions) out.set(p.partition, Number(p.offset));
    return out;
  }

  groupMembers(): Promise<GroupMember[]> {
    return this.topicAdmin.groupMembers(this.opts.groupId);
  }

  async run(h: SourceHandlers): Promise<void> {
    const c = this.consumer;
    c.on(c.events.GROUP_JOIN, (e) => {
      const assigned: PartitionRef[] = [];
      for (const [topic, parts] of Object.entries(e.payload.memberAssignment)) {
        for (const partition of parts) assigned.push({ topic, partition });
      }
      h.onAssignment(assigned);
    });
    c.on(c.events.CRASH, (e) => {
      if (!e.payload.restart) h.onFatal(e.payload.error);
    });
    await c.connect();
    await c.subscribe({ topics: this.opts.topics, fromBeginning: this.opts.fromBeginning });
    this.running = true;
    await c.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.opts.partitionsConcurrency,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isStale }) => {
        if (batch.messages.length === 0 || isStale()) return;
        const messages = batch.messages.map((m) => ({ offset: Number(m.offset), key: m.key, value: m.value }));
        const done = await h.onBatch(
          { topic: batch.topic, partition: batch.partition, highWatermark: Number(batch.highWatermark), messages },
          { heartbeat },
        );
        // Only now does kafkajs move its fetch position past these records.
        if (done) resolveOffset(batch.lastOffset());
      },
    });
  }

  seek(topic: string, partition: number, offset: number): void {
    this.consumer.seek({ topic, partition, offset: String(offset) });
  }

  pause(): void {
    if (this.running) this.consumer.pause(this.opts.topics.map((topic) => ({ topic })));
  }

  async commit(offsets: { topic: string; partition: number; offset: number }[]): Promise<void> {
    if (offsets.length === 0) return;
    await this.consumer.commitOffsets(offsets.map((o) => ({ ...o, offset: String(o.offset) })));
  }

  async stop(): Promise<void> {
    if (this.running) await this.consumer.disconnect().catch(() => {});
    this.running = false;
    await this.admin.disconnect().catch(() => {});
  }
}

/**
 * The admin requests both sources use through kafkajs (off the hot path): creating or
 * waiting for the input topics, and describing the consumer group.
 */
export class KafkaAdmin {
  constructor(
    private readonly admin: Admin,
    private readonly log: Logger,
  ) {}

  async ensureTopics(topics: string[], create: boolean, partitions: number): Promise<Map<string, number[]>> {
    for (let attempt = 0; ; attempt++) {
      const existing = new Set(await this.admin.listTopics());
      const missing = topics.filter((t) => !existing.has(t));
      if (missing.length === 0) break;
      if (create) {
        this.log.info('creating missing input topics', { topics: missing, partitions });
        await this.admin
          .createTopics({ waitForLeaders: true, topics: missing.map((topic) => ({ topic, numPartitions: partitions })) })
          .catch((e: unknown) => {
            // Another instance (or the load generator) may have created it meanwhile.
            if ((e as { type?: string }).type !== 'TOPIC_ALREADY_EXISTS') throw e;
          });
      } else {
        if (attempt % 12 === 0) this.log.warn('waiting for input topics to be created', { topics: missing });
        await new Promise((r) => setTimeout(r, 5000));
      }
    }
    const meta = await this.admin.fetchTopicMetadata({ topics });
    return new Map(meta.topics.map((t) => [t.name, t.partitions.map((p) => p.partitionId).sort((a, b) => a - b)]));
  }

  async groupMembers(groupId: string): Promise<GroupMember[]> {
    const { groups } = await this.admin.describeGroups([groupId]);
    const g = groups.find((x) => x.groupId === groupId);
    if (g === undefined || g.state === 'Dead' || g.state === 'Empty') return [];
    return g.members.map((m) => ({ memberId: m.memberId, clientId: m.clientId, clientHost: m.clientHost }));
  }
}
