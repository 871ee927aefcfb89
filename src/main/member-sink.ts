/**
 * Writes of a group member (--group-member): the rows of partitions that several instances
 * share. In one transaction per flush:
 *
 * 1. the lease check: every partition the flush carries rows or dead letters for must
 *    still be owned by this member in its current generation (smartgrid_partition_state,
 *    locked FOR SHARE so that a new owner's claim waits for this write to end) —
 *    otherwise PARTITION_FENCED and nothing is written;
 * 2. per stream, a transaction lock (members write one stream at a time, in Kind order);
 * 3. this member's partial statistics per (window, group, source partition) replace their
 *    previous version in smartgrid_partials (a replay writes the same partial again);
 * 4. every partition's partials of the (window, group)s touched are read back in a fixed
 *    order and merged with the same code a single instance uses (Chan et al.; exact
 *    sums), and the merged rows are upserted into the aggregate tables;
 * 5. dead letters, once each, as in single-instance mode.
 *
 * So the aggregate tables hold what one instance reading every partition would write,
 * whichever members wrote the parts, and a zombie member writes nothing.
 */
import type pg from 'pg';
import { copyInto } from './copy-into.js';
import { STATS_WIDTH } from '../workers/stats.js';
import { SmartGridError } from '../common/errors.js';
import { STREAM_LIST, type Kind, type StreamSpec } from '../common/streams.js';
import { copyBytea, copyText, copyTimestamp, COPY_NULL } from './copy-text.js';
import { deadLetterRows, streamRows } from './copy-rows.js';
import type { SinkBatch, SinkCounts } from './sink.js';
import { SINK_TARGETS, STAGING_SQL } from './sink-sql.js';
import { WindowStore, type WindowState } from './window-store.js';

/** Who this member is in the group's current generation (set at each assignment). */
export interface MemberFence {
  groupId: string;
  generation: number;
  memberId: string;
  instanceId: string | null;
}

const STAGE_PARTIALS = `CREATE TEMP TABLE stage_partials (
  stream TEXT, window_start TIMESTAMP, window_end TIMESTAMP, group_key TEXT, topic TEXT, kafka_partition INT, stats BYTEA, conds TEXT
) ON COMMIT DROP;`;

const UPSERT_PARTIALS = `
INSERT INTO smartgrid_partials (stream, window_start, window_end, group_key, topic, kafka_partition, stats, conds)
SELECT stream, window_start, window_end, group_key, topic, kafka_partition, stats, conds FROM stage_partials
ON CONFLICT (stream, window_start, group_key, topic, kafka_partition) DO UPDATE SET
  stats = EXCLUDED.stats, conds = EXCLUDED.conds, window_end = EXCLUDED.window_end, updated_at = CURRENT_TIMESTAMP`;

const MERGED_PARTIALS = `
SELECT (extract(epoch FROM p.window_start) * 1000)::float8 AS start_ms, p.group_key, p.stats, p.conds
FROM smartgrid_partials p
WHERE p.stream = $1 AND (p.window_start, p.group_key) IN (SELECT window_start, group_key FROM stage_partials WHERE stream = $1)
ORDER BY p.window_start, p.group_key, p.topic, p.kafka_partition`;

const FENCE_CHECK = `
SELECT topic, kafka_partition FROM smartgrid_partition_state
WHERE group_id = $1 AND generation = $2 AND member_id = $3
  AND (topic, kafka_partition) IN (SELECT * FROM unnest($4::text[], $5::int[]))
FOR SHARE`;

/** A group key (its parts joined by NUL) as text PostgreSQL can hold. */
export const groupKeyText = (key: string): string => JSON.stringify(key.split('\u0000'));
const groupKeyOf = (text: string): string => (JSON.parse(text) as string[]).join('\u0000');

/** Locks the leases of `parts` for this transaction; PARTITION_FENCED unless this member holds them all. */
export async function checkLeases(client: pg.PoolClient, fence: MemberFence, parts: Map<string, { topic: string; partition: number }>): Promise<void> {
  if (parts.size === 0) return;
  const list = [...parts.values()];
  const { rows } = await client.query<{ topic: string; kafka_partition: number }>(FENCE_CHECK, [
    fence.groupId,
    fence.generation,
    fence.memberId,
    list.map((p) => p.topic),
    list.map((p) => p.partition),
  ]);
  if (rows.length === list.length) return;
  const held = new Set(rows.map((r) => r.topic + ':' + r.kafka_partition));
  const lost = list.filter((p) => !held.has(p.topic + ':' + p.partition)).map((p) => `${p.topic}[${p.partition}]`);
  throw new SmartGridError(
    'PARTITION_FENCED',
    `member ${fence.instanceId ?? fence.memberId} (generation ${fence.generation}) no longer owns ${lost.join(', ')}: another member took ` +
      `over; nothing was written`,
  );
}

