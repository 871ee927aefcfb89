/**
 * --group-member: each input partition's lease and state in PostgreSQL
 * (smartgrid_partition_state, sql/members.sql), which every instance reaches, so that a
 * partition's state moves with it to whichever member the group assigns it next.
 *
 * - claim: when the group assigns partitions, the member takes their rows over with its
 *   generation and member id (only from an equal or older generation: a member of an
 *   older generation can never take a partition back) and reads each one's last snapshot.
 * - save (the checkpoint): each partition's snapshot (the engine's format 4, one partition
 *   per snapshot), the offset it covers and how far its windows are written — only where
 *   the row still names this member and generation, else PARTITION_FENCED and nothing is
 *   saved.
 *
 * The rows a member writes between two checkpoints are fenced the same way (member-sink.ts).
 */
import type pg from 'pg';
import { SmartGridError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { parseSnapshot, snapshotBytes, SNAPSHOT_FORMAT, type Snapshot, type TopicSnapshot } from './checkpoint.js';
import type { MemberFence } from './member-sink.js';
import type { PartitionRef } from './source.js';

export interface Transactor {
  transaction<T>(what: string, fn: (client: pg.PoolClient) => Promise<T>): Promise<T>;
}

const CLAIM = `
INSERT INTO smartgrid_partition_state AS s (group_id, topic, kafka_partition, generation, member_id, instance_id)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (group_id, topic, kafka_partition) DO UPDATE SET
  generation = EXCLUDED.generation, member_id = EXCLUDED.member_id, instance_id = EXCLUDED.instance_id, claimed_at = CURRENT_TIMESTAMP
WHERE s.generation <= EXCLUDED.generation
RETURNING snapshot`;

const SAVE = `
UPDATE smartgrid_partition_state SET
  snapshot = $6, next_offset = $7, final_through = to_timestamp($8::float8 / 1000) AT TIME ZONE 'UTC',
  snapshot_seq = snapshot_seq + 1, updated_at = CURRENT_TIMESTAMP
WHERE group_id = $1 AND topic = $2 AND kafka_partition = $3 AND generation = $4 AND member_id = $5`;

/** A partition's part of a snapshot: the topic's snapshot narrowed to it. */
export type PartitionSnapshot = TopicSnapshot;

export class PartitionStateStore {
  /** Where snapshots go (for logs and messages). */
  readonly dir = 'PostgreSQL table smartgrid_partition_state';
  private seq = 0;

  constructor(
    private readonly db: Transactor,
    private readonly fence: () => MemberFence,
    private readonly log: Logger,
  ) {}

  /** Takes the leases of `parts` for this member; returns each one's last snapshot (null: none yet). */
  async claim(parts: PartitionRef[]): Promise<Map<string, PartitionSnapshot | null>> {
    const f = this.fence();
    return this.db.transaction('claiming partitions in PostgreSQL failed', async (client) => {
      const out = new Map<string, PartitionSnapshot | null>();
      for (const p of parts) {
        const { rows } = await client.query<{ snapshot: Buffer | null }>(CLAIM, [f.groupId, p.topic, p.partition, f.generation, f.memberId, f.instanceId]);
        if (rows.length === 0) {
          throw new SmartGridError(
            'PARTITION_FENCED',
            `${p.topic}[${p.partition}] is claimed by a member of a newer generation than ${f.generation}: this member's assignment is stale`,
          );
        }
        const bytes = rows[0].snapshot;
        let snap: PartitionSnapshot | null = null;
        if (bytes !== null) {
          const s = parseSnapshot(bytes, `the snapshot of ${p.topic}[${p.partition}]`);
          snap = s.topics.find((t) => t.topic === p.topic) ?? null;
        }
        out.set(p.topic + ':' + p.partition, snap);
      }
      return out;
    });
  }

  /** The engine's checkpoint: one topic snapshot per owned partition (each covers one partition). */
  async save(s: { groupId: string; topics: TopicSnapshot[] }): Promise<Snapshot> {
    const f = this.fence();
    const seq = ++this.seq;
    const createdAt = new Date().toISOString();
    const encoded: { t: TopicSnapshot; bytes: Buffer }[] = [];
    for (const t of s.topics) {
      if (t.offsets.length !== 1) throw new SmartGridError('INTERNAL', `a partition snapshot of ${t.topic} covers ${t.offsets.length} partitions`);
      const bytes = await snapshotBytes({ format: SNAPSHOT_FORMAT, seq, createdAt, groupId: s.groupId, topics: [t] });
      encoded.push({ t, bytes });
    }
    await this.db.transaction('saving partition snapshots in PostgreSQL failed', async (client) => {
      for (const { t, bytes } of encoded) {
        const partition = t.offsets[0].partition;
        const { rowCount } = await client.query(SAVE, [f.groupId, t.topic, partition, f.generation, f.memberId, bytes, t.offsets[0].offset, t.watermark]);
        if (rowCount !== 1) {
          throw new SmartGridError(
            'PARTITION_FENCED',
            `member ${f.instanceId ?? f.memberId} (generation ${f.generation}) no longer owns ${t.topic}[${partition}]: its snapshot was not saved`,
          );
        }
      }
    });
    this.log.debug('partition snapshots saved', { partitions: encoded.length, bytes: encoded.reduce((n, e) => n + e.bytes.length, 0) });
    return { format: SNAPSHOT_FORMAT, seq, createdAt, groupId: s.groupId, topics: s.topics };
  }

  /** Member mode has no instance-wide snapshot: state is restored per partition at assignment. */
  loadLatest(): Promise<Snapshot | null> {
    return Promise.resolve(null);
  }

  removeLeftovers(): Promise<void> {
    return Promise.resolve();
  }
}
