/** Piscina worker of the wire client ceiling (wire-ceiling-child.ts): decode + JSON.parse, discard. */
import { decodeAndParse, type DecodeParseCount } from './decode-parse.js';

export interface WireCeilingTask {
  bytes: Uint8Array;
  fetchOffset: number;
  endOffset: number;
}

export default function run(t: WireCeilingTask): DecodeParseCount {
  return decodeAndParse(t.bytes, t.fetchOffset, t.endOffset);
}
