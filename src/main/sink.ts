/**
 * The sink's contract: what a flush carries (final windows and dead letters) and what a
 * sink answers. PgSink (pg-sink.ts) is the real one; engine tests use fakes.
 */
import type { StreamName } from '../common/streams.js';
import type { WindowState } from './window-store.js';

export interface DeadLetter {
  topic: string;
  partition: number;
  offset: number;
  key: Buffer | null;
  payload: Buffer | null;
  reason: string;
  error: string;
}

/** Per stream, its windows that became final. */
export interface SinkBatch extends Record<StreamName, WindowState[]> {
  windowMs: Record<StreamName, number>;
  deadLetters: DeadLetter[];
}

/** Where final windows and dead letters go. PgSink is the real one; tests use fakes. */
export interface Sink {
  /** Writes one flush; rejects with a SmartGridError whose canRetry says whether to try again. */
  write(batch: SinkBatch): Promise<SinkCounts>;
}

/** Per stream, the aggregate rows written. */
export interface SinkCounts extends Record<StreamName, number> {
  deadLetters: number;
  /** Rows PostgreSQL refused for a data reason, kept in `rejected_rows` instead. */
  rejected: number;
}
