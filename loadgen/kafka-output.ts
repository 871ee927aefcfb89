/**
 * Sends generated events to Kafka: creates the topics if needed (kafkajs admin), then
 * writes each event into its partition's record batch and sends full batches with the
 * minimal wire producer, several requests in flight per broker.
 *
 * Retries and idempotence. Right after topic creation, under load, or when a leader moves,
 * the broker answers with retriable errors (LEADER_NOT_AVAILABLE, UNKNOWN_TOPIC_OR_PARTITION,
 * NOT_LEADER_OR_FOLLOWER, REQUEST_TIMED_OUT, …) or the connection drops; a bulk load must
 * not fail on those (issue #10: `npm test` failed on a loaded machine). So the producer is
 * Kafka's idempotent producer: it takes a producer id (InitProducerId) and numbers the
 * records of each partition; a batch that is resent carries the same sequence number, and
 * the broker writes it at most once. A partition with a failed batch resends, after a
 * capped exponential backoff (and new metadata when the leader may have changed), every
 * batch not yet acknowledged, in order, at most five on the wire (the broker recognises a
 * resent batch among the last five it wrote): the broker refuses a batch whose predecessor is
 * missing (OUT_OF_ORDER_SEQUENCE_NUMBER), so later batches in flight fail too and go
 * again behind it. Within a partition, records land in the order they were added, each
 * once: the bytes in the topic are those of a run without faults. A batch not acknowledged
 * within `deliveryTimeoutMs` of its first send fails the output.
 */
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { SmartGridError } from '../src/common/errors.js';
import { SOURCES, type LoadEvent, type Source, type Topics } from './generate.js';
import { RecordBatchBuilder } from '../src/kafka/record-batch.js';
import { KafkaWireError } from '../src/kafka/errors.js';
import { BrokerConnection, KAFKA_ERRORS, nextSequence, type ProduceResult, type ProducerIdentity } from './kafka-wire.js';

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
  /** How long a batch may take from its first send to its acknowledgement, retries included (default 120 s, as Kafka's delivery.timeout.ms). */
  deliveryTimeoutMs?: number;
  /** First wait before a retry (default 100 ms); doubles per attempt up to `retryBackoffMaxMs` (default 1 s). */
  retryBackoffMs?: number;
  retryBackoffMaxMs?: number;
}

/** A sealed batch waiting for its acknowledgement. */
interface Batch {
  records: Buffer;
  count: number;
  firstSentAt: number;
  /** The slot's round in which it was last sent (-1: not yet). */
  sentRound: number;
  done: () => void;
}

/**
 * Batches of one partition on the wire at once. The broker remembers the last five batches
 * of each producer and partition: a resent batch among them is recognised as a duplicate,
 * an older one would be refused as out of order (hence Kafka's limit of five in flight
 * per connection for idempotent producers).
 */
const MAX_IN_FLIGHT_PER_PARTITION = 5;

interface Slot {
  topic: string;
  partition: number;
  builder: RecordBatchBuilder;
  conn: BrokerConnection;
  /** Sequence number of the next batch's first record. */
  nextSeq: number;
  /** Batches sealed and not acknowledged (sent or waiting to be), oldest first. */
  unacked: Batch[];
  /** Bumped on every resend round: answers to an older round are ignored (the newer round covers them). */
  round: number;
  /** Whether a retry of this partition is waiting for its backoff. */
  retrying: boolean;
  attempts: number;
}

