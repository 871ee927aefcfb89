/**
 * The sessionless Fetcher of the wire read path: reads the assigned partitions from their
 * leaders (through the KafkaWireClient's connections and metadata) and hands out each
 * partition's complete record batches as raw bytes, with the fetch size of a partition
 * raised while its next batch does not fit, and retriable failures absorbed for the
 * client's retryTimeoutMs.
 */
import { KafkaCode, KafkaWireError, OffsetOutOfRangeError, REFRESH_METADATA_CODES, kafkaCodeName } from './errors.js';
import type { FetchPartitionResponse } from './protocol.js';
import { scanBatches } from './record-batch.js';
import type { AbortedTransaction } from './decode.js';
import type { KafkaWireClient, PartitionOffset } from './client.js';
import { positiveInt, tpKey } from './util.js';

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
