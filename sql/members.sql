-- Several instances (--group-member): what the members of one consumer group share in
-- PostgreSQL. Runs after sql/schema.sql; idempotent.

-- One row per input partition of a group: its lease and its state.
--   generation, member_id: the Kafka group generation and member that own the partition.
--     A member claims the row when the group assigns it the partition (only with a
--     generation at least the row's), and every write it makes for the partition (rows,
--     dead letters, snapshots) checks, in the same transaction, that the row still names
--     it: a zombie member cannot write once the partition has moved.
--   snapshot: the partition's open window state, offsets and event time (the engine's
--     snapshot format), written at each checkpoint; the next owner resumes from it.
--   final_through: every window of this partition ending at or before it is written.
CREATE TABLE IF NOT EXISTS smartgrid_partition_state (
    group_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    kafka_partition INT NOT NULL,
    generation INT NOT NULL,
    member_id TEXT NOT NULL,
    instance_id TEXT,
    claimed_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    next_offset BIGINT,
    final_through TIMESTAMP,
    snapshot BYTEA,
    snapshot_seq BIGINT NOT NULL DEFAULT 0,
    updated_at TIMESTAMP,
    PRIMARY KEY (group_id, topic, kafka_partition)
);

-- Partial aggregates per (window, group, source partition): the exact Welford statistics
-- (float64 bytes, the engine's layout) and, for weather, the condition counts. The
-- aggregate tables hold the merge of all partitions' partials of a (window, group); a
-- member recomputes it in the transaction that writes its partials.
CREATE TABLE IF NOT EXISTS smartgrid_partials (
    stream TEXT NOT NULL,
    window_start TIMESTAMP NOT NULL,
    window_end TIMESTAMP NOT NULL,
    group_key TEXT NOT NULL,
    topic TEXT NOT NULL,
    kafka_partition INT NOT NULL,
    stats BYTEA NOT NULL,
    conds TEXT,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (stream, window_start, group_key, topic, kafka_partition)
);

-- Per stream and window: whether every partition of the stream's topic that a member has
-- owned has written its windows past the window's end (then the aggregate rows of the
-- window are complete: no partition can add to them any more, except late records, which
-- go to dead_letters).
CREATE OR REPLACE VIEW smartgrid_window_completeness AS
WITH progress AS (
    SELECT topic, count(*) AS partitions, min(final_through) AS final_through
    FROM smartgrid_partition_state GROUP BY topic
), windows AS (
    SELECT stream, topic, window_start, window_end, count(DISTINCT kafka_partition) AS partitions_with_data
    FROM smartgrid_partials GROUP BY stream, topic, window_start, window_end
)
SELECT w.stream, w.window_start, w.window_end, w.topic, p.partitions, w.partitions_with_data,
       p.final_through AS all_partitions_written_through,
       COALESCE(p.final_through >= w.window_end, false) AS complete
FROM windows w JOIN progress p USING (topic);
