/**
 * The main-thread side of the wire read path: connections per broker, a metadata cache,
 * ListOffsets, offset commit/fetch for a group this client is not a member of (sent by its
 * GroupCoordinator, group-coordinator.ts, as are a group member's requests), and the
 * requests its sessionless Fetcher (fetcher.ts) sends.
 *
 * Assignment is manual (no group membership): the caller says which (topic, partition,
 * offset) to read, typically from its own snapshot, and may commit offsets to a group so
 * that lag tools see its position.
 */
import { listOffsets } from './list-offsets.js';
import { Connection, checkApiVersions } from './connection.js';
import { KafkaCode, KafkaWireError, kafkaCodeName } from './errors.js';
import { describeGroupsRequest, type DescribedGroup } from './group-protocol.js';
import {
  fetchRequest,
  metadataRequest,
  type BrokerInfo,
  type FetchResponse,
  type MetadataResponse,
  type RequestSpec,
} from './protocol.js';
import type { CommitMember, CommitOffset, FetchedOffset } from './group-offsets-protocol.js';
import { GroupCoordinator } from './group-coordinator.js';
import { Fetcher, type FetcherOptions } from './fetcher.js';
import { positiveInt, sleep, tpKey } from './util.js';
import { SASL_MECHANISMS, type SaslOptions } from './sasl.js';
import type { TlsOptions } from './security.js';

export interface KafkaWireClientOptions {
  /** Bootstrap brokers as `host:port`. */
  brokers: string[];
  clientId?: string;
  /** How long to wait for an answer to one request (Fetch adds its maxWaitMs). Default 30 s. */
  requestTimeoutMs?: number;
  /** First wait after a retriable error; doubles up to maxRetryBackoffMs. Defaults 100 ms, 5 s. */
  retryBackoffMs?: number;
  maxRetryBackoffMs?: number;
  /** How long retriable errors (leader moves, unknown topic, disconnects) may last before an operation fails. Default 60 s. */
  retryTimeoutMs?: number;
  /** Told of every retriable failure an operation absorbs before it succeeds or gives up (for reachability probes). */
  onRetry?: (error: KafkaWireError) => void;
  /**
   * Connect with TLS (an SSL or SASL_SSL listener). `{}` trusts the system's CAs; `ca`
   * names the CA of a private one. A certificate that is not trusted fails at once with
   * KAFKA_TLS_FAILED. securityFromFiles() builds this from file names.
   */
  tls?: TlsOptions;
  /**
   * Authenticate every connection (reconnections too) with SASL: PLAIN, SCRAM-SHA-256 or
   * SCRAM-SHA-512. Refused credentials fail at once with KAFKA_AUTH_FAILED.
   */
  sasl?: SaslOptions;
}

export interface TopicPartition {
  topic: string;
  partition: number;
}

export interface PartitionOffset extends TopicPartition {
  offset: bigint;
}

export interface LeaderInfo {
  leaderId: number;
  leaderEpoch: number;
}

export class KafkaWireClient {
  private readonly bootstrap: { host: string; port: number }[];
  readonly clientId: string;
  readonly requestTimeoutMs: number;
  readonly retryBackoffMs: number;
  readonly maxRetryBackoffMs: number;
  readonly retryTimeoutMs: number;
  private readonly brokers = new Map<number, BrokerInfo>();
  private readonly connections = new Map<string, Promise<Connection>>();
  private readonly leaders = new Map<string, LeaderInfo>();
  private readonly partitionCounts = new Map<string, number>();
  private readonly onRetry: ((error: KafkaWireError) => void) | undefined;
  private readonly coordinators = new Map<string, BrokerInfo>();
  private closed = false;
  private readonly tls: TlsOptions | undefined;
  private readonly sasl: SaslOptions | undefined;
  /** FindCoordinator, OffsetCommit/OffsetFetch and the group members' requests (group-coordinator.ts). */
  private readonly groups: GroupCoordinator;

