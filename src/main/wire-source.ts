/**
 * RecordSource on the engine's own Kafka read path (src/kafka): the main thread fetches
 * each partition's record batches as raw bytes and hands them on (transferred, never
 * decoded here); a worker verifies, decompresses and decodes them. Assignment is manual:
 * this single instance reads every partition of its topics from the positions the
 * engine's snapshot covers, so a restart needs no group rebalance, and it commits offsets
 * to the consumer group as a non-member, so that lag tools still show its progress.
 *
 * kafkajs stays for admin requests (creating topics, describing the group).
 */
import { Kafka, logLevel, type Admin, type SASLOptions } from 'kafkajs';
import {
  KafkaWireClient,
  KafkaWireError,
  OffsetOutOfRangeError,
  securityFromFiles,
  type Fetcher,
  type FetchedPartition,
  type PartitionOffset,
  type SecurityFiles,
  type SaslOptions,
  type SecurityOptions,
  GroupMember,
} from '../kafka/index.js';
import { describeError, SmartGridError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { sleep } from '../common/signal.js';
import { KafkaAdmin, kafkaLogger, type KafkaReachabilityListener } from './kafka-source.js';
import type { GroupMember as GroupMemberInfo, PartitionOffsets, PartitionRef, RecordSource, SourceHandlers } from './source.js';

export interface WireSourceOptions {
  brokers: string[];
  groupId: string;
  clientId: string;
  /** Where a partition the engine has no position for starts (new partitions: always the beginning). */
  fromBeginning: boolean;
  maxBytesPerPartition: number;
  maxBytes: number;
  maxWaitMs: number;
  readCommitted: boolean;
  reachability?: KafkaReachabilityListener;
  /** How often partition counts are checked, so that partitions added while running are read (default 10 s). */
  metadataRefreshMs?: number;
  /** TLS and SASL settings (files are read at connect). */
  security?: SecurityFiles;
  /**
   * --group-member: join the consumer group (classic protocol, static membership with
   * this instance id) and read only the partitions it assigns; otherwise this instance
   * assigns itself every partition.
   */
  member?: { instanceId: string | null; sessionTimeoutMs: number };
}

const key = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

/** kafkajs wants the mechanism as a discriminant of its union. */
function kafkajsSasl(s: SaslOptions): SASLOptions {
  const { username, password } = s;
  switch (s.mechanism) {
    case 'plain':
      return { mechanism: 'plain', username, password };
    case 'scram-sha-256':
      return { mechanism: 'scram-sha-256', username, password };
    case 'scram-sha-512':
      return { mechanism: 'scram-sha-512', username, password };
  }
}

export class WireSource implements RecordSource {
  readonly clientId: string;
  private client!: KafkaWireClient;
  private kafkaAdmin!: Admin;
  private adminConnected = false;
  private admin!: KafkaAdmin;
  private fetcher!: Fetcher;
  private readonly partitions = new Map<string, number[]>();
  /** Positions the engine asked for (seek) while an assignment is being made. */
  private readonly sought = new Map<string, number>();
  private running = false;
  private paused = false;
  private loop: Promise<void> | null = null;
  private lastMetadataAt = 0;
  private group: GroupMember | null = null;
  /** Member mode: the partitions the group assigned (fetched results of others are dropped). */
  private readonly mine = new Set<string>();
  /** Bumped at every assignment change: a fetch that spans one is dropped. */
  private epoch = 0;

  constructor(
    private readonly opts: WireSourceOptions,
    private readonly log: Logger,
  ) {
    this.clientId = opts.clientId;
  }

  /** Builds the clients once the security files are read (the same settings for both). */
  private build(sec: SecurityOptions): void {
    const opts = this.opts;
    this.client = new KafkaWireClient({
      brokers: opts.brokers,
      clientId: opts.clientId,
      // An outage is survived: the fetch loop keeps retrying (see run) and /readyz reports it.
      retryTimeoutMs: 30_000,
      maxRetryBackoffMs: 5_000,
      onRetry: (e) => opts.reachability?.failed(opts.brokers.join(','), e.message),
      ...sec,
    });
    this.fetcher = this.client.createFetcher({
      readCommitted: opts.readCommitted,
      maxWaitMs: opts.maxWaitMs,
      maxBytes: opts.maxBytes,
      partitionMaxBytes: opts.maxBytesPerPartition,
      // One line per outage (KafkaReachability), not one per retry.
      onRetry: (e) => opts.reachability?.failed(opts.brokers.join(','), e.message),
      onAnswer: () => opts.reachability?.answered(),
    });
    this.kafkaAdmin = new Kafka({
      clientId: opts.clientId,
      brokers: opts.brokers,
      logLevel: logLevel.WARN,
      logCreator: kafkaLogger(this.log, opts.reachability, opts.brokers),
      retry: { initialRetryTime: 300, maxRetryTime: 10000, retries: 30 },
      connectionTimeout: 5000,
      ...(sec.tls === undefined ? {} : { ssl: sec.tls }),
      ...(sec.sasl === undefined ? {} : { sasl: kafkajsSasl(sec.sasl) }),
    }).admin();
    const r = opts.reachability;
    if (r !== undefined) this.kafkaAdmin.on(this.kafkaAdmin.events.REQUEST, () => r.answered());
    this.admin = new KafkaAdmin(this.kafkaAdmin, this.log);
  }

  async connect(): Promise<void> {
    let sec: SecurityOptions;
    try {
      sec = await securityFromFiles(this.opts.security ?? {});
    } catch (e) {
      throw new SmartGridError('CONFIG_INVALID', `Kafka TLS/SASL settings: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    this.build(sec);
    try {
      // Kafka may come up after the engine (compose, a restart of both): keep trying, as
      // the kafkajs source did, for about five minutes; /readyz says why meanwhile.
      for (let attempt = 0; ; attempt++) {
        try {
          await this.client.connect();
          break;
        } catch (e) {
          if (!(e instanceof KafkaWireError) || e.code !== 'KAFKA_RETRIES_EXHAUSTED' || attempt >= 9) throw e;
        }
      }
      this.opts.reachability?.answered();
    } catch (e) {
      if (e instanceof KafkaWireError && (e.code === 'KAFKA_AUTH_FAILED' || e.code === 'KAFKA_TLS_FAILED')) {
        throw new SmartGridError('KAFKA_ERROR', `Kafka at ${this.opts.brokers.join(',')} refused the connection: ${e.message}`, { cause: e });
      }
      throw new SmartGridError('KAFKA_UNAVAILABLE', `cannot reach Kafka at ${this.opts.brokers.join(',')}`, { cause: e, canRetry: true });
    }
  }

  /**
   * The topics' partitions, from one Metadata request when every topic exists (the usual
   * start); kafkajs's admin client, connected only then, creates missing topics or waits
   * for them.
   */
  async ensureTopics(topics: string[], create: boolean, partitions: number): Promise<Map<string, number[]>> {
    let m = await this.client.topicPartitions(topics);
    if (!topics.every((t) => (m.get(t)?.length ?? 0) > 0)) {
      if (!this.adminConnected) {
        await this.kafkaAdmin.connect();
        this.adminConnected = true;
      }
      m = await this.admin.ensureTopics(topics, create, partitions);
    }
    for (const [t, ps] of m) this.partitions.set(t, ps);
    this.lastMetadataAt = Date.now();
    return m;
  }

  /** The group's current members (DescribeGroups to its coordinator); none when it is Empty or Dead. */
  async groupMembers(): Promise<GroupMemberInfo[]> {
    const g = await this.client.describeGroup(this.opts.groupId);
    if (g.state === 'Dead' || g.state === 'Empty') return [];
    return g.members.map((m) => ({ memberId: m.memberId, clientId: m.clientId, clientHost: m.clientHost }));
  }

  private refs(topic: string): { topic: string; partition: number }[] {
    return (this.partitions.get(topic) ?? []).map((partition) => ({ topic, partition }));
  }

  async offsets(topic: string): Promise<PartitionOffsets[]> {
    const tps = this.refs(topic);
    const [low, high] = await Promise.all([
      this.client.listOffsets(tps, 'earliest'),
      // With read_committed the end of what can be read is the last stable offset.
      this.client.listOffsets(tps, 'latest', { readCommitted: this.opts.readCommitted }),
    ]);
    return tps.map((tp, i) => ({ partition: tp.partition, low: Number(low[i].offset), high: Number(high[i].offset) }));
  }

  async committed(topic: string): Promise<Map<number, number>> {
    const res = await this.client.fetchCommittedOffsets(this.opts.groupId, this.refs(topic));
    return new Map(res.map((r) => [r.partition, Number(r.offset)]));
  }

  seek(topic: string, partition: number, offset: number): void {
    this.sought.set(key(topic, partition), offset);
    if (this.fetcher.positions().some((p) => p.topic === topic && p.partition === partition)) {
      this.fetcher.seek(topic, partition, BigInt(offset));
    }
  }

  /**
   * Tells the engine it owns every partition (it seeks each to the position its state
   * covers), then reads them from there. Partitions without a position (added while
   * running) start at the beginning, as new partitions hold only new records.
   */
  private async assignAll(h: SourceHandlers, fallback: 'earliest' | 'latest'): Promise<void> {
    const refs: PartitionRef[] = [...this.partitions].flatMap(([topic]) => this.refs(topic));
    const current = new Map(this.fetcher.positions().map((p) => [key(p.topic, p.partition), p.offset]));
    this.sought.clear();
    h.onAssignment(refs);
    const missing = refs.filter((r) => !this.sought.has(key(r.topic, r.partition)) && !current.has(key(r.topic, r.partition)));
    const resolved = new Map<string, bigint>();
    if (missing.length > 0) {
      for (const o of await this.client.listOffsets(missing, fallback)) resolved.set(key(o.topic, o.partition), o.offset);
    }
    const list: PartitionOffset[] = refs.map((r) => {
      const k = key(r.topic, r.partition);
      const s = this.sought.get(k);
      return { ...r, offset: s !== undefined ? BigInt(s) : (current.get(k) ?? resolved.get(k)!) };
    });
    this.log.debug('reading partitions from', { list: list.map((l) => `${l.topic}[${l.partition}]@${l.offset}`) });
    this.fetcher.assign(list);
  }

  async run(h: SourceHandlers): Promise<void> {
    this.running = true;
    const fatal = (e: unknown): void => h.onFatal(e instanceof Error ? e : new Error(String(e)));
    if (this.opts.member !== undefined) {
      this.joinGroup(h, this.opts.member, fatal);
    } else {
      await this.assignAll(h, this.opts.fromBeginning ? 'earliest' : 'latest');
    }
    this.loop = this.fetchLoop(h).catch(fatal);
  }

  /**
   * Member mode: the group assigns the partitions. The engine restores each assigned
   * partition's state and says where to read it; before partitions go (a rebalance, a
   * stop), fetching them stops and the engine writes and snapshots them (awaited:
   * heartbeats go on meanwhile).
   */
  private joinGroup(h: SourceHandlers, m: { instanceId: string | null; sessionTimeoutMs: number }, fatal: (e: unknown) => void): void {
    const onAssigned = h.onPartitionsAssigned;
    const onRevoked = h.onPartitionsRevoked;
    if (onAssigned === undefined || onRevoked === undefined) throw new SmartGridError('INTERNAL', 'member mode needs the partition handlers');
    const group = new GroupMember(this.client, {
      groupId: this.opts.groupId,
      topics: [...this.partitions.keys()],
      groupInstanceId: m.instanceId,
      sessionTimeoutMs: m.sessionTimeoutMs,
      rebalanceTimeoutMs: Math.max(60_000, m.sessionTimeoutMs),
      leaveGroupOnLeave: true,
      metadataCheckIntervalMs: this.opts.metadataRefreshMs ?? 10_000,
      onAssign: async (parts, generation) => {
        this.log.info('the group assigned partitions', { generation, count: parts.length, memberId: group.memberId });
        const from = await onAssigned(parts, generation, group.memberId);
        this.epoch++;
        this.mine.clear();
        for (const p of parts) this.mine.add(key(p.topic, p.partition));
        this.fetcher.assign(from.map((o) => ({ topic: o.topic, partition: o.partition, offset: BigInt(o.offset) })));
      },
      onRevoke: async (parts, info) => {
        this.epoch++;
        this.mine.clear();
        this.fetcher.assign([]);
        this.log.info(info.lost ? 'partitions lost' : 'partitions revoked', { count: parts.length, reason: info.reason });
        await onRevoked(parts, info.lost);
      },
      onError: (e) => {
        if (group.state === 'failed') fatal(e);
        else this.log.warn('consumer group trouble; retrying', { error: describeError(e) });
      },
    });
    this.group = group;
    group.join().catch(fatal);
  }

  private async fetchLoop(h: SourceHandlers): Promise<void> {
    const ctx = { heartbeat: async () => {} };
    const refreshMs = this.opts.metadataRefreshMs ?? 10_000;
    let failures = 0;
    while (this.running && !this.paused) {
      let fetched: FetchedPartition[];
      const epoch = this.epoch;
      try {
        if (this.group === null && Date.now() - this.lastMetadataAt >= refreshMs) await this.checkNewPartitions(h);
        if (this.fetcher.positions().length === 0) {
          // Member mode before an assignment, or with nothing assigned.
          await sleep(50);
          continue;
        }
        fetched = await this.fetcher.fetch();
        failures = 0;
      } catch (e) {
        if (!this.running) return;
        if (!(e instanceof KafkaWireError) || !(e.canRetry || e.code === 'KAFKA_RETRIES_EXHAUSTED')) throw e;
        // Kafka is away (broker restart, network): keep trying; /readyz says so meanwhile.
        this.opts.reachability?.failed(this.opts.brokers.join(','), e.message);
        if (this.opts.reachability === undefined) this.log.warn('fetch failing; retrying', { error: describeError(e) });
        await sleep(Math.min(5000, 200 * 2 ** Math.min(failures++, 5)));
        continue;
      }
      for (const p of fetched) {
        if (!this.running || this.paused) return;
        // The assignment changed while this fetch was out: the partition may be another member's now.
        if (this.group !== null && (epoch !== this.epoch || !this.mine.has(key(p.topic, p.partition)))) break;
        if (p.error !== undefined) {
          this.outOfRange(p.error);
          continue;
        }
        if (p.records.length === 0) continue;
        // Large responses arrive in shared memory (src/kafka/connection.ts): the worker
        // reads the batches in place. A small one is copied into an ArrayBuffer of its own,
        // transferred without taking the rest of the response along.
        const bytes = p.records.buffer instanceof SharedArrayBuffer ? p.records : new Uint8Array(p.records);
        await h.onBatch(
          {
            topic: p.topic,
            partition: p.partition,
            highWatermark: Number(p.highWatermark),
            messages: [],
            raw: {
              bytes,
              fetchOffset: Number(p.fetchOffset),
              nextOffset: Number(p.nextOffset),
              abortedTransactions: p.abortedTransactions,
              readCommitted: this.opts.readCommitted,
            },
          },
          ctx,
        );
      }
    }
  }

  /**
   * The position is not in the log. Below its start, the records were deleted by
   * retention before they were read: continue at the start (the engine reports the gap).
   * Beyond its end, the log is not the one the state was built from (topic deleted and
   * recreated): continuing would mix two histories, so the engine stops and says so.
   */
  private outOfRange(e: OffsetOutOfRangeError): void {
    if (e.offset < e.logStartOffset) {
      this.log.warn('records were deleted by retention before they were processed', {
        topic: e.topic,
        partition: e.partition,
        from: Number(e.offset),
        to: Number(e.logStartOffset),
      });
      this.fetcher.seek(e.topic, e.partition, e.logStartOffset);
      return;
    }
    throw new SmartGridError(
      'KAFKA_OFFSET_OUT_OF_RANGE',
      `${e.topic}[${e.partition}]: the state covers offsets up to ${e.offset}, but the partition ends at ${e.logEndOffset}: ` +
        `the topic was deleted and recreated, or its records were lost. Start over with a new --group-id (or an empty ` +
        `--checkpoint-dir) to read it from the beginning`,
      { cause: e },
    );
  }

  private async checkNewPartitions(h: SourceHandlers): Promise<void> {
    this.lastMetadataAt = Date.now();
    let added = false;
    for (const [topic, known] of this.partitions) {
      const n = await this.client.partitionCount(topic);
      if (n > known.length) {
        this.log.info('partitions added to an input topic; reading them from the beginning', { topic, from: known.length, to: n });
        this.partitions.set(topic, Array.from({ length: n }, (_, i) => i));
        added = true;
      }
    }
    if (added) await this.assignAll(h, 'earliest');
  }

  pause(): void {
    this.paused = true;
  }

  async commit(offsets: { topic: string; partition: number; offset: number }[]): Promise<void> {
    if (offsets.length === 0) return;
    if (this.group !== null) {
      // As a member of the current generation: a stale member's commit is refused.
      await this.group.commit(offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: BigInt(o.offset) })));
      return;
    }
    await this.client.commitOffsets(
      this.opts.groupId,
      offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: BigInt(o.offset) })),
    );
  }

  async stop(): Promise<void> {
    // A member gives its partitions up first (the engine writes and snapshots them in
    // onPartitionsRevoked) and leaves, so that the others take them over at once.
    await this.group?.leave().catch((e: unknown) => this.log.warn('leaving the consumer group failed', { error: describeError(e) }));
    this.running = false;
    // Closing the connections ends a fetch still waiting for its answer.
    await this.client?.close().catch(() => {});
    await this.loop?.catch(() => {});
    if (this.adminConnected) await this.kafkaAdmin.disconnect().catch(() => {});
  }
}
