/**
 * ListOffsets across partition leaders, with a metadata refresh and retry when a leader
 * moved. A function over the client's internals (OffsetsLink), kept apart from client.ts.
 */
import type { Connection } from './connection.js';
import { KafkaWireError, REFRESH_METADATA_CODES, kafkaCodeName } from './errors.js';
import { EARLIEST, LATEST, listOffsetsRequest, type RequestSpec } from './protocol.js';
import { tpKey } from './util.js';
import type { PartitionOffset, TopicPartition } from './client.js';

/** What listOffsets needs of the client. */
export interface OffsetsLink {
  leaderOf(topic: string, partition: number): Promise<{ leaderId: number; leaderEpoch: number }>;
  brokerConnection(nodeId: number): Promise<Connection>;
  sendOn<T>(c: Connection, spec: RequestSpec<T>): Promise<T>;
  retrying<T>(what: string, op: () => Promise<T>): Promise<T>;
  forgetLeader(topic: string, partition: number): void;
  /** After a lost connection every leader is in doubt. */
  forgetLeaders(): void;
}

/**
 * The offset for each partition at `at`: 'earliest' (log start), 'latest' (high
 * watermark, or last stable offset with readCommitted) or a timestamp in ms (first
 * offset whose timestamp is at or after it; -1 when there is none).
 */
export async function listOffsets(
link: OffsetsLink,
  partitions: readonly TopicPartition[],
  at: 'earliest' | 'latest' | number,
  options: { readCommitted?: boolean } = {},
): Promise<PartitionOffset[]> {
  const timestamp = at === 'earliest' ? EARLIEST : at === 'latest' ? LATEST : BigInt(at);
  const result = new Map<string, bigint>();
  await link.retrying('ListOffsets', async () => {
    const todo = partitions.filter((p) => !result.has(tpKey(p.topic, p.partition)));
    const byLeader = new Map<number, { topic: string; partition: number; timestamp: bigint; leaderEpoch: number }[]>();
    for (const p of todo) {
      const l = await link.leaderOf(p.topic, p.partition);
      let list = byLeader.get(l.leaderId);
      if (list === undefined) byLeader.set(l.leaderId, (list = []));
      list.push({ ...p, timestamp, leaderEpoch: l.leaderEpoch });
    }
    let retry: KafkaWireError | undefined;
    await Promise.all(
      [...byLeader].map(async ([leader, reqs]) => {
        const c = await link.brokerConnection(leader);
        const res = await link.sendOn(c, listOffsetsRequest(reqs, options.readCommitted ?? false));
        for (const r of res) {
          if (r.errorCode === 0) result.set(tpKey(r.topic, r.partition), r.offset);
          else if (REFRESH_METADATA_CODES.has(r.errorCode)) {
            link.forgetLeader(r.topic, r.partition);
            retry = new KafkaWireError('KAFKA_ERROR', `ListOffsets ${r.topic}[${r.partition}]: ${kafkaCodeName(r.errorCode)}`, { canRetry: true, kafkaCode: r.errorCode });
          } else {
            throw new KafkaWireError('KAFKA_ERROR', `ListOffsets ${r.topic}[${r.partition}]: ${kafkaCodeName(r.errorCode)}`, { kafkaCode: r.errorCode });
          }
        }
      }),
    ).catch((e: unknown) => {
      if (e instanceof KafkaWireError && e.canRetry) link.forgetLeaders();
      throw e;
    });
    if (retry !== undefined) throw retry;
  });
  return partitions.map((p) => ({ ...p, offset: result.get(tpKey(p.topic, p.partition))! }));
}