  constructor(options: KafkaWireClientOptions) {
    if (!Array.isArray(options.brokers) || options.brokers.length === 0) {
      throw new KafkaWireError('INVALID_ARGUMENT', 'options.brokers must list at least one host:port');
    }
    this.bootstrap = options.brokers.map((b, i) => {
      const m = /^(.+):(\d+)$/.exec(b);
      if (m === null) throw new KafkaWireError('INVALID_ARGUMENT', `options.brokers[${i}] must be host:port, got ${JSON.stringify(b)}`);
      return { host: m[1].replace(/^\[(.*)\]$/, '$1'), port: Number(m[2]) };
    });
    this.clientId = options.clientId ?? 'smartgrid-wire';
    this.requestTimeoutMs = positiveInt('requestTimeoutMs', options.requestTimeoutMs, 30_000);
    this.retryBackoffMs = positiveInt('retryBackoffMs', options.retryBackoffMs, 100);
    this.maxRetryBackoffMs = positiveInt('maxRetryBackoffMs', options.maxRetryBackoffMs, 5_000);
    this.retryTimeoutMs = positiveInt('retryTimeoutMs', options.retryTimeoutMs, 60_000);
    this.onRetry = options.onRetry;
    this.tls = options.tls;
    this.sasl = options.sasl;
    if (this.sasl !== undefined) {
      if (!(SASL_MECHANISMS as readonly string[]).includes(this.sasl.mechanism)) {
        throw new KafkaWireError('INVALID_ARGUMENT', `options.sasl.mechanism must be one of ${SASL_MECHANISMS.join(', ')}, got ${JSON.stringify(this.sasl.mechanism)}`);
      }
      if (typeof this.sasl.username !== 'string' || this.sasl.username === '' || typeof this.sasl.password !== 'string') {
        throw new KafkaWireError('INVALID_ARGUMENT', 'options.sasl needs a username and a password');
      }
    }
    this.groups = new GroupCoordinator(
      {
        requestTimeoutMs: this.requestTimeoutMs,
        anyConnection: () => this.anyConnection(),
        connection: (host, port, lane) => this.connection(host, port, lane),
        sendOn: (c, spec, extraTimeoutMs, timeoutMs) => this.sendOn(c, spec, extraTimeoutMs, timeoutMs),
        retrying: (what, op, timeoutMs) => this.retrying(what, op, timeoutMs),
      },
      this.coordinators,
    );
  }

  // ---------------------------------------------------------------- connections

  /**
   * A connected, version-checked connection to host:port (one per address and lane,
   * reused). Lanes other than the default '' are for group members: a broker handles one
   * request per connection at a time, and a JoinGroup waits there for the whole rebalance,
   * so each member gets a connection of its own (as the Java consumer does for its
   * coordinator).
   */
  private connection(host: string, port: number, lane = ''): Promise<Connection> {
    if (this.closed) return Promise.reject(new KafkaWireError('CLIENT_CLOSED', 'the client is closed'));
    const key = lane === '' ? `${host}:${port}` : `${host}:${port}/${lane}`;
    const existing = this.connections.get(key);
    if (existing !== undefined) {
      return existing.then((c) => {
        if (c.usable) return c;
        if (this.connections.get(key) === existing) this.connections.delete(key);
        return this.connection(host, port, lane);
      });
    }
    const p = (async () => {
      const c = new Connection({
        host,
        port,
        clientId: this.clientId,
        connectTimeoutMs: this.requestTimeoutMs,
        requestTimeoutMs: this.requestTimeoutMs,
        tls: this.tls,
        sasl: this.sasl,
      });
      await c.connect();
      try {
        await checkApiVersions(c, lane !== '', this.requestTimeoutMs);
      } catch (e) {
        c.close();
        throw e;
      }
      return c;
    })();
    this.connections.set(key, p);
    p.catch(() => {
      if (this.connections.get(key) === p) this.connections.delete(key);
    });
    return p;
  }

  private async brokerConnection(nodeId: number): Promise<Connection> {
    const b = this.brokers.get(nodeId);
    if (b === undefined) throw new KafkaWireError('KAFKA_DISCONNECTED', `broker ${nodeId} is not in the metadata`, { canRetry: true });
    return this.connection(b.host, b.port);
  }

  /** Any broker: a known one first, then the bootstrap list. */
  private async anyConnection(): Promise<Connection> {
    const candidates = [...this.brokers.values(), ...this.bootstrap];
    let last: unknown;
    let fatal: KafkaWireError | undefined;
    for (const b of candidates) {
      try {
        return await this.connection(b.host, b.port);
      } catch (e) {
        last = e;
        if (e instanceof KafkaWireError && !e.canRetry) fatal ??= e;
      }
    }
    // Refused credentials, an untrusted certificate: the same settings fail on every broker
    // and on every retry, so say so at once.
    if (fatal !== undefined) throw fatal;
    const why = last instanceof Error ? `: ${last.message}` : '';
    throw new KafkaWireError('KAFKA_DISCONNECTED', `no broker reachable (${candidates.map((b) => `${b.host}:${b.port}`).join(', ')})${why}`, { cause: last, canRetry: true });
  }

  private dropConnection(c: Connection): void {
    c.close();
  }

  /** Waits the backoff for attempt n (0-based), with ±20 % jitter so that clients do not retry in step. */
  backoff(attempt: number): Promise<void> {
    const base = Math.min(this.maxRetryBackoffMs, this.retryBackoffMs * 2 ** Math.min(attempt, 20));
    return sleep(base * (0.8 + 0.4 * Math.random()));
  }

