/**
 * Child: the kafkajs client ceiling (for reference: the engine's --kafka-client kafkajs
 * path without the engine). A kafkajs consumer configured as the engine's (eachBatch,
 * autoCommit off, the same fetch sizes and concurrency) that reads the topics to the end
 * offsets they had at start and discards everything.
 */
import { Kafka, logLevel } from 'kafkajs';
import { RssSampler, cpuMsSince, mainThreadCpuMs } from './common.js';
import { serveChild } from './child.js';

export interface KafkajsCeilingRequest {
  brokers: string[];
  topics: string[];
  groupId: string;
  maxBytesPerPartition: number;
  maxBytes: number;
  maxWaitMs: number;
  partitionsConcurrency: number;
}

export interface KafkajsCeilingReply {
  messages: number;
  bytes: number;
  batches: number;
  /** Start (before connecting) to the last record. */
  wallMs: number;
  /** First record to last record. */
  activeMs: number;
  cpuMs: number;
  mainThreadCpuMs: number;
  peakRss: number;
}

serveChild<KafkajsCeilingRequest, KafkajsCeilingReply>(async (req) => {
  const rss = new RssSampler(100);
  const main0 = mainThreadCpuMs();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const kafka = new Kafka({ clientId: 'bench-ceiling', brokers: req.brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const remaining = new Map<string, number>();
  for (const topic of req.topics) {
    for (const o of await admin.fetchTopicOffsets(topic)) {
      const left = Number(o.high) - Number(o.low);
      if (left > 0) remaining.set(`${topic}:${o.partition}`, Number(o.high));
    }
  }
  await admin.disconnect();
  const consumer = kafka.consumer({
    groupId: req.groupId,
    maxBytesPerPartition: req.maxBytesPerPartition,
    maxBytes: req.maxBytes,
    maxWaitTimeInMs: req.maxWaitMs,
  });
  let messages = 0;
  let bytes = 0;
  let batches = 0;
  let first = 0;
  let last = 0;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  if (remaining.size === 0) done();
  await consumer.connect();
  await consumer.subscribe({ topics: req.topics, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: req.partitionsConcurrency,
    eachBatch: async ({ batch, resolveOffset }) => {
      if (batch.messages.length === 0) return;
      if (first === 0) first = performance.now();
      const key = `${batch.topic}:${batch.partition}`;
      const end = remaining.get(key);
      for (const m of batch.messages) {
        if (end !== undefined && Number(m.offset) < end) {
          messages++;
          bytes += m.value === null ? 0 : m.value.length;
        }
      }
      batches++;
      resolveOffset(batch.lastOffset());
      if (end !== undefined && Number(batch.lastOffset()) + 1 >= end) {
        remaining.delete(key);
        if (remaining.size === 0) {
          last = performance.now();
          done();
        }
      }
    },
  });
  await finished;
  const wallMs = (last || performance.now()) - t0;
  const mainCpu = mainThreadCpuMs() - main0;
  const cpu = cpuMsSince(cpu0);
  const peakRss = rss.stop();
  await consumer.disconnect();
  return { messages, bytes, batches, wallMs, activeMs: last - first, cpuMs: cpu.totalMs, mainThreadCpuMs: mainCpu, peakRss };
});