const RETRIABLE = new Set<number>([
  KAFKA_ERRORS.UNKNOWN_TOPIC_OR_PARTITION,
  KAFKA_ERRORS.LEADER_NOT_AVAILABLE,
  KAFKA_ERRORS.NOT_LEADER_OR_FOLLOWER,
  KAFKA_ERRORS.REQUEST_TIMED_OUT,
  KAFKA_ERRORS.NETWORK_EXCEPTION,
  KAFKA_ERRORS.NOT_ENOUGH_REPLICAS,
  KAFKA_ERRORS.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
  KAFKA_ERRORS.KAFKA_STORAGE_ERROR,
]);
/** Errors after which the partition's leader is looked up again. */
const LEADER_ERRORS = new Set<number>([
  KAFKA_ERRORS.UNKNOWN_TOPIC_OR_PARTITION,
  KAFKA_ERRORS.LEADER_NOT_AVAILABLE,
  KAFKA_ERRORS.NOT_LEADER_OR_FOLLOWER,
  KAFKA_ERRORS.NETWORK_EXCEPTION,
  KAFKA_ERRORS.KAFKA_STORAGE_ERROR,
]);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class KafkaOutput {
  readonly stats = { messages: 0, bytes: 0, requests: 0, retries: 0 };
  /** Highest offset written per `topic:partition` (for tests and reports). */
  readonly lastOffsets = new Map<string, bigint>();

  private readonly inflight = new Set<Promise<void>>();
  private failure: unknown;
  private admin: Admin | undefined;
  /** Connections being opened, by node id: partitions of one broker that retry together share one new connection. */
  private readonly opening = new Map<number, Promise<BrokerConnection>>();

  private constructor(
    private readonly kafka: Kafka,
    private readonly slots: Record<Source, Slot[]>,
    /** Connections by broker node id. */
    private readonly conns: Map<number, BrokerConnection>,
    private readonly producer: ProducerIdentity,
    private readonly opts: Required<Pick<KafkaOutputOptions, 'acks' | 'batchBytes' | 'maxInFlight' | 'deliveryTimeoutMs' | 'retryBackoffMs' | 'retryBackoffMaxMs'>> & {
      clientId?: string;
    },
  ) {}

  /** The open broker connections (for diagnostics, and for tests that inject faults into one). */
  get connections(): BrokerConnection[] {
    return [...this.conns.values()];
  }

  /** Connects, creates or checks the topics, opens a connection to each leader and takes a producer id. */
  static async open(opts: KafkaOutputOptions): Promise<KafkaOutput> {
    const batchBytes = opts.batchBytes ?? 256 * 1024;
    const maxInFlight = opts.maxInFlight ?? 6;
    const deliveryTimeoutMs = opts.deliveryTimeoutMs ?? 120_000;
    const retryBackoffMs = opts.retryBackoffMs ?? 100;
    const retryBackoffMaxMs = opts.retryBackoffMaxMs ?? 1000;
    if (!(batchBytes >= 1024 && batchBytes <= 16 * 1024 * 1024)) throw new RangeError('options.batchBytes must be between 1 KiB and 16 MiB');
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1) throw new RangeError('options.maxInFlight must be a positive integer');
    if (!(deliveryTimeoutMs > 0)) throw new RangeError('options.deliveryTimeoutMs must be positive');
    if (!(retryBackoffMs > 0 && retryBackoffMaxMs >= retryBackoffMs)) throw new RangeError('options.retryBackoffMs must be positive and at most options.retryBackoffMaxMs');
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
      const slots = { sensor: [], meter: [], weather: [] } as Record<Source, Slot[]>;
      const deadline = Date.now() + deliveryTimeoutMs;
      for (const s of SOURCES) {
        const topic = opts.topics[s];
        for (let p = 0; p < opts.partitions[s]; p++) {
          const conn = await leaderConnection(admin, conns, new Map(), topic, p, deadline, opts.clientId);
          slots[s].push({ topic, partition: p, builder: new RecordBatchBuilder(batchBytes + 64 * 1024), conn, nextSeq: 0, unacked: [], round: 0, retrying: false, attempts: 0 });
        }
      }
      const producer = await initProducerId([...conns.values()][0], deadline);
      return new KafkaOutput(kafka, slots, conns, producer, {
        acks: opts.acks ?? 1,
        batchBytes,
        maxInFlight,
        deliveryTimeoutMs,
        retryBackoffMs,
        retryBackoffMaxMs,
        ...(opts.clientId === undefined ? {} : { clientId: opts.clientId }),
      });
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
    if (slot.builder.size >= this.opts.batchBytes) this.send(slot);
    return this.inflight.size < this.opts.maxInFlight * this.conns.size;
  }

  private send(slot: Slot): void {
    const count = slot.builder.count;
    if (count === 0) return;
    const baseSequence = slot.nextSeq;
    slot.nextSeq = nextSequence(baseSequence, count);
    const records = slot.builder.seal(Date.now(), { ...this.producer, baseSequence });
    let done!: () => void;
    const p = new Promise<void>((r) => (done = r));
    const batch: Batch = { records, count, firstSentAt: Date.now(), sentRound: -1, done };
    slot.unacked.push(batch);
    this.inflight.add(p);
    void p.then(() => this.inflight.delete(p));
    this.pump(slot);
  }

  /**
   * Sends the partition's oldest unsent batches (of this round), at most
   * MAX_IN_FLIGHT_PER_PARTITION on the wire. While the partition waits to retry, nothing
   * goes: new batches follow the resent ones.
   */
  private pump(slot: Slot): void {
    if (slot.retrying) return;
    let onWire = 0;
    for (const b of slot.unacked) {
      if (b.sentRound === slot.round) onWire++;
      else if (onWire < MAX_IN_FLIGHT_PER_PARTITION) {
        this.transmit(slot, b);
        onWire++;
      } else break;
    }
  }

  private transmit(slot: Slot, batch: Batch): void {
    const round = slot.round;
    batch.sentRound = round;
    this.stats.requests++;
    slot.conn.produce([{ topic: slot.topic, partition: slot.partition, records: batch.records, count: batch.count }], this.opts.acks).then(
      (res: ProduceResult[]) => this.acknowledged(slot, batch, res[0].baseOffset),
      (e: unknown) => {
        const code = e instanceof KafkaWireError ? e.kafkaCode : undefined;
        // The broker already has this batch (a resend of one it wrote; its offset is not known here).
        if (code === KAFKA_ERRORS.DUPLICATE_SEQUENCE_NUMBER) this.acknowledged(slot, batch, undefined);
        else this.failed(slot, batch, round, e);
      },
    );
  }

  private acknowledged(slot: Slot, batch: Batch, baseOffset: bigint | undefined): void {
    const i = slot.unacked.indexOf(batch);
    if (i < 0) return; // a second answer for a batch sent twice
    slot.unacked.splice(i, 1);
    slot.attempts = 0;
    this.stats.messages += batch.count;
    this.stats.bytes += batch.records.length;
    if (baseOffset !== undefined) {
      const key = `${slot.topic}:${slot.partition}`;
      const last = baseOffset + BigInt(batch.count - 1);
      if (last > (this.lastOffsets.get(key) ?? -1n)) this.lastOffsets.set(key, last);
    }
    batch.done();
    this.pump(slot);
  }

  private failed(slot: Slot, batch: Batch, round: number, e: unknown): void {
    if (!slot.unacked.includes(batch)) return; // acknowledged by another send meanwhile
    if (round !== slot.round || slot.retrying) return; // a resend round is already on its way for it
    const code = e instanceof KafkaWireError ? e.kafkaCode : undefined;
    // A later batch refused because an earlier one of this partition is missing: it goes
    // again behind that one. For the oldest batch it would mean records were lost.
    const outOfOrder = code === KAFKA_ERRORS.OUT_OF_ORDER_SEQUENCE_NUMBER && slot.unacked[0] !== batch;
    const retriable = code === undefined || RETRIABLE.has(code) || outOfOrder;
    const waited = Date.now() - slot.unacked[0].firstSentAt;
    if (!retriable || waited >= this.opts.deliveryTimeoutMs) {
      this.failure ??= retriable
        ? new SmartGridError('KAFKA_ERROR', `${slot.topic}[${slot.partition}]: no acknowledgement within ${this.opts.deliveryTimeoutMs} ms (${slot.attempts} retries)`, { cause: e })
        : e;
      for (const b of slot.unacked.splice(0)) b.done();
      return;
    }
    slot.retrying = true;
    void this.retry(slot, code === undefined || LEADER_ERRORS.has(code));
  }

  /** After a backoff (and a fresh look at the leader), resends every unacknowledged batch of the partition, in order. */
  private async retry(slot: Slot, refreshLeader: boolean): Promise<void> {
    const backoff = Math.min(this.opts.retryBackoffMaxMs, this.opts.retryBackoffMs * 2 ** slot.attempts);
    slot.attempts++;
    this.stats.retries++;
    // Up to 20% jitter, so partitions that failed together do not retry in lockstep.
    await sleep(backoff * (0.8 + 0.2 * Math.random()));
    try {
      if (refreshLeader || !slot.conn.usable) {
        const deadline = slot.unacked[0].firstSentAt + this.opts.deliveryTimeoutMs;
        this.admin ??= this.kafka.admin();
        await this.admin.connect();
        slot.conn = await leaderConnection(this.admin, this.conns, this.opening, slot.topic, slot.partition, deadline, this.opts.clientId);
      }
    } catch (e) {
      this.failure ??= new SmartGridError('KAFKA_ERROR', `${slot.topic}[${slot.partition}]: cannot find its leader to retry`, { cause: e });
      for (const b of slot.unacked.splice(0)) b.done();
      slot.retrying = false;
      return;
    }
    slot.round++;
    slot.retrying = false;
    this.pump(slot);
  }

  /** Waits until fewer requests are in flight; rejects if a produce failed. */
  async ready(): Promise<void> {
    while (this.inflight.size >= this.opts.maxInFlight * this.conns.size) await Promise.race(this.inflight);
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
    while (this.inflight.size > 0) await Promise.all(this.inflight);
    this.check();
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.inflight);
    await Promise.all([...this.conns.values()].map((c) => c.close()));
    await this.admin?.disconnect();
  }
}

