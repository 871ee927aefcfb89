/**
 * Child: the wire client ceiling. The engine's read path without the engine: the main
 * thread fetches raw record batches with src/kafka's Fetcher (the engine's fetch sizes and
 * wait), copies each partition's bytes into an ArrayBuffer of its own and transfers it to
 * a piscina pool of as many threads as the engine has, where decodeRecordBatches and
 * JSON.parse of every value run and everything is discarded. At most `maxInflight`
 * partition batches are out at once (the engine's --max-inflight-batches), and fetching
 * goes on while they are. Reads the topics to the end offsets they had at start.
 */
import { Piscina } from 'piscina';
import { KafkaWireClient, type PartitionOffset } from '../../src/kafka/index.js';
import { RssSampler, cpuMsSince, mainThreadCpuMs } from './common.js';
import { serveChild } from './child.js';
import type { DecodeParseCount } from './decode-parse.js';
import type { WireCeilingTask } from './wire-ceiling-worker.js';

export interface WireCeilingRequest {
  brokers: string[];
  topics: string[];
  workers: number;
  maxInflight: number;
  maxBytesPerPartition: number;
  maxBytes: number;
  maxWaitMs: number;
}

export interface WireCeilingReply {
  /** Records decoded (below the end offsets). */
  messages: number;
  /** Values JSON.parsed. */
  parsed: number;
  /** Value bytes parsed. */
  bytes: number;
  /** Fetch rounds, and partition batches handed to the workers. */
  fetches: number;
  batches: number;
  workerThreads: number;
  /** Start (before connecting) to the last batch decoded. */
  wallMs: number;
  /** First fetched record to the last batch decoded. */
  activeMs: number;
  cpuMs: number;
  mainThreadCpuMs: number;
  peakRss: number;
}

const key = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

serveChild<WireCeilingRequest, WireCeilingReply>(async (req) => {
  const rss = new RssSampler(100);
  const main0 = mainThreadCpuMs();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const pool = new Piscina({
    filename: new URL('./wire-ceiling-worker.js', import.meta.url).href,
    minThreads: req.workers,
    maxThreads: req.workers,
    idleTimeout: 2 ** 31 - 1,
    concurrentTasksPerWorker: 1,
  });
  const client = new KafkaWireClient({ brokers: req.brokers, clientId: 'bench-ceiling-wire' });
  try {
    await client.connect();
    const tps: { topic: string; partition: number }[] = [];
    for (const topic of req.topics) {
      const n = await client.partitionCount(topic);
      for (let partition = 0; partition < n; partition++) tps.push({ topic, partition });
    }
    const [low, high] = await Promise.all([client.listOffsets(tps, 'earliest'), client.listOffsets(tps, 'latest')]);
    const end = new Map<string, number>();
    const start: PartitionOffset[] = [];
    tps.forEach((tp, i) => {
      if (high[i].offset > low[i].offset) {
        end.set(key(tp.topic, tp.partition), Number(high[i].offset));
        start.push({ ...tp, offset: low[i].offset });
      }
    });
    const fetcher = client.createFetcher({ maxWaitMs: req.maxWaitMs, maxBytes: req.maxBytes, partitionMaxBytes: req.maxBytesPerPartition });
    fetcher.assign(start);
    const remaining = new Set(end.keys());

    const total: DecodeParseCount = { records: 0, parsed: 0, bytes: 0 };
    let fetches = 0;
    let batches = 0;
    let first = 0;
    let last = 0;
    let inFlight = 0;
    let failure: unknown;
    let wake: (() => void) | undefined;
    const settled = (): void => {
      inFlight--;
      wake?.();
    };
    const waitUntil = async (ok: () => boolean): Promise<void> => {
      while (!ok() && failure === undefined) await new Promise<void>((r) => (wake = r));
      if (failure !== undefined) throw failure;
    };

    while (remaining.size > 0) {
      const fetched = await fetcher.fetch();
      fetches++;
      for (const p of fetched) {
        if (p.error !== undefined) throw p.error;
        const k = key(p.topic, p.partition);
        const stop = end.get(k);
        if (p.records.length === 0 || stop === undefined || Number(p.fetchOffset) >= stop) continue;
        if (first === 0) first = performance.now();
        // Its own ArrayBuffer, as the engine's wire source does, so that the transfer does
        // not take the other partitions of the response along.
        const bytes = new Uint8Array(p.records.length);
        bytes.set(p.records);
        await waitUntil(() => inFlight < req.maxInflight);
        inFlight++;
        batches++;
        (pool.run({ bytes, fetchOffset: Number(p.fetchOffset), endOffset: stop } satisfies WireCeilingTask, { transferList: [bytes.buffer] }) as Promise<DecodeParseCount>).then(
          (r) => {
            total.records += r.records;
            total.parsed += r.parsed;
            total.bytes += r.bytes;
            last = performance.now();
            settled();
          },
          (e: unknown) => {
            failure ??= e;
            settled();
          },
        );
        if (Number(p.nextOffset) >= stop) remaining.delete(k);
      }
    }
    await waitUntil(() => inFlight === 0);
    const wallMs = (last || performance.now()) - t0;
    const mainCpu = mainThreadCpuMs() - main0;
    const cpu = cpuMsSince(cpu0);
    const peakRss = rss.stop();
    return {
      messages: total.records,
      parsed: total.parsed,
      bytes: total.bytes,
      fetches,
      batches,
      workerThreads: pool.threads.length,
      wallMs,
      activeMs: last - first,
      cpuMs: cpu.totalMs,
      mainThreadCpuMs: mainCpu,
      peakRss,
    };
  } finally {
    await client.close().catch(() => {});
    await pool.destroy();
  }
});
