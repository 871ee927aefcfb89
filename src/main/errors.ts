/**
 * One error type for the whole project: every error carries a stable `code`, the `cause`
 * that led to it, and whether retrying can help.
 */
export const ErrorCodes = [
  'CONFIG_INVALID',
  'KAFKA_UNAVAILABLE',
  'KAFKA_ERROR',
  // Kafka answers, but a topic the service writes to does not exist (and was not created)
  'KAFKA_TOPIC_MISSING',
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

/** A configuration problem: reported in one line naming the setting, exit code 2. */
export class ConfigError extends SmartGridError {
  constructor(
    readonly setting: string,
    message: string,
  ) {
    super('CONFIG_INVALID', `${setting}: ${message}`);
    this.name = 'ConfigError';
  }
}

/** The message of an error and of its causes, one line. */
export function describeError(e: unknown): string {
  const parts: string[] = [];
  let cur: unknown = e;
  for (let depth = 0; cur !== undefined && cur !== null && depth < 5; depth++) {
    if (cur instanceof Error) {
      const code = (cur as { code?: unknown }).code;
      parts.push(typeof code === 'string' && !cur.message.includes(code) ? `${cur.message} [${code}]` : cur.message);
      cur = (cur as { cause?: unknown }).cause;
    } else {
      parts.push(String(cur));
      break;
    }
  }
  return parts.join(': caused by: ');
}
