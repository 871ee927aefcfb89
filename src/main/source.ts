/**
 * The record source behind a small interface, so that the Kafka client can be replaced
 * (kafkajs is unmaintained; faster clients need Node ≥ 22).
 */
export interface SourceMessage {
  offset: number;
  key: Buffer | null;
  value: Buffer | null;
}

/**
 * One partition's fetched record batches as raw bytes (the wire source): the main thread
 * never looks at a record; a worker verifies, decompresses and decodes them.
 */
export interface RawRecords {
  /** Complete RecordBatch v2 batches; own ArrayBuffer, transferred to the worker. */
  bytes: Uint8Array;
  /** The offset the fetch asked for: records below it (in the first batch) are not delivered. */
  fetchOffset: number;
  /** Last offset of the last batch + 1 (control and aborted batches included). */
  nextOffset: number;
  /** The partition's aborted transactions from the response (read_committed), else null. */
  abortedTransactions: { producerId: bigint; firstOffset: bigint }[] | null;
  readCommitted: boolean;
}

export interface SourceBatch {
  topic: string;
  partition: number;
  /** Offset of the next record the broker will append (the log end). */
  highWatermark: number;
  /** Decoded messages (kafkajs source); empty when `raw` is set. */
  messages: SourceMessage[];
  /** Raw record batches (wire source), decoded in a worker. */
  raw?: RawRecords;
}

export interface BatchContext {
  /** Keeps group membership alive while a batch waits (back-pressure, barriers). */
  heartbeat(): Promise<void>;
}

export interface PartitionRef {
  topic: string;
  partition: number;
}

export interface SourceHandlers {
  /** Processes a batch; resolves true when its records are accounted for (the fetch position may move past them). */
  onBatch(batch: SourceBatch, ctx: BatchContext): Promise<boolean>;
  /** The complete new assignment after a (re)join of the group. */
  onAssignment(assigned: PartitionRef[]): void;
  /**
   * Member mode (--group-member): the group assigned these partitions to this instance in
   * `generation`; resolves with the offset to read each from (its state's). Awaited before
   * anything of them is fetched.
   */
  onPartitionsAssigned?(assigned: PartitionRef[], generation: number, memberId: string): Promise<{ topic: string; partition: number; offset: number }[]>;
  /**
   * Member mode: the partitions go (rebalance, stop). Unless `lost`, write and snapshot
   * them while this member still owns them. Awaited; nothing of them is fetched any more.
   */
  onPartitionsRevoked?(revoked: PartitionRef[], lost: boolean): Promise<void>;
  /** The client stopped for good (crash of the consumer loop). */
  onFatal(error: Error): void;
}

export interface PartitionOffsets {
  partition: number;
  /** Earliest offset still in the log. */
  low: number;
  /** Log end offset. */
  high: number;
}

/** A member of the consumer group, as the group coordinator describes it. */
export interface GroupMember {
  memberId: string;
  clientId: string;
  clientHost: string;
}

export interface RecordSource {
  /** The client id this source presents to Kafka (it carries the instance id). */
  readonly clientId: string;
  /** The group's current members (empty when the group has none). */
  groupMembers(): Promise<GroupMember[]>;
  connect(): Promise<void>;
  /** Creates missing topics (when allowed) or waits for them; returns partitions per topic. */
  ensureTopics(topics: string[], create: boolean, partitions: number): Promise<Map<string, number[]>>;
  /** Low and high offsets per partition of a topic. */
  offsets(topic: string): Promise<PartitionOffsets[]>;
  /** Offsets committed by the group, per partition (-1 when none). */
  committed(topic: string): Promise<Map<number, number>>;
  run(handlers: SourceHandlers): Promise<void>;
  /** Makes the next fetch of the partition start at `offset`. */
  seek(topic: string, partition: number, offset: number): void;
  /** Stops fetching (the group membership and commits stay available). */
  pause(): void;
  commit(offsets: { topic: string; partition: number; offset: number }[]): Promise<void>;
  stop(): Promise<void>;
}
