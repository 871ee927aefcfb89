/**
 * The main-thread side of the wire read path: connections per broker, a metadata cache,
 * ListOffsets, offset commit/fetch for a group this client is not a member of, and a
 * sessionless Fetcher that hands out each partition's record batches as raw bytes.
 *
 * Assignment is manual (no group membership): the caller says which (topic, partition,
 * offset) to read, typically from its own snapshot, and may commit offsets to a group so
 * that lag tools see its position.
 */
import { Connection, SOFTWARE } from './connection.js';
import {
  KafkaCode,
  KafkaWireError,
  OffsetOutOfRangeError,
  REFRESH_METADATA_CODES,
  kafkaCodeName,
} from './errors.js';
import {
  API_VERSIONS,
  ApiKey,
  EARLIEST,
  LATEST,
  apiVersionsRequest,
  fetchRequest,
  findCoordinatorRequest,
  listOffsetsRequest,
  metadataRequest,
  offsetCommitRequest,
  offsetFetchRequest,
  type BrokerInfo,
  type CommitMember,
  type CommitOffset,
  type FetchPartitionResponse,
  type FetchedOffset,
  type FetchResponse,
  type RequestSpec,
} from './protocol.js';
import { scanBatches } from './record-batch.js';
import { GROUP_API_VERSIONS, GroupApiKey } from './group-protocol.js';
import type { AbortedTransaction } from './decode.js';
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

