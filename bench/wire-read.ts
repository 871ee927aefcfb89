/**
 * Short side-by-side read measurement (issue #11): the wire Fetcher on the main thread with
 * decode + JSON.parse in one worker thread, versus kafkajs eachBatch (no parse), on the
 * same topic. Prints records/s, main-thread busy µs/record (event-loop utilization, as
 * Node 20 has no per-thread CPU clock) and whole-process CPU µs/record.
 *
 *   npm run bench:wire [-- RECORDS]      default 300000 records, 3 partitions
 *
 * The machine is shared (2 cores with the broker and other tenants): compare the runs
 * of one invocation, not numbers across invocations.
 */
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { Kafka, logLevel } from 'kafkajs';
import { KafkaWireClient } from '../src/kafka/index.js';
import { RecordBatchBuilder } from '../src/kafka/record-batch.js';
import { BrokerConnection } from '../loadgen/kafka-wire.js';
import { KAFKA_BROKER } from './lib/common.js';
import { uniqueName } from './lib/env.js';

const RECORDS = Number(process.argv[2] ?? 300_000);
const PARTITIONS = 3;

interface Result {
  name: string;
  records: number;
  seconds: number;
  mainUsPerRecord: number;
  cpuUsPerRecord: number;
}

/** Measures run(); run may call `start()` to restart the clocks (at its first record, after a group join). */
async function measure(name: string, run: (start: () => void) => Promise<number>): Promise<Result> {
  let elu0 = performance.eventLoopUtilization();
  let cpu0 = process.cpuUsage();
  let t0 = performance.now();
  const records = await run(() => {
    elu0 = performance.eventLoopUtilization();
    cpu0 = process.cpuUsage();
    t0 = performance.now();
  });
  const seconds = (performance.now() - t0) / 1000;
  const elu = performance.eventLoopUtilization(elu0);
  const cpu = process.cpuUsage(cpu0);
  return { name, records, seconds, mainUsPerRecord: (elu.active * 1000) / records, cpuUsPerRecord: (cpu.user + cpu.system) / records };
}

async function produce(topic: string): Promise<void> {
  const [host, port] = KAFKA_BROKER.split(':');
  // Single-node broker: it leads every partition, so one connection writes them all.
  const conn = new BrokerConnection(host, Number(port), 'bench-wire');
  await conn.connect();
  const builders = Array.from({ length: PARTITIONS }, () => new RecordBatchBuilder());
  const sends: Promise<unknown>[] = [];
  for (let i = 0; i < RECORDS; i++) {
    const p = i % PARTITIONS;
    const v = `{"sensor_id":"s-${i % 500}","sensor_type":"voltage","value":${(230 + Math.sin(i) * 5).toFixed(4)},"timestamp":"2026-01-01T00:${String(Math.floor(i / 60000) % 60).padStart(2, '0')}:00.000Z","location":{"lat":52.1,"lon":4.3},"status":"ok","seq":${i}}`;
    builders[p].add(`s-${i % 500}`, v);
    if (builders[p].size > 256 * 1024) {
      const count = builders[p].count;
      sends.push(conn.produce([{ topic, partition: p, records: builders[p].seal(Date.now()), count }]));
      if (sends.length > 16) await Promise.all(sends.splice(0));
    }
  }
  for (let p = 0; p < PARTITIONS; p++) {
    const count = builders[p].count;
    if (count > 0) sends.push(conn.produce([{ topic, partition: p, records: builders[p].seal(Date.now()), count }]));
  }
  await Promise.all(sends);
  await conn.close();
}

async function wireRead(topic: string, start: () => void): Promise<number> {
  const client = new KafkaWireClient({ brokers: [KAFKA_BROKER], clientId: 'bench-wire' });
  const worker = new Worker(new URL('./lib/wire-decode-worker.js', import.meta.url));
  try {
    await client.connect();
    await new Promise((r) => worker.once('online', r));
    start(); // connection and worker start-up are not part of the read
    const f = client.createFetcher({ maxWaitMs: 100, partitionMaxBytes: 4 << 20 });
    f.assign(Array.from({ length: PARTITIONS }, (_, partition) => ({ topic, partition, offset: 0n })));
    let decoded = 0;
    let inFlight = 0;
    let wake: (() => void) | undefined;
    worker.on('message', (m: { count: number }) => {
      decoded += m.count;
      inFlight--;
      wake?.();
    });
    let id = 0;
    while (decoded < RECORDS) {
      for (const p of await f.fetch()) {
        if (p.error) throw p.error;
        if (p.records.length === 0) continue;
        // The records are a view into a response shared by all partitions: copy this
        // partition's bytes into their own ArrayBuffer and transfer that.
        const bytes = new Uint8Array(p.records);
        inFlight++;
        worker.postMessage({ id: id++, bytes, fetchOffset: Number(p.fetchOffset) }, [bytes.buffer]);
      }
      while (inFlight > 8 || (inFlight > 0 && f.positions().every((x) => x.offset >= BigInt(RECORDS / PARTITIONS)))) {
        await new Promise<void>((r) => (wake = r));
      }
    }
    return decoded;
  } finally {
    await worker.terminate();
    await client.close();
  }
}

/** Consumer groups of the kafkajs runs, deleted at the end with the topic. */
const groups: string[] = [];

async function kafkajsRead(topic: string, start: () => void): Promise<number> {
  const kafka = new Kafka({ clientId: 'bench-kafkajs', brokers: [KAFKA_BROKER], logLevel: logLevel.NOTHING });
  const groupId = uniqueName('bench_wire_kjs');
  groups.push(groupId);
  const consumer = kafka.consumer({ groupId, maxBytesPerPartition: 4 << 20, maxBytes: 50 << 20 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let n = 0;
  await new Promise<void>((resolve, reject) => {
    consumer
      .run({
        eachBatchAutoResolve: true,
        eachBatch: async ({ batch }) => {
          if (n === 0) start();
          n += batch.messages.length;
          if (n >= RECORDS) resolve();
        },
      })
      .catch(reject);
  });
  await consumer.disconnect();
  return n;
}

async function main(): Promise<void> {
  const topic = uniqueName('bench_wire');
  const kafka = new Kafka({ clientId: 'bench-wire-admin', brokers: [KAFKA_BROKER], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }] });
  try {
    process.stderr.write(`producing ${RECORDS} records (~200 B JSON) into ${topic}…\n`);
    await produce(topic);
    const results: Result[] = [];
    for (let round = 0; round < 2; round++) {
      results.push(await measure('wire fetch (main) + decode + JSON.parse (1 worker)', (start) => wireRead(topic, start)));
      results.push(await measure('kafkajs 2.2.4 eachBatch, no parse (from its first batch)', (start) => kafkajsRead(topic, start)));
    }
    console.log(`Node ${process.version}, ${RECORDS} records, ${PARTITIONS} partitions; shared, loaded 2-core machine`);
    console.log('| read path | records/s | main thread µs/record | process CPU µs/record |');
    console.log('|---|---:|---:|---:|');
    for (const r of results) {
      console.log(`| ${r.name} | ${Math.round(r.records / r.seconds).toLocaleString('en')} | ${r.mainUsPerRecord.toFixed(2)} | ${r.cpuUsPerRecord.toFixed(2)} |`);
    }
  } finally {
    await admin.deleteTopics({ topics: [topic] }).catch(() => {});
    if (groups.length > 0) await admin.deleteGroups(groups).catch(() => {});
    await admin.disconnect();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
