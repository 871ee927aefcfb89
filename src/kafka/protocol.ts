/**
 * Request encoders and response decoders for the APIs this client speaks, one version
 * each, all "flexible" (KIP-482) and all supported by Kafka 3.x and 4.x (KIP-896 removed
 * only older versions in 4.0):
 *
 *   ApiVersions v3, Metadata v12, ListOffsets v7, Fetch v12; and, in
 *   group-offsets-protocol.ts, FindCoordinator v4, OffsetCommit v8, OffsetFetch v7.
 *
 * Fetch v12 is the last version that names topics (v13+ uses topic ids), so no topic-id
 * bookkeeping is needed. Field lists follow the JSON message definitions in
 * clients/src/main/resources/common/message/ of Apache Kafka.
 */
import { Reader, Writer } from './codec.js';
import type { AbortedTransaction } from './decode.js';

export const ApiKey = {
  Fetch: 1,
  ListOffsets: 2,
  Metadata: 3,
  OffsetCommit: 8,
  OffsetFetch: 9,
  FindCoordinator: 10,
  ApiVersions: 18,
} as const;

/** The version of each API this client sends. */
export const API_VERSIONS: Readonly<Record<keyof typeof ApiKey, number>> = {
  Fetch: 12,
  ListOffsets: 7,
  Metadata: 12,
  OffsetCommit: 8,
  OffsetFetch: 7,
  FindCoordinator: 4,
  ApiVersions: 3,
};

export interface RequestSpec<T> {
  apiKey: number;
  apiVersion: number;
  /** Body bytes after the request header. */
  body: (w: Writer) => void;
  decode: (r: Reader) => T;
  /** False for a version that is not flexible: request header v1, response header v0. Default true. */
  flexible?: boolean;
}

// ------------------------------------------------------------------ ApiVersions v3

export interface ApiVersionsResponse {
  errorCode: number;
  apis: Map<number, { min: number; max: number }>;
}

export function apiVersionsRequest(softwareName: string, softwareVersion: string): RequestSpec<ApiVersionsResponse> {
  return {
    apiKey: ApiKey.ApiVersions,
    apiVersion: 3,
    body: (w) => w.compactString(softwareName).compactString(softwareVersion).tags(),
    decode: (r) => {
      const errorCode = r.int16();
      const apis = new Map<number, { min: number; max: number }>();
      // A broker that does not know v3 answers in v0 (KIP-511): error code and a
      // non-compact array; this client needs v3, so only the error code matters then.
      if (errorCode !== 0) return { errorCode, apis };
      r.compactArray((x) => {
        const key = x.int16();
        apis.set(key, { min: x.int16(), max: x.int16() });
        x.tags();
      });
      return { errorCode, apis };
    },
  };
}

// ------------------------------------------------------------------ Metadata v12

export interface BrokerInfo {
  nodeId: number;
  host: string;
  port: number;
}

export interface PartitionMetadata {
  errorCode: number;
  partition: number;
  leaderId: number;
  leaderEpoch: number;
}

export interface TopicMetadata {
  errorCode: number;
  name: string;
  partitions: PartitionMetadata[];
}

export interface MetadataResponse {
  brokers: BrokerInfo[];
  controllerId: number;
  topics: TopicMetadata[];
}

const NULL_UUID = new Uint8Array(16);

export function metadataRequest(topics: readonly string[] | null): RequestSpec<MetadataResponse> {
  return {
    apiKey: ApiKey.Metadata,
    apiVersion: 12,
    body: (w) =>
      w
        .compactArray(topics, (x, name) => x.uuid(NULL_UUID).compactString(name).tags())
        .bool(false) // allow_auto_topic_creation: a reader must not create topics by asking
        .bool(false) // include_topic_authorized_operations
        .tags(),
    decode: (r) => {
      r.int32(); // throttle_time_ms
      const brokers = r.compactArray((x) => {
        const b = { nodeId: x.int32(), host: x.compactString() ?? '', port: x.int32() };
        x.compactString(); // rack
        x.tags();
        return b;
      });
      r.compactString(); // cluster_id
      const controllerId = r.int32();
      const topics = r.compactArray((x) => {
        const errorCode = x.int16();
        const name = x.compactString() ?? '';
        x.uuid();
        x.bool(); // is_internal
        const partitions = x.compactArray((y) => {
          const p = { errorCode: y.int16(), partition: y.int32(), leaderId: y.int32(), leaderEpoch: y.int32() };
          y.compactArray((z) => z.int32()); // replicas
          y.compactArray((z) => z.int32()); // isr
          y.compactArray((z) => z.int32()); // offline
          y.tags();
          return p;
        });
        x.int32(); // topic_authorized_operations
        x.tags();
        return { errorCode, name, partitions };
      });
      r.tags();
      return { brokers, controllerId, topics };
    },
  };
}

// ------------------------------------------------------------------ ListOffsets v7

/** ListOffsets timestamps with a special meaning (KIP-79). */
export const EARLIEST = -2n;
export const LATEST = -1n;

export interface ListOffsetsPartition {
  topic: string;
  partition: number;
  errorCode: number;
  timestamp: bigint;
  offset: bigint;
}

