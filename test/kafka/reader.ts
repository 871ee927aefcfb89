/** Test helper: reads partitions to their end with the wire Fetcher and decodes every batch. */
import { decodeRecordBatches, type KafkaWireClient } from '../../src/kafka/index.js';

export interface ReadRecord {
  partition: number;
  offset: number;
  key: string | null;
  value: string | null;
}

export interface ReadResult {
  records: ReadRecord[];
  controlRecords: number;
  abortedRecords: number;
  /** Raw record bytes per fetch, for tests that corrupt them. */
  raw: Buffer[];
}

export async function readAll(
  client: KafkaWireClient,
  topic: string,
  partitions: number[],
  until: Map<number, bigint>,
  options: { readCommitted?: boolean; partitionMaxBytes?: number; maxRounds?: number } = {},
): Promise<ReadResult> {
  const f = client.createFetcher({ readCommitted: options.readCommitted, maxWaitMs: 100, partitionMaxBytes: options.partitionMaxBytes });
  f.assign(partitions.map((partition) => ({ topic, partition, offset: 0n })));
  const out: ReadResult = { records: [], controlRecords: 0, abortedRecords: 0, raw: [] };
  const done = (): boolean => f.positions().every((p) => p.offset >= until.get(p.partition)!);
  for (let round = 0; !done(); round++) {
    if (round > (options.maxRounds ?? 10_000)) throw new Error(`not at the end after ${round} rounds: ${JSON.stringify(f.positions(), (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}`);
    for (const p of await f.fetch()) {
      if (p.error) throw p.error;
      if (p.records.length === 0) continue;
      out.raw.push(Buffer.from(p.records));
      const d = decodeRecordBatches(p.records, { fetchOffset: Number(p.fetchOffset), readCommitted: options.readCommitted, abortedTransactions: p.abortedTransactions });
      out.controlRecords += d.controlRecords;
      out.abortedRecords += d.abortedRecords;
      const str = (b: number, s: number, l: number): string | null => (l < 0 ? null : Buffer.from(d.buffers[b].buffer, d.buffers[b].byteOffset + s, l).toString('utf8'));
      for (let i = 0; i < d.count; i++) {
        out.records.push({ partition: p.partition, offset: d.offsets[i], key: str(d.buffer[i], d.keyStart[i], d.keyLength[i]), value: str(d.buffer[i], d.valueStart[i], d.valueLength[i]) });
      }
      if (d.lastOffset >= 0) {
        const next = BigInt(d.lastOffset) + 1n;
        if (next !== p.nextOffset) throw new Error(`decoder's last offset ${d.lastOffset} disagrees with the fetcher's next offset ${p.nextOffset}`);
      }
    }
  }
  return out;
}
