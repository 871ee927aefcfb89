/**
 * Sends generated events to Kafka: creates the topics if needed (kafkajs admin), then
 * writes each event into its partition's record batch and sends full batches with the
 * minimal wire producer, several requests in flight per broker.
 *
 * Within a partition, records arrive in the order they were added: requests on one
 * connection are handled by the broker in order, and nothing is retried.
 */
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { SmartGridError } from '../src/main/errors.js';
import { SOURCES, type LoadEvent, type Source, type Topics } from './generate.js';
import { RecordBatchBuilder } from '../src/kafka/record-batch.js';
import { BrokerConnection, type ProduceResult } from './kafka-wire.js';

export interface KafkaOutputOptions {
  /** `host:port` of one or more brokers. */
  brokers: string[];
  topics: Topics;
  /** Partitions each topic needs (created with this many if missing). */
  partitions: Record<Source, number>;
  /** Create missing topics (default true). */
  createTopics?: boolean;
  /** 1 (leader) or -1 (all in-sync replicas); default 1. */
  acks?: 1 | -1;
  /** A partition's batch is sent when it holds this many bytes (default 256 KiB; keep under the broker's message.max.bytes, 1 MiB by default). */
  batchBytes?: number;
  /** Produce requests in flight per broker before `add()` asks the caller to wait (default 6). */
  maxInFlight?: number;
  clientId?: string;
}

interface Slot {
  topic: string;
  partition: number;
  builder: RecordBatchBuilder;
  conn: BrokerConnection;
}

export class KafkaOutput {
  readonly stats = { messages: 0, bytes: 0, requests: 0 };
  /** Highest offset written per `topic:partition` (for tests and reports). */
  readonly lastOffsets = new Map<string, bigint>();

  private readonly inflight = new Set<Promise<void>>();
  private failure: unknown;

  private constructor(
    private readonly slots: Record<Source, Slot[]>,
    private readonly conns: BrokerConnection[],
    private readonly acks: 1 | -1,
    private readonly batchBytes: number,
    private readonly maxInFlight: number,
  ) {}

