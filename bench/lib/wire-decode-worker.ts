/** Worker for bench/wire-read.ts: decodes one partition's raw batches and JSON.parses every value. */
import { parentPort } from 'node:worker_threads';
import { decodeAndParse } from './decode-parse.js';

parentPort!.on('message', (m: { id: number; bytes: Uint8Array; fetchOffset: number }) => {
  const r = decodeAndParse(m.bytes, m.fetchOffset);
  parentPort!.postMessage({ id: m.id, count: r.records, parsed: r.parsed });
});