  /** Runs op, retrying retriable errors with backoff (and a metadata refresh) for up to timeoutMs (default retryTimeoutMs). */
  private async retrying<T>(what: string, op: () => Promise<T>, timeoutMs = this.retryTimeoutMs): Promise<T> {
    const start = Date.now();
    for (let attempt = 0; ; attempt++) {
      try {
        return await op();
      } catch (e) {
        if (!(e instanceof KafkaWireError) || !e.canRetry) throw e;
        this.onRetry?.(e);
        if (Date.now() - start > timeoutMs) {
          throw new KafkaWireError('KAFKA_RETRIES_EXHAUSTED', `${what}: still failing after ${timeoutMs} ms: ${e.message}`, { cause: e });
        }
        await this.backoff(attempt);
      }
    }
  }

  /** Connects to a bootstrap broker and checks that it speaks the versions this client sends. */
  async connect(): Promise<void> {
    await this.retrying('connect', () => this.anyConnection());
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.connections.values()];
    this.connections.clear();
    for (const p of all) {
      try {
        (await p).close();
      } catch {
        // a connection that never opened has nothing to close
      }
    }
  }

  // ---------------------------------------------------------------- metadata

  /**
   * The partition ids of each of `topics` that exists (fresh metadata, which also refreshes
   * leaders); a topic the broker does not know is left out. Never creates a topic.
   */
  async topicPartitions(topics: readonly string[]): Promise<Map<string, number[]>> {
    const md = await this.retrying('metadata', () => this.refreshMetadata(topics));
    const out = new Map<string, number[]>();
    for (const t of md.topics) if (t.errorCode === 0) out.set(t.name, t.partitions.map((p) => p.partition).sort((a, b) => a - b));
    return out;
  }

  /**
   * The state and members of a consumer group, from its coordinator (DescribeGroups);
   * coordinator moves are retried like the other group requests.
   */
  async describeGroup(groupId: string): Promise<DescribedGroup> {
    const res = await this.groups.groupRequest(groupId, '', 'describing group', () => describeGroupsRequest([groupId]), (x) => x.groups[0]?.errorCode ?? 0, {
      retryForMs: this.retryTimeoutMs,
    });
    const g = res.groups.find((x) => x.groupId === groupId);
    if (g === undefined) throw new KafkaWireError('KAFKA_ERROR', `describing group ${groupId}: the broker's answer does not mention it`);
    if (g.errorCode !== 0) {
      throw new KafkaWireError('KAFKA_ERROR', `describing group ${groupId}: ${kafkaCodeName(g.errorCode)}`, { kafkaCode: g.errorCode });
    }
    return g;
  }

  /** Refreshes the metadata of `topics` (leaders, epochs, partition counts, brokers). */
  async refreshMetadata(topics: readonly string[]): Promise<MetadataResponse> {
    const c = await this.anyConnection();
    const md = await this.sendOn(c, metadataRequest(topics));
    this.brokers.clear();
    for (const b of md.brokers) this.brokers.set(b.nodeId, b);
    for (const t of md.topics) {
      if (t.errorCode !== 0) {
        this.partitionCounts.delete(t.name);
        continue;
      }
      this.partitionCounts.set(t.name, t.partitions.length);
      for (const p of t.partitions) {
        if (p.errorCode === 0 && p.leaderId >= 0) this.leaders.set(tpKey(t.name, p.partition), { leaderId: p.leaderId, leaderEpoch: p.leaderEpoch });
        else this.leaders.delete(tpKey(t.name, p.partition));
      }
    }
    return md;
  }

  /** Number of partitions of `topic` (fresh metadata); 0 when the broker does not know the topic. */
  async partitionCount(topic: string): Promise<number> {
    await this.refreshMetadata([topic]);
    return this.partitionCounts.get(topic) ?? 0;
  }

  private async leaderOf(topic: string, partition: number): Promise<LeaderInfo> {
    let l = this.leaders.get(tpKey(topic, partition));
    if (l === undefined) {
      await this.refreshMetadata([topic]);
      l = this.leaders.get(tpKey(topic, partition));
    }
    if (l === undefined) {
      throw new KafkaWireError('KAFKA_ERROR', `${topic}[${partition}] has no leader (unknown topic or partition, or an election is under way)`, {
        canRetry: true,
        kafkaCode: KafkaCode.LEADER_NOT_AVAILABLE,
      });
    }
    return l;
  }

  private forgetLeader(topic: string, partition: number): void {
    this.leaders.delete(tpKey(topic, partition));
  }

  /** Sends on c; a connection-level failure drops the connection so the next call reconnects. */
  private async sendOn<T>(c: Connection, spec: RequestSpec<T>, extraTimeoutMs = 0, timeoutMs = this.requestTimeoutMs + extraTimeoutMs): Promise<T> {
    try {
      return await c.send(spec, timeoutMs);
    } catch (e) {
      if (e instanceof KafkaWireError && (e.code === 'KAFKA_DISCONNECTED' || e.code === 'REQUEST_TIMEOUT')) this.dropConnection(c);
      throw e;
    }
  }

  // ---------------------------------------------------------------- ListOffsets

  /**
   * The offset for each partition at `at`: 'earliest' (log start), 'latest' (high
   * watermark, or last stable offset with readCommitted) or a timestamp in ms (first
   * offset whose timestamp is at or after it; -1 when there is none).
   */
  listOffsets(
    partitions: readonly TopicPartition[],
    at: 'earliest' | 'latest' | number,
    options: { readCommitted?: boolean } = {},
  ): Promise<PartitionOffset[]> {
    return listOffsets(
      {
        leaderOf: (t, p) => this.leaderOf(t, p),
        brokerConnection: (id) => this.brokerConnection(id),
        sendOn: (c, spec) => this.sendOn(c, spec),
        retrying: (what, op) => this.retrying(what, op),
        forgetLeader: (t, p) => this.forgetLeader(t, p),
        forgetLeaders: () => this.leaders.clear(),
      },
      partitions,
      at,
      options,
    );
  }

  // ---------------------------------------------------------------- offsets of a group

  /**
   * Commits offsets to `groupId` without joining it (generation -1, no member id), as the
   * Java consumer does with manual assignment. The offset to commit is the next one to
   * read. The broker accepts this while the group has no active members.
   */
  async commitOffsets(groupId: string, offsets: readonly CommitOffset[]): Promise<void> {
    await this.groups.commitOffsets(groupId, offsets);
  }

  /** The group's committed offsets (offset -1 where it has none). */
  async fetchCommittedOffsets(groupId: string, partitions: readonly TopicPartition[]): Promise<FetchedOffset[]> {
    return this.groups.fetchCommittedOffsets(groupId, partitions);
  }

  // ---------------------------------------------------------------- group membership (used by GroupMember)

  /**
   * @internal One request to the group's coordinator on a member's own connection `lane`.
   * Coordinator moves (NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE, COORDINATOR_LOAD_IN_PROGRESS,
   * as `errorCodeOf` reads them from the response) and lost connections are retried with
   * backoff for up to retryForMs (0: one attempt); every other answer is returned.
   * extraTimeoutMs: how much longer than requestTimeoutMs the broker may take (JoinGroup
   * waits for the rebalance); timeoutMs replaces requestTimeoutMs (heartbeats: an answer
   * later than the session timeout is no use).
   */
  groupRequest: GroupCoordinator['groupRequest'] = (...args) => this.groups.groupRequest(...args);

  /**
   * @internal Commits offsets as a group member (its generation, member id and instance
   * id). A refusal because the member is not current (ILLEGAL_GENERATION,
   * UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID, REBALANCE_IN_PROGRESS) is a GROUP_FENCED error;
   * coordinator moves and lost connections are retried for up to retryTimeoutMs.
   */
  async commitOffsetsAsMember(groupId: string, member: CommitMember, offsets: readonly CommitOffset[], lane = ''): Promise<void> {
    await this.groups.commitOffsetsAsMember(groupId, member, offsets, lane);
  }

  /** @internal Closes the connections of a member's lane. */
  closeLane(lane: string): void {
    for (const [key, p] of this.connections) {
      if (!key.endsWith(`/${lane}`)) continue;
      this.connections.delete(key);
      p.then(
        (c) => c.close(),
        () => {},
      );
    }
  }

  // ---------------------------------------------------------------- Fetch

  createFetcher(options: FetcherOptions = {}): Fetcher {
    return new Fetcher(this, options);
  }

  /** @internal used by Fetcher */
  async fetchFrom(leaderId: number, reqs: Parameters<typeof fetchRequest>[0], opts: Parameters<typeof fetchRequest>[1]): Promise<FetchResponse> {
    const c = await this.brokerConnection(leaderId);
    return this.sendOn(c, fetchRequest(reqs, opts), opts.maxWaitMs);
  }

  /** @internal */
  leaderFor(topic: string, partition: number): Promise<LeaderInfo> {
    return this.leaderOf(topic, partition);
  }

  /** @internal */
  invalidate(topic: string, partition: number): void {
    this.forgetLeader(topic, partition);
  }
}