export function listOffsetsRequest(
  requests: readonly { topic: string; partition: number; timestamp: bigint; leaderEpoch: number }[],
  readCommitted: boolean,
): RequestSpec<ListOffsetsPartition[]> {
  const byTopic = groupByTopic(requests);
  return {
    apiKey: ApiKey.ListOffsets,
    apiVersion: 7,
    body: (w) =>
      w
        .int32(-1) // replica_id: a consumer
        // read_committed answers LATEST with the last stable offset instead of the high watermark
        .int8(readCommitted ? 1 : 0)
        .compactArray([...byTopic], (x, [topic, ps]) =>
          x
            .compactString(topic)
            .compactArray(ps, (y, p) => y.int32(p.partition).int32(p.leaderEpoch).int64(p.timestamp).tags())
            .tags(),
        )
        .tags(),
    decode: (r) => {
      r.int32();
      const out: ListOffsetsPartition[] = [];
      r.compactArray((x) => {
        const topic = x.compactString() ?? '';
        x.compactArray((y) => {
          const partition = y.int32();
          const errorCode = y.int16();
          const timestamp = y.int64();
          const offset = y.int64();
          y.int32(); // leader_epoch
          y.tags();
          out.push({ topic, partition, errorCode, timestamp, offset });
        });
        x.tags();
      });
      r.tags();
      return out;
    },
  };
}

// ------------------------------------------------------------------ Fetch v12

export interface FetchPartitionRequest {
  topic: string;
  partition: number;
  offset: bigint;
  /** Leader epoch from metadata: a stale one gets FENCED_LEADER_EPOCH instead of data from a deposed leader (KIP-320). */
  leaderEpoch: number;
  maxBytes: number;
}

export interface FetchPartitionResponse {
  topic: string;
  partition: number;
  errorCode: number;
  highWatermark: bigint;
  lastStableOffset: bigint;
  logStartOffset: bigint;
  abortedTransactions: AbortedTransaction[] | null;
  /** The record batches as a view into the response frame (no copy); empty when none. */
  records: Buffer;
}

export interface FetchResponse {
  errorCode: number;
  partitions: FetchPartitionResponse[];
}

const EMPTY = Buffer.alloc(0);

export function fetchRequest(
  partitions: readonly FetchPartitionRequest[],
  opts: { maxWaitMs: number; minBytes: number; maxBytes: number; readCommitted: boolean },
): RequestSpec<FetchResponse> {
  const byTopic = groupByTopic(partitions);
  return {
    apiKey: ApiKey.Fetch,
    apiVersion: 12,
    body: (w) =>
      w
        .int32(-1) // replica_id: a consumer
        .int32(opts.maxWaitMs)
        .int32(opts.minBytes)
        .int32(opts.maxBytes)
        .int8(opts.readCommitted ? 1 : 0)
        // session_id 0 with epoch -1 (FINAL_EPOCH): a full fetch that opens no session (KIP-227)
        .int32(0)
        .int32(-1)
        .compactArray([...byTopic], (x, [topic, ps]) =>
          x
            .compactString(topic)
            .compactArray(ps, (y, p) =>
              y
                .int32(p.partition)
                .int32(p.leaderEpoch) // current_leader_epoch
                .int64(p.offset)
                .int32(-1) // last_fetched_epoch: no divergence check (that is for followers)
                .int64(-1n) // log_start_offset: only followers send it
                .int32(p.maxBytes)
                .tags(),
            )
            .tags(),
        )
        .compactArray([], () => {}) // forgotten_topics_data: only for sessions
        .compactString('') // rack_id
        .tags(),
    decode: (r) => {
      r.int32(); // throttle_time_ms
      const errorCode = r.int16();
      r.int32(); // session_id
      const partitions: FetchPartitionResponse[] = [];
      r.compactArray((x) => {
        const topic = x.compactString() ?? '';
        x.compactArray((y) => {
          const partition = y.int32();
          const pErr = y.int16();
          const highWatermark = y.int64();
          const lastStableOffset = y.int64();
          const logStartOffset = y.int64();
          const n = y.compactArrayLength();
          let abortedTransactions: AbortedTransaction[] | null = null;
          if (n >= 0) {
            abortedTransactions = [];
            for (let i = 0; i < n; i++) {
              abortedTransactions.push({ producerId: y.int64(), firstOffset: y.int64() });
              y.tags();
            }
          }
          y.int32(); // preferred_read_replica
          const records = y.compactBytes() ?? EMPTY;
          y.tags();
          partitions.push({ topic, partition, errorCode: pErr, highWatermark, lastStableOffset, logStartOffset, abortedTransactions, records });
        });
        x.tags();
      });
      r.tags();
      return { errorCode, partitions };
    },
  };
}

/** Items by topic, in first-seen order (requests name each topic once). */
export function groupByTopic<T extends { topic: string }>(items: readonly T[]): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const it of items) {
    let l = m.get(it.topic);
    if (l === undefined) m.set(it.topic, (l = []));
    l.push(it);
  }
  return m;
}