function partialRows(stream: StreamSpec, windows: WindowState[], windowMs: number): string {
  const width = stream.variables.length * STATS_WIDTH;
  let out = '';
  for (const w of windows) {
    const head =
      copyText(stream.name) + '\t' + copyTimestamp(w.start) + '\t' + copyTimestamp(w.start + windowMs) + '\t';
    const tail = '\t' + copyText(w.topic!) + '\t' + w.partition! + '\t';
    const conds = w.conds === null ? COPY_NULL : copyText(JSON.stringify([...w.conds].sort((a, b) => (a[0] < b[0] ? -1 : 1))));
    for (let s = 0; s < w.keys.length; s++) {
      const st = w.stats.subarray(s * width, (s + 1) * width);
      out += head + copyText(groupKeyText(w.keys[s])) + tail + copyBytea(new Uint8Array(st.buffer, st.byteOffset, st.byteLength)) + '\t' + conds + '\n';
    }
  }
  return out;
}

/** Every partition's partials of the (window, group)s staged for `stream`, merged. */
async function mergedWindows(client: pg.PoolClient, stream: StreamSpec, kind: number, windowMs: number): Promise<WindowState[]> {
  const { rows } = await client.query<{ start_ms: number; group_key: string; stats: Buffer; conds: string | null }>(MERGED_PARTIALS, [stream.name]);
  const store = new WindowStore(kind as Kind, windowMs);
  for (const r of rows) {
    const stats = new Float64Array(r.stats.length / 8);
    new Uint8Array(stats.buffer).set(r.stats);
    store.mergeStats(r.start_ms, groupKeyOf(r.group_key), stats, r.conds === null ? null : (JSON.parse(r.conds) as [string, number][]));
  }
  return store.takeFinal(Infinity);
}

/**
 * One member flush inside an open transaction on `client` (the caller begins, commits and
 * rolls back). Windows must carry their topic and partition.
 */
export async function writeMemberFlush(
  client: pg.PoolClient,
  b: SinkBatch,
  fence: MemberFence,
): Promise<SinkCounts> {
  const parts = new Map<string, { topic: string; partition: number }>();
  for (const s of STREAM_LIST) {
    for (const w of b[s.name]) {
      if (w.topic === undefined || w.partition === undefined) throw new SmartGridError('INTERNAL', `a ${s.name} window without its source partition`);
      parts.set(w.topic + ':' + w.partition, { topic: w.topic, partition: w.partition });
    }
  }
  for (const d of b.deadLetters) parts.set(d.topic + ':' + d.partition, { topic: d.topic, partition: d.partition });
  await checkLeases(client, fence, parts);
  await client.query(STAGING_SQL);
  await client.query(STAGE_PARTIALS);
  const counts = { sensor: 0, meter: 0, weather: 0, deadLetters: b.deadLetters.length, rejected: 0 } as SinkCounts;
  for (let kind = 0; kind < STREAM_LIST.length; kind++) {
    const s = STREAM_LIST[kind];
    const windows = b[s.name];
    if (windows.length === 0) continue;
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', ['smartgrid_partials:' + s.name]);
    await copyInto(client, 'stage_partials', partialRows(s, windows, b.windowMs[s.name]));
    await client.query(UPSERT_PARTIALS);
    const merged = await mergedWindows(client, s, kind, b.windowMs[s.name]);
    const target = SINK_TARGETS[kind];
    await copyInto(client, target.stage, streamRows(s, merged, b.windowMs[s.name]));
    await client.query(target.upsert);
    await client.query('TRUNCATE stage_partials');
    counts[s.name] = merged.reduce((n, w) => n + w.keys.length, 0);
  }
  if (b.deadLetters.length > 0) {
    const dl = SINK_TARGETS[SINK_TARGETS.length - 1];
    await copyInto(client, dl.stage, deadLetterRows(b.deadLetters));
    await client.query(dl.upsert);
  }
  return counts;
}