/**
 * The connection to the leader of topic[partition], opened if needed (and reopened if the
 * one there failed). A partition without a leader yet (just created, or being moved) is
 * looked up again until `deadline`.
 */
async function leaderConnection(
  admin: Admin,
  conns: Map<number, BrokerConnection>,
  opening: Map<number, Promise<BrokerConnection>>,
  topic: string,
  partition: number,
  deadline: number,
  clientId: string | undefined,
): Promise<BrokerConnection> {
  for (let attempt = 0; ; attempt++) {
    let why: string;
    try {
      const meta = await admin.fetchTopicMetadata({ topics: [topic] });
      const pm = meta.topics[0]?.partitions.find((x) => x.partitionId === partition);
      if (pm !== undefined && pm.leader >= 0) {
        const leader = pm.leader;
        const conn = conns.get(leader);
        if (conn !== undefined && conn.usable) return conn;
        let next = opening.get(leader);
        if (next === undefined) {
          next = (async () => {
            const b = (await admin.describeCluster()).brokers.find((x) => x.nodeId === leader);
            if (b === undefined) throw new SmartGridError('KAFKA_ERROR', `broker ${leader} (leader of ${topic}[${partition}]) is not in the cluster metadata`);
            const c = new BrokerConnection(b.host, b.port, clientId);
            await c.connect();
            conns.set(leader, c);
            return c;
          })().finally(() => opening.delete(leader));
          opening.set(leader, next);
        }
        return await next;
      }
      why = `topic ${topic} partition ${partition} has no leader`;
    } catch (e) {
      if (Date.now() >= deadline) throw e;
      why = String(e);
    }
    if (Date.now() >= deadline) throw new SmartGridError('KAFKA_ERROR', why);
    await sleep(Math.min(1000, 100 * 2 ** attempt));
  }
}

/**
 * A producer id, asking again while the broker is not ready to hand one out (it answers
 * COORDINATOR_LOAD_IN_PROGRESS until it has a block of ids from the controller, e.g. on
 * a fresh cluster) until `deadline`.
 */
async function initProducerId(conn: BrokerConnection, deadline: number): Promise<ProducerIdentity> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await conn.initProducerId();
    } catch (e) {
      const code = e instanceof KafkaWireError ? e.kafkaCode : undefined;
      const notReady = code === KAFKA_ERRORS.COORDINATOR_LOAD_IN_PROGRESS || code === KAFKA_ERRORS.COORDINATOR_NOT_AVAILABLE || code === KAFKA_ERRORS.NOT_COORDINATOR || code === KAFKA_ERRORS.REQUEST_TIMED_OUT;
      if (!notReady || Date.now() >= deadline) throw new SmartGridError('KAFKA_ERROR', 'cannot get a producer id (InitProducerId)', { cause: e });
    }
    await sleep(Math.min(1000, 100 * 2 ** attempt));
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
