/**
 * Errors of the analyst tools (report, prune): a stable `code` and the `cause` that led to
 * them, as the engine's errors, but kept here so that src/report does not depend on the
 * engine (src/main). A bad option is the shared ConfigError of the options kit.
 */
import { describeError } from '../common/describe-error.js';
import { ConfigError } from '../common/errors.js';
export const ReportErrorCodes = [
  'POSTGRES_UNAVAILABLE',
  // the aggregate tables or the analyst views are not there yet
  'SCHEMA_MISSING',
  // the tables exist but hold no rows yet
  'NO_DATA',
  // --customer names a customer with no consumption rows
  'UNKNOWN_CUSTOMER',
  // a file could not be written or a chart not rendered
  'OUTPUT_FAILED',
  // prune was asked to delete windows the engine may still write
  'PRUNE_UNSAFE',
] as const;
export type ReportErrorCode = (typeof ReportErrorCodes)[number];

export class ReportError extends Error {
  readonly code: ReportErrorCode;

  constructor(code: ReportErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ReportError';
    this.code = code;
  }
}

/** A bad option or setting: one line naming it, exit status 2 (the options kit's, shared by every tool). */
export { ConfigError };

export { describeError };

/**
 * An error as one line for an analyst: our own errors without their code (the words say
 * it), a cause's text after a colon.
 */
export function oneLine(e: unknown): string {
  if (e instanceof ConfigError) return e.message;
  if (e instanceof ReportError) {
    return e.cause === undefined ? e.message : `${e.message}: ${describeError(e.cause)}`;
  }
  return describeError(e);
}
