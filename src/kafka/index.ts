/**
 * The Kafka wire read path. Main thread: KafkaWireClient (metadata, ListOffsets, offset
 * commit/fetch without membership) and its Fetcher (raw record batches per partition);
 * GroupMember (classic consumer-group protocol with static membership) on top of it.
 * Worker threads: decodeRecordBatches (CRC, decompression, transactions) — it imports
 * nothing that needs the main thread. TLS and SASL (PLAIN, SCRAM-SHA-256/512): the client's
 * `tls` and `sasl` options, which securityFromFiles builds from an operator's files.
 */
export { KafkaWireClient, type KafkaWireClientOptions, type TopicPartition, type PartitionOffset } from './client.js';
export { Fetcher, type FetcherOptions, type FetchedPartition } from './fetcher.js';
export { decodeRecordBatches, type DecodedRecords, type DecodeOptions, type AbortedTransaction } from './decode.js';
export { KafkaWireError, OffsetOutOfRangeError, KafkaCode, type KafkaWireErrorCode } from './errors.js';
export { RecordBatchBuilder, scanBatches, BATCH, ATTR } from './record-batch.js';
export { crc32c } from './crc32c.js';
export { API_VERSIONS } from './protocol.js';
export type { CommitOffset } from './group-offsets-protocol.js';
export { GroupMember } from './group.js';
export type { GroupMemberOptions, GroupMemberState, RevokeInfo } from './group-options.js';
export { assignStickyRoundRobin, STICKY_ROUND_ROBIN, type AssignorMember } from './assignor.js';
export {
  GROUP_API_VERSIONS,
  CONSUMER_PROTOCOL_TYPE,
  encodeSubscription,
  decodeSubscription,
  encodeAssignment,
  decodeAssignment,
  type ConsumerSubscription,
  type ConsumerAssignment,
  type TopicPartitions,
} from './group-protocol.js';
export { securityFromFiles, type SecurityFiles, type SecurityOptions, type TlsOptions } from './security.js';
export { SASL_MECHANISMS, type SaslMechanism, type SaslOptions } from './sasl.js';
