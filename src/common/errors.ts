/**
 * One error type for the whole project: every error carries a stable `code`, the `cause`
 * that led to it, and whether retrying can help.
 */
import { describeError } from './describe-error.js';
export const ErrorCodes = [
  'CONFIG_INVALID',
  'KAFKA_UNAVAILABLE',
  'KAFKA_ERROR',
  // Kafka answers, but a topic the service writes to does not exist (and was not created)
  'KAFKA_TOPIC_MISSING',
  // a fetched record batch cannot be read (CRC mismatch, unknown codec, corrupt framing)
  'KAFKA_CORRUPT_DATA',
  // the position the state covers is not in the partition's log (deleted or recreated topic)
  'KAFKA_OFFSET_OUT_OF_RANGE',
  'POSTGRES_UNAVAILABLE',
  'POSTGRES_ERROR',
  'SINK_WRITE_FAILED',
  'CHECKPOINT_CORRUPT',
  'CHECKPOINT_MISSING',
  'CHECKPOINT_IO',
  'WORKER_FAILED',
  'SHUTDOWN_TIMEOUT',
  // open states reached --max-open-states and no window can become final
  'STATE_LIMIT',
  // another engine instance holds the checkpoint directory or is a member of the group
  'INSTANCE_CONFLICT',
  // --group-member: another member owns the partition now (its lease row in PostgreSQL names it)
  'PARTITION_FENCED',
  'INTERNAL',
  // report (src/report): the aggregate tables or the report views are not there yet
  'SCHEMA_MISSING',
  // report: the tables exist but hold no rows yet
  'NO_DATA',
] as const;
export type ErrorCode = (typeof ErrorCodes)[number];

export class SmartGridError extends Error {
  readonly code: ErrorCode;
  readonly canRetry: boolean;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; canRetry?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SmartGridError';
    this.code = code;
    this.canRetry = options.canRetry ?? false;
  }
}

/**
 * A configuration problem: reported in one line naming the setting (a flag as written or an
 * environment variable), exit code 2. Its message is that line; `cause` is an underlying
 * failure such as a file that cannot be read.
 */
export class ConfigError extends SmartGridError {
  constructor(
    readonly setting: string,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super('CONFIG_INVALID', `${setting}: ${message}`, options);
    this.name = 'ConfigError';
  }
}

export { describeError };