interface LeaderInfo {
  leaderId: number;
  leaderEpoch: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Answers to a member's commit meaning that it no longer is the member it says (or the group is between generations). */
const FENCING_CODES: ReadonlySet<number> = new Set([KafkaCode.ILLEGAL_GENERATION, KafkaCode.UNKNOWN_MEMBER_ID, KafkaCode.FENCED_INSTANCE_ID, KafkaCode.REBALANCE_IN_PROGRESS]);
const tpKey = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

function positiveInt(name: string, v: number | undefined, dflt: number): number {
  const x = v ?? dflt;
  if (!Number.isInteger(x) || x <= 0) throw new KafkaWireError('INVALID_ARGUMENT', `options.${name} must be a positive integer, got ${String(v)}`);
  return x;
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
        await this.checkVersions(c, lane !== '');
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

  /** The group APIs (JoinGroup v9 etc., Kafka 3.2+) are required only on a group member's connections. */
  private async checkVersions(c: Connection, group: boolean): Promise<void> {
    // A SASL connection asked already, before authenticating.
    const r = c.apiVersions ?? (await c.send(apiVersionsRequest(SOFTWARE.name, SOFTWARE.version), this.requestTimeoutMs));
    if (r.errorCode !== 0) {
      throw new KafkaWireError('UNSUPPORTED_VERSION', `${c.address} refused ApiVersions v3: ${kafkaCodeName(r.errorCode)}`, { kafkaCode: r.errorCode });
    }
    const wanted: [string, number, number][] = [
      ...Object.entries(API_VERSIONS).map(([name, v]): [string, number, number] => [name, ApiKey[name as keyof typeof ApiKey], v]),
      ...(group ? Object.entries(GROUP_API_VERSIONS) : []).map(([name, v]): [string, number, number] => [name, GroupApiKey[name as keyof typeof GroupApiKey], v]),
    ];
    for (const [name, key, version] of wanted) {
      const range = r.apis.get(key);
      if (range === undefined || version < range.min || version > range.max) {
        const has = range === undefined ? 'not at all' : `v${range.min}-v${range.max}`;
        throw new KafkaWireError('UNSUPPORTED_VERSION', `${c.address} supports ${name} ${has}; this client needs v${version}`);
      }
    }
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

  /** Refreshes the metadata of `topics` (leaders, epochs, partition counts, brokers). */
  async refreshMetadata(topics: readonly string[]): Promise<void> {
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
  async listOffsets(
    partitions: readonly TopicPartition[],
    at: 'earliest' | 'latest' | number,
    options: { readCommitted?: boolean } = {},
  ): Promise<PartitionOffset[]> {
    const timestamp = at === 'earliest' ? EARLIEST : at === 'latest' ? LATEST : BigInt(at);
    const result = new Map<string, bigint>();
    await this.retrying('ListOffsets', async () => {
      const todo = partitions.filter((p) => !result.has(tpKey(p.topic, p.partition)));
      const byLeader = new Map<number, { topic: string; partition: number; timestamp: bigint; leaderEpoch: number }[]>();
      for (const p of todo) {
        const l = await this.leaderOf(p.topic, p.partition);
        let list = byLeader.get(l.leaderId);
        if (list === undefined) byLeader.set(l.leaderId, (list = []));
        list.push({ ...p, timestamp, leaderEpoch: l.leaderEpoch });
      }
      let retry: KafkaWireError | undefined;
      await Promise.all(
        [...byLeader].map(async ([leader, reqs]) => {
          const c = await this.brokerConnection(leader);
          const res = await this.sendOn(c, listOffsetsRequest(reqs, options.readCommitted ?? false));
          for (const r of res) {
            if (r.errorCode === 0) result.set(tpKey(r.topic, r.partition), r.offset);
            else if (REFRESH_METADATA_CODES.has(r.errorCode)) {
              this.forgetLeader(r.topic, r.partition);
              retry = new KafkaWireError('KAFKA_ERROR', `ListOffsets ${r.topic}[${r.partition}]: ${kafkaCodeName(r.errorCode)}`, { canRetry: true, kafkaCode: r.errorCode });
            } else {
              throw new KafkaWireError('KAFKA_ERROR', `ListOffsets ${r.topic}[${r.partition}]: ${kafkaCodeName(r.errorCode)}`, { kafkaCode: r.errorCode });
            }
          }
        }),
      ).catch((e: unknown) => {
        if (e instanceof KafkaWireError && e.canRetry) this.leaders.clear();
        throw e;
      });
      if (retry !== undefined) throw retry;
    });
    return partitions.map((p) => ({ ...p, offset: result.get(tpKey(p.topic, p.partition))! }));
  }

  // ---------------------------------------------------------------- offsets of a group

  private async coordinator(groupId: string, lane = ''): Promise<Connection> {
    let b = this.coordinators.get(groupId);
    if (b === undefined) {
      const c = await this.anyConnection();
      const r = await this.sendOn(c, findCoordinatorRequest(groupId));
      if (r.errorCode !== 0) {
        throw new KafkaWireError('KAFKA_ERROR', `FindCoordinator ${groupId}: ${kafkaCodeName(r.errorCode)}${r.errorMessage ? ` (${r.errorMessage})` : ''}`, {
          kafkaCode: r.errorCode,
          canRetry: r.errorCode === KafkaCode.COORDINATOR_NOT_AVAILABLE || r.errorCode === KafkaCode.COORDINATOR_LOAD_IN_PROGRESS,
        });
      }
      b = { nodeId: r.nodeId, host: r.host, port: r.port };
      this.coordinators.set(groupId, b);
    }
    try {
      return await this.connection(b.host, b.port, lane);
    } catch (e) {
      // The coordinator's broker is gone (or moved): ask again who coordinates the group.
      if (this.coordinators.get(groupId) === b) this.coordinators.delete(groupId);
      throw e;
    }
  }

  private coordinatorError(groupId: string, what: string, code: number): KafkaWireError {
    const moved = code === KafkaCode.NOT_COORDINATOR || code === KafkaCode.COORDINATOR_NOT_AVAILABLE || code === KafkaCode.COORDINATOR_LOAD_IN_PROGRESS;
    if (moved) this.coordinators.delete(groupId);
    const hint =
      code === KafkaCode.ILLEGAL_GENERATION || code === KafkaCode.UNKNOWN_MEMBER_ID || code === KafkaCode.REBALANCE_IN_PROGRESS
        ? ' (the group has active members: a non-member may only commit to a group nobody is in)'
        : '';
    return new KafkaWireError('KAFKA_ERROR', `${what} for group ${groupId}: ${kafkaCodeName(code)}${hint}`, { kafkaCode: code, canRetry: moved });
  }

  /**
   * Commits offsets to `groupId` without joining it (generation -1, no member id), as the
   * Java consumer does with manual assignment. The offset to commit is the next one to
   * read. The broker accepts this while the group has no active members.
   */
  async commitOffsets(groupId: string, offsets: readonly CommitOffset[]): Promise<void> {
    await this.retrying(`OffsetCommit ${groupId}`, async () => {
      const c = await this.coordinator(groupId);
      const res = await this.sendOn(c, offsetCommitRequest(groupId, offsets));
      for (const r of res) if (r.errorCode !== 0) throw this.coordinatorError(groupId, `OffsetCommit ${r.topic}[${r.partition}]`, r.errorCode);
    });
  }

  /** The group's committed offsets (offset -1 where it has none). */
  async fetchCommittedOffsets(groupId: string, partitions: readonly TopicPartition[]): Promise<FetchedOffset[]> {
    return this.retrying(`OffsetFetch ${groupId}`, async () => {
      const c = await this.coordinator(groupId);
      const res = await this.sendOn(c, offsetFetchRequest(groupId, partitions));
      if (res.errorCode !== 0) throw this.coordinatorError(groupId, 'OffsetFetch', res.errorCode);
      for (const r of res.offsets) if (r.errorCode !== 0) throw this.coordinatorError(groupId, `OffsetFetch ${r.topic}[${r.partition}]`, r.errorCode);
      return res.offsets;
    });
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
  async groupRequest<T>(
    groupId: string,
    lane: string,
    what: string,
    spec: () => RequestSpec<T>,
    errorCodeOf: (res: T) => number,
    options: { retryForMs: number; extraTimeoutMs?: number; timeoutMs?: number },
  ): Promise<T> {
    return this.retrying(
      `${what} ${groupId}`,
      async () => {
        const c = await this.coordinator(groupId, lane);
        const res = await this.sendOn(c, spec(), options.extraTimeoutMs ?? 0, options.timeoutMs ?? this.requestTimeoutMs + (options.extraTimeoutMs ?? 0));
        const code = errorCodeOf(res);
        if (code === KafkaCode.NOT_COORDINATOR || code === KafkaCode.COORDINATOR_NOT_AVAILABLE || code === KafkaCode.COORDINATOR_LOAD_IN_PROGRESS) {
          throw this.coordinatorError(groupId, what, code);
        }
        return res;
      },
      options.retryForMs,
    );
  }

  /**
   * @internal Commits offsets as a group member (its generation, member id and instance
   * id). A refusal because the member is not current (ILLEGAL_GENERATION,
   * UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID, REBALANCE_IN_PROGRESS) is a GROUP_FENCED error;
   * coordinator moves and lost connections are retried for up to retryTimeoutMs.
   */
  async commitOffsetsAsMember(groupId: string, member: CommitMember, offsets: readonly CommitOffset[], lane = ''): Promise<void> {
    await this.retrying(`OffsetCommit ${groupId}`, async () => {
      const c = await this.coordinator(groupId, lane);
      const res = await this.sendOn(c, offsetCommitRequest(groupId, offsets, member));
      for (const r of res) {
        if (r.errorCode === 0) continue;
        if (FENCING_CODES.has(r.errorCode)) {
          const who = `member ${member.memberId}${member.groupInstanceId === null ? '' : ` (instance ${member.groupInstanceId})`} of generation ${member.generationId}`;
          throw new KafkaWireError(
            'GROUP_FENCED',
            `OffsetCommit ${r.topic}[${r.partition}] for group ${groupId} refused: ${who} is not current (${kafkaCodeName(r.errorCode)}); its partitions may belong to another member now`,
            { kafkaCode: r.errorCode },
          );
        }
        throw this.coordinatorError(groupId, `OffsetCommit ${r.topic}[${r.partition}]`, r.errorCode);
      }
    });
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

export interface FetcherOptions {
  /** Read only committed transactional records: the broker stops at the last stable offset and lists aborted transactions. */
  readCommitted?: boolean;
  /** Longest the broker waits for minBytes (default 500 ms). */
  maxWaitMs?: number;
  /** Bytes the broker waits for before answering (default 1). */
  minBytes?: number;
  /** Cap on one response (default 50 MiB, the Java consumer's fetch.max.bytes). */
  maxBytes?: number;
  /** Cap per partition (default 1 MiB, max.partition.fetch.bytes). */
  partitionMaxBytes?: number;
  /**
   * Told of every retriable failure a round absorbs (broker down, leader moved) before
   * retryTimeoutMs turns it into an error, and of every round that got its answers.
   */
  onRetry?: (error: KafkaWireError) => void;
  onAnswer?: () => void;
}

export interface FetchedPartition {
  topic: string;
  partition: number;
  /** The offset fetched: pass it to decodeRecordBatches, which drops records below it. */
  fetchOffset: bigint;
  /**
   * Complete record batches, raw (a trailing partial batch is already cut off): a view
   * into the response frame, shared with the other partitions of the same response.
   * Empty when there was nothing new or on error.
   */
  records: Buffer;
  /** Where the fetcher continues: last offset of the last complete batch + 1 (control batches count). */
  nextOffset: bigint;
  highWatermark: bigint;
  lastStableOffset: bigint;
  logStartOffset: bigint;
  abortedTransactions: AbortedTransaction[] | null;
  /** Set when the position is out of range; the partition is paused until `seek`. */
  error?: OffsetOutOfRangeError;
}

interface Assigned {
  topic: string;
  partition: number;
  offset: bigint;
  paused: boolean;
  /** This partition's fetch size: partitionMaxBytes, raised while batches do not fit it. */
  maxBytes: number;
}

/**
 * Reads assigned partitions with sessionless Fetch requests (session id 0, epoch -1: the
 * broker keeps no state per client, so a restart resumes with a plain request) to each
 * partition's leader. One `fetch()` is one round: a request per leader, in parallel.
 */
export class Fetcher {
  private readonly assigned = new Map<string, Assigned>();
  private readonly readCommitted: boolean;
  private readonly maxWaitMs: number;
  private readonly minBytes: number;
  private readonly maxBytes: number;
  private readonly partitionMaxBytes: number;
  private rotation = 0;
  private failingSince = 0;
  private failures = 0;
  private busy = false;

  constructor(
    private readonly client: KafkaWireClient,
    private readonly options: FetcherOptions,
  ) {
    this.readCommitted = options.readCommitted ?? false;
    this.maxWaitMs = options.maxWaitMs ?? 500;
    if (!Number.isInteger(this.maxWaitMs) || this.maxWaitMs < 0) throw new KafkaWireError('INVALID_ARGUMENT', 'options.maxWaitMs must be a non-negative integer');
    this.minBytes = positiveInt('minBytes', options.minBytes, 1);
    this.maxBytes = positiveInt('maxBytes', options.maxBytes, 50 * 1024 * 1024);
    this.partitionMaxBytes = positiveInt('partitionMaxBytes', options.partitionMaxBytes, 1024 * 1024);
  }

  /** Replaces the assignment: read each (topic, partition) from `offset` on. */
  assign(partitions: readonly PartitionOffset[]): void {
    this.assigned.clear();
    for (const p of partitions) {
      if (p.offset < 0n) throw new KafkaWireError('INVALID_ARGUMENT', `${p.topic}[${p.partition}]: offset must be ≥ 0 (resolve earliest/latest with listOffsets first)`);
      this.assigned.set(tpKey(p.topic, p.partition), { topic: p.topic, partition: p.partition, offset: p.offset, paused: false, maxBytes: this.partitionMaxBytes });
    }
  }

  /** Moves a partition's position (and resumes it if an out-of-range error paused it). */
  seek(topic: string, partition: number, offset: bigint): void {
    const a = this.assigned.get(tpKey(topic, partition));
    if (a === undefined) throw new KafkaWireError('INVALID_ARGUMENT', `${topic}[${partition}] is not assigned`);
    a.offset = offset;
    a.paused = false;
  }

  /** The next offset to fetch for each assigned partition. */
  positions(): PartitionOffset[] {
    return [...this.assigned.values()].map((a) => ({ topic: a.topic, partition: a.partition, offset: a.offset }));
  }

  /**
   * One fetch round. Partitions whose leader moved, or whose broker dropped the
   * connection, are retried in later rounds after a metadata refresh and a backoff; if
   * that lasts longer than the client's retryTimeoutMs, this rejects with
   * KAFKA_RETRIES_EXHAUSTED. Any other broker error rejects with KAFKA_ERROR.
   */
  async fetch(): Promise<FetchedPartition[]> {
    if (this.busy) throw new KafkaWireError('INVALID_ARGUMENT', 'fetch() called again before the previous call finished');
    this.busy = true;
    try {
      return await this.round();
    } finally {
      this.busy = false;
    }
  }

  private async round(): Promise<FetchedPartition[]> {
    const active = [...this.assigned.values()].filter((a) => !a.paused);
    if (active.length === 0) return [];
    // Rotate the order: only the first non-empty partition of a response is guaranteed a
    // batch larger than partition_max_bytes (KIP-74), so each gets to be first in turn.
    const shift = this.rotation++ % active.length;
    const ordered = [...active.slice(shift), ...active.slice(0, shift)];

    let retriable: KafkaWireError | undefined;
    const byLeader = new Map<number, { a: Assigned; leaderEpoch: number }[]>();
    for (const a of ordered) {
      try {
        const l = await this.client.leaderFor(a.topic, a.partition);
        let list = byLeader.get(l.leaderId);
        if (list === undefined) byLeader.set(l.leaderId, (list = []));
        list.push({ a, leaderEpoch: l.leaderEpoch });
      } catch (e) {
        if (e instanceof KafkaWireError && e.canRetry) retriable = e;
        else throw e;
      }
    }

    const out: FetchedPartition[] = [];
    const settled = await Promise.allSettled(
      [...byLeader].map(async ([leaderId, list]) => {
        const reqs = list.map(({ a, leaderEpoch }) => ({
          topic: a.topic,
          partition: a.partition,
          offset: a.offset,
          leaderEpoch,
          maxBytes: a.maxBytes,
        }));
        const res = await this.client.fetchFrom(leaderId, reqs, {
          maxWaitMs: this.maxWaitMs,
          minBytes: this.minBytes,
          maxBytes: this.maxBytes,
          readCommitted: this.readCommitted,
        });
        if (res.errorCode !== 0) {
          throw new KafkaWireError('KAFKA_ERROR', `Fetch from broker ${leaderId}: ${kafkaCodeName(res.errorCode)}`, { kafkaCode: res.errorCode });
        }
        const fetched = new Map(list.map(({ a }) => [tpKey(a.topic, a.partition), a.offset]));
        for (const p of res.partitions) {
          const a = this.assigned.get(tpKey(p.topic, p.partition));
          const asked = fetched.get(tpKey(p.topic, p.partition));
          // The assignment may have changed (seek/assign) while the request was out.
          if (a === undefined || asked === undefined || a.offset !== asked || a.paused) continue;
          const got = await this.handle(a, p);
          if (got instanceof KafkaWireError) retriable = got;
          else if (got !== undefined) out.push(got);
        }
      }),
    );
    for (const s of settled) {
      if (s.status === 'rejected') {
        const e = s.reason as unknown;
        if (e instanceof KafkaWireError && e.canRetry) {
          retriable = e;
          // A lost connection may mean a leader moved: ask again for everything.
          for (const a of active) this.client.invalidate(a.topic, a.partition);
        } else throw e;
      }
    }

    if (retriable === undefined) {
      this.failures = 0;
      this.options.onAnswer?.();
      return out;
    }
    this.options.onRetry?.(retriable);
    if (this.failures === 0) this.failingSince = Date.now();
    if (Date.now() - this.failingSince > this.client.retryTimeoutMs) {
      throw new KafkaWireError('KAFKA_RETRIES_EXHAUSTED', `fetch: still failing after ${this.client.retryTimeoutMs} ms: ${retriable.message}`, { cause: retriable });
    }
    await this.client.backoff(this.failures++);
    return out;
  }

  private async handle(a: Assigned, p: FetchPartitionResponse): Promise<FetchedPartition | KafkaWireError | undefined> {
    const base = {
      topic: a.topic,
      partition: a.partition,
      fetchOffset: a.offset,
      highWatermark: p.highWatermark,
      lastStableOffset: p.lastStableOffset,
      logStartOffset: p.logStartOffset,
      abortedTransactions: p.abortedTransactions,
    };
    if (p.errorCode === KafkaCode.NONE) {
      const scan = scanBatches(p.records);
      if (scan.batches === 0) {
        // Records are there but none came: the next batch is larger than the partition's
        // fetch size, and the broker hands an oversized batch only to the first partition
        // of a response (KIP-74), so this one would get a turn once per round of
        // partitions and fall behind the others. Its fetch size grows until a batch fits.
        const end = this.readCommitted ? p.lastStableOffset : p.highWatermark;
        if (end > a.offset) a.maxBytes = Math.min(this.maxBytes, a.maxBytes * 2);
        return { ...base, records: p.records.subarray(0, 0), nextOffset: a.offset };
      }
      const nextOffset = BigInt(scan.lastOffset) + 1n;
      a.offset = nextOffset > a.offset ? nextOffset : a.offset;
      return { ...base, records: p.records.subarray(0, scan.bytes), nextOffset: a.offset };
    }
    if (p.errorCode === KafkaCode.OFFSET_OUT_OF_RANGE) {
      // The broker sends -1 for the log bounds with this error; ask for them so the caller can decide.
      const tp = [{ topic: a.topic, partition: a.partition }];
      const [[start], [end]] = await Promise.all([this.client.listOffsets(tp, 'earliest'), this.client.listOffsets(tp, 'latest')]);
      a.paused = true;
      const error = new OffsetOutOfRangeError(a.topic, a.partition, a.offset, start.offset, end.offset);
      return { ...base, records: p.records.subarray(0, 0), nextOffset: a.offset, logStartOffset: start.offset, highWatermark: end.offset, error };
    }
    if (REFRESH_METADATA_CODES.has(p.errorCode)) {
      this.client.invalidate(a.topic, a.partition);
      return new KafkaWireError('KAFKA_ERROR', `Fetch ${a.topic}[${a.partition}]: ${kafkaCodeName(p.errorCode)}`, { canRetry: true, kafkaCode: p.errorCode });
    }
    throw new KafkaWireError('KAFKA_ERROR', `Fetch ${a.topic}[${a.partition}] at ${a.offset}: ${kafkaCodeName(p.errorCode)}`, { kafkaCode: p.errorCode });
  }
}
