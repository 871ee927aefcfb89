/**
 * The tables the sink writes and the SQL it runs for each, derived from the table of
 * stream facts (src/common/streams.ts): a temporary staging table that COPY fills, and
 * the statement that moves the staged rows into the real table. Aggregates are upserted
 * on their unique (window, group) key, so that a replay after a crash overwrites rows with
 * the same values instead of adding a second row; a dead letter is inserted once.
 *
 * Rows of final windows are new unless a replay writes them again, so the sink first
 * COPYs them straight into the table (`direct`: PostgreSQL then does about 40 % less work
 * per row than COPY into staging plus the upsert); a unique violation there means a
 * replay, and the rows go the staging way instead (see PgSink.writeLines).
 */
import { columnType, sqlType, STREAM_LIST, type StreamSpec } from '../common/streams.js';

export interface SinkTarget {
  /** The temporary table COPY writes into (dropped at commit). */
  readonly stage: string;
  /** The real table. */
  readonly table: string;
  /** CREATE TEMP TABLE for the stage. */
  readonly ddl: string;
  /** Moves the staged rows into the table. */
  readonly upsert: string;
  /** The table with the staged columns, as a COPY target: rows straight into the table. */
  readonly direct: string;
  /** The stream whose final windows it receives; null for the dead letters. */
  readonly stream: StreamSpec | null;
}

function streamTarget(s: StreamSpec): SinkTarget {
  const stage = `stage_${s.name}`;
  const values = s.columns.map((c) => c.name);
  const cols = ['window_start', 'window_end', ...s.groupBy, ...values].join(', ');
  const types = [
    'window_start TIMESTAMP',
    'window_end TIMESTAMP',
    ...s.groupBy.map((g) => `${g} ${sqlType(s.fields[g])}`),
    ...s.columns.map((c) => `${c.name} ${sqlType(columnType(s, c))}`),
  ];
  // A replay writes identical values; skipping identical rows keeps updated_at meaningful.
  const updated = ['window_end', ...values];
  const upsert = `
INSERT INTO ${s.table} AS t (${cols})
SELECT ${cols} FROM ${stage}
ON CONFLICT ON CONSTRAINT ${s.unique} DO UPDATE SET
  ${updated.map((c) => `${c} = EXCLUDED.${c}`).join(', ')}, updated_at = CURRENT_TIMESTAMP
WHERE (${updated.map((c) => `t.${c}`).join(', ')})
  IS DISTINCT FROM (${updated.map((c) => `EXCLUDED.${c}`).join(', ')})`;
  return { stage, table: s.table, ddl: `CREATE TEMP TABLE ${stage} (${types.join(', ')}) ON COMMIT DROP;`, upsert, direct: `${s.table} (${cols})`, stream: s };
}

const DEAD_LETTERS: SinkTarget = {
  stage: 'stage_dead_letters',
  table: 'dead_letters',
  ddl: `CREATE TEMP TABLE stage_dead_letters (
  topic TEXT, kafka_partition INT, kafka_offset BIGINT, kafka_key BYTEA, payload BYTEA, reason TEXT, error TEXT
) ON COMMIT DROP;`,
  upsert: `
INSERT INTO dead_letters (topic, kafka_partition, kafka_offset, kafka_key, payload, reason, error)
SELECT topic, kafka_partition, kafka_offset, kafka_key, payload, reason, error FROM stage_dead_letters
ON CONFLICT ON CONSTRAINT dead_letters_source DO NOTHING`,
  direct: 'dead_letters (topic, kafka_partition, kafka_offset, kafka_key, payload, reason, error)',
  stream: null,
};

/** Every table a flush writes, in write order: the streams in Kind order, then the dead letters. */
export const SINK_TARGETS: readonly SinkTarget[] = [...STREAM_LIST.map(streamTarget), DEAD_LETTERS];

/** Creates every staging table (one statement list, run at the start of each transaction). */
export const STAGING_SQL = SINK_TARGETS.map((t) => t.ddl).join('\n');

export const INSERT_REJECTED = `
INSERT INTO rejected_rows (target_table, row_sha256, row_text, sqlstate, error)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT ON CONSTRAINT rejected_rows_source DO NOTHING`;
