/**
 * Errors of the Kafka wire client. Like the project's SmartGridError (src/common/errors.ts,
 * which this folder must not import), every error has a stable `code`, the `cause` that
 * led to it and whether retrying can help; errors the broker sent also carry its numeric
 * `kafkaCode`.
 */
export const KafkaWireErrorCodes = [
  // cannot open a connection, or it closed while requests were in flight
  'KAFKA_DISCONNECTED',
  // the broker answered with a Kafka error code this client does not retry
  'KAFKA_ERROR',
  // a retriable error (leader moved, topic not there yet, connection lost) kept happening
  'KAFKA_RETRIES_EXHAUSTED',
  // the fetch position is outside [log start, log end): the caller must seek
  'OFFSET_OUT_OF_RANGE',
  // the broker does not support a request version this client needs
  'UNSUPPORTED_VERSION',
  // bytes that do not follow the protocol: a response or a record batch is malformed
  'CORRUPT_MESSAGE',
  // a record batch whose CRC-32C does not match its content
  'CRC_MISMATCH',
  // a record batch compressed with a codec this decoder does not implement
  'UNSUPPORTED_CODEC',
  // a record batch with magic < 2 (message sets v0/v1), which this decoder does not read
  'UNSUPPORTED_MAGIC',
  // a group member's generation, member id or instance id is no longer current (a rebalance
  // happened, its session expired, or another process took over its group.instance.id): the
  // coordinator refused its request, and its partitions may belong to another member now
  'GROUP_FENCED',
  // a group member's onAssign/onRevoke callback threw (the error is the cause)
  'GROUP_CALLBACK_FAILED',
  'REQUEST_TIMEOUT',
  'INVALID_ARGUMENT',
  'CLIENT_CLOSED',
  // SASL authentication refused (wrong user or password, mechanism not enabled) or the
  // broker failed the client's check (SCRAM server signature): retrying cannot help
  'KAFKA_AUTH_FAILED',
  // the TLS handshake failed for a reason retrying cannot fix: certificate not trusted,
  // name mismatch, not a TLS listener
  'KAFKA_TLS_FAILED',
] as const;
export type KafkaWireErrorCode = (typeof KafkaWireErrorCodes)[number];

export class KafkaWireError extends Error {
  readonly code: KafkaWireErrorCode;
  readonly canRetry: boolean;
  /** The broker's error code, when the broker sent one. */
  readonly kafkaCode: number | undefined;

  constructor(
    code: KafkaWireErrorCode,
    message: string,
    options: { cause?: unknown; canRetry?: boolean; kafkaCode?: number } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KafkaWireError';
    this.code = code;
    this.canRetry = options.canRetry ?? false;
    this.kafkaCode = options.kafkaCode;
  }
}

/** Fetching at an offset the partition does not hold; the log bounds say where it could resume. */
export class OffsetOutOfRangeError extends KafkaWireError {
  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly offset: bigint,
    /** Earliest offset the partition holds (ListOffsets -2), after the error. */
    readonly logStartOffset: bigint,
    /** Offset the next record will get (ListOffsets -1, the high watermark), after the error. */
    readonly logEndOffset: bigint,
  ) {
    super(
      'OFFSET_OUT_OF_RANGE',
      `${topic}[${partition}]: offset ${offset} is out of range [${logStartOffset}, ${logEndOffset}]`,
      { kafkaCode: KafkaCode.OFFSET_OUT_OF_RANGE },
    );
    this.name = 'OffsetOutOfRangeError';
  }
}

/** The Kafka error codes this client reacts to (org.apache.kafka.common.protocol.Errors). */
export const KafkaCode = {
  NONE: 0,
  OFFSET_OUT_OF_RANGE: 1,
  CORRUPT_MESSAGE: 2,
  UNKNOWN_TOPIC_OR_PARTITION: 3,
  LEADER_NOT_AVAILABLE: 5,
  NOT_LEADER_OR_FOLLOWER: 6,
  REQUEST_TIMED_OUT: 7,
  REPLICA_NOT_AVAILABLE: 9,
  COORDINATOR_LOAD_IN_PROGRESS: 14,
  COORDINATOR_NOT_AVAILABLE: 15,
  NOT_COORDINATOR: 16,
  ILLEGAL_GENERATION: 22,
  INCONSISTENT_GROUP_PROTOCOL: 23,
  INVALID_GROUP_ID: 24,
  UNKNOWN_MEMBER_ID: 25,
  INVALID_SESSION_TIMEOUT: 26,
  REBALANCE_IN_PROGRESS: 27,
  GROUP_AUTHORIZATION_FAILED: 30,
  UNSUPPORTED_SASL_MECHANISM: 33,
  ILLEGAL_SASL_STATE: 34,
  UNSUPPORTED_VERSION: 35,
  KAFKA_STORAGE_ERROR: 56,
  SASL_AUTHENTICATION_FAILED: 58,
  FENCED_LEADER_EPOCH: 74,
  UNKNOWN_LEADER_EPOCH: 75,
  OFFSET_NOT_AVAILABLE: 78,
  MEMBER_ID_REQUIRED: 79,
  GROUP_MAX_SIZE_REACHED: 81,
  FENCED_INSTANCE_ID: 82,
  UNSTABLE_OFFSET_COMMIT: 88,
  UNKNOWN_TOPIC_ID: 100,
} as const;

const NAMES = new Map<number, string>(Object.entries(KafkaCode).map(([k, v]) => [v, k]));

/** `NAME (n)` for a Kafka error code, or `error n` for one this client has no name for. */
export function kafkaCodeName(code: number): string {
  const name = NAMES.get(code);
  return name === undefined ? `error ${code}` : `${name} (${code})`;
}

/**
 * Partition-level errors after which the metadata is stale: the leader moved, is being
 * elected, or the topic is not (yet) known to this broker. Refreshing metadata and
 * retrying is what the Java consumer does for each of them.
 */
export const REFRESH_METADATA_CODES: ReadonlySet<number> = new Set([
  KafkaCode.UNKNOWN_TOPIC_OR_PARTITION,
  KafkaCode.LEADER_NOT_AVAILABLE,
  KafkaCode.NOT_LEADER_OR_FOLLOWER,
  KafkaCode.REPLICA_NOT_AVAILABLE,
  KafkaCode.KAFKA_STORAGE_ERROR,
  KafkaCode.FENCED_LEADER_EPOCH,
  KafkaCode.UNKNOWN_LEADER_EPOCH,
  KafkaCode.UNKNOWN_TOPIC_ID,
  KafkaCode.OFFSET_NOT_AVAILABLE,
  KafkaCode.REQUEST_TIMED_OUT,
]);