  /** Connects, creates or checks the topics, and opens a connection to each leader. */
  static async open(opts: KafkaOutputOptions): Promise<KafkaOutput> {
    const batchBytes = opts.batchBytes ?? 256 * 1024;
    const maxInFlight = opts.maxInFlight ?? 6;
    if (!(batchBytes >= 1024 && batchBytes <= 16 * 1024 * 1024)) throw new RangeError('options.batchBytes must be between 1 KiB and 16 MiB');
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1) throw new RangeError('options.maxInFlight must be a positive integer');
    const kafka = new Kafka({ clientId: opts.clientId ?? 'smartgrid-loadgen', brokers: opts.brokers, logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    try {
      await admin.connect();
    } catch (e) {
      throw new SmartGridError('KAFKA_UNAVAILABLE', `cannot reach Kafka at ${opts.brokers.join(',')}`, { cause: e, canRetry: true });
    }
    const conns = new Map<number, BrokerConnection>();
    try {
      await ensureTopics(admin, opts);
      const names = SOURCES.map((s) => opts.topics[s]);
      const meta = await admin.fetchTopicMetadata({ topics: [...new Set(names)] });
      const cluster = await admin.describeCluster();
      const slots = { sensor: [], meter: [], weather: [] } as Record<Source, Slot[]>;
      for (const s of SOURCES) {
        const topic = opts.topics[s];
        const tm = meta.topics.find((t) => t.name === topic)!;
        for (let p = 0; p < opts.partitions[s]; p++) {
          const pm = tm.partitions.find((x) => x.partitionId === p);
          if (pm === undefined || pm.leader < 0) {
            throw new SmartGridError('KAFKA_ERROR', `topic ${topic} partition ${p} has no leader`);
          }
          let conn = conns.get(pm.leader);
          if (conn === undefined) {
            const b = cluster.brokers.find((x) => x.nodeId === pm.leader);
            if (b === undefined) throw new SmartGridError('KAFKA_ERROR', `broker ${pm.leader} (leader of ${topic}[${p}]) is not in the cluster metadata`);
            conn = new BrokerConnection(b.host, b.port, opts.clientId);
            await conn.connect();
            conns.set(pm.leader, conn);
          }
          slots[s].push({ topic, partition: p, builder: new RecordBatchBuilder(batchBytes + 64 * 1024), conn });
        }
      }
      return new KafkaOutput(slots, [...conns.values()], opts.acks ?? 1, batchBytes, maxInFlight);
    } catch (e) {
      await Promise.all([...conns.values()].map((c) => c.close()));
      throw e;
    } finally {
      await admin.disconnect();
    }
  }

  /**
   * Adds one event. Returns true when the caller may go on, false when it should
   * `await ready()` first (too many requests in flight).
   */
  add(ev: LoadEvent): boolean {
    const slot = this.slots[ev.source][ev.partition];
    slot.builder.add(ev.key, ev.value);
    if (slot.builder.size >= this.batchBytes) this.send(slot);
    return this.inflight.size < this.maxInFlight * this.conns.length;
  }

  private send(slot: Slot): void {
    const count = slot.builder.count;
    if (count === 0) return;
    const records = slot.builder.seal(Date.now());
    this.stats.requests++;
    const p: Promise<void> = slot.conn.produce([{ topic: slot.topic, partition: slot.partition, records, count }], this.acks).then(
      (res: ProduceResult[]) => {
        this.inflight.delete(p);
        this.stats.messages += count;
        this.stats.bytes += records.length;
        const key = `${slot.topic}:${slot.partition}`;
        this.lastOffsets.set(key, res[0].baseOffset + BigInt(count - 1));
      },
      (e: unknown) => {
        this.inflight.delete(p);
        this.failure ??= e;
      },
    );
    this.inflight.add(p);
  }

  /** Waits until fewer requests are in flight; rejects if a produce failed. */
  async ready(): Promise<void> {
    while (this.inflight.size >= this.maxInFlight * this.conns.length) await Promise.race(this.inflight);
    this.check();
  }

  private check(): void {
    if (this.failure !== undefined) {
      throw new SmartGridError('KAFKA_ERROR', 'producing to Kafka failed', { cause: this.failure });
    }
  }

  /** Sends every partly filled batch and waits for all acknowledgements. */
  async flush(): Promise<void> {
    for (const s of SOURCES) for (const slot of this.slots[s]) this.send(slot);
    await Promise.all(this.inflight);
    this.check();
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.inflight);
    await Promise.all(this.conns.map((c) => c.close()));
  }
}

async function ensureTopics(admin: Admin, opts: KafkaOutputOptions): Promise<void> {
  const want = new Map<string, number>();
  for (const s of SOURCES) want.set(opts.topics[s], Math.max(want.get(opts.topics[s]) ?? 0, opts.partitions[s]));
  const existing = new Set(await admin.listTopics());
  const missing = [...want].filter(([t]) => !existing.has(t));
  if (missing.length > 0) {
    if (opts.createTopics === false) {
      throw new SmartGridError('CONFIG_INVALID', `topic ${missing[0][0]} does not exist (and topic creation is off)`);
    }
    await admin.createTopics({
      waitForLeaders: true,
      topics: missing.map(([topic, numPartitions]) => ({ topic, numPartitions, replicationFactor: 1 })),
    });
  }
  const meta = await admin.fetchTopicMetadata({ topics: [...want.keys()] });
  for (const t of meta.topics) {
    const need = want.get(t.name)!;
    if (t.partitions.length < need) {
      throw new SmartGridError(
        'CONFIG_INVALID',
        `topic ${t.name} has ${t.partitions.length} partition(s) but ${need} were asked for: use --partitions ${t.partitions.length} or a fresh topic`,
      );
    }
  }
}
