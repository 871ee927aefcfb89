/** Worker for bench/wire-read.ts: decodes one partition's raw batches and JSON.parses every value. */
import { parentPort } from 'node:worker_threads';
import { decodeRecordBatches } from '../../src/kafka/decode.js';

const text = new TextDecoder();
parentPort!.on('message', (m: { id: number; bytes: Uint8Array; fetchOffset: number }) => {
  const d = decodeRecordBatches(m.bytes, { fetchOffset: m.fetchOffset });
  let parsed = 0;
  for (let i = 0; i < d.count; i++) {
    if (d.valueLength[i] < 0) continue;
    const b = d.buffers[d.buffer[i]];
    JSON.parse(text.decode(b.subarray(d.valueStart[i], d.valueStart[i] + d.valueLength[i])));
    parsed++;
  }
  parentPort!.postMessage({ id: m.id, count: d.count, parsed });
});
