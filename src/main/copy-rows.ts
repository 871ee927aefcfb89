/**
 * COPY text rows for final windows and dead letters: one line per row, values escaped
 * for PostgreSQL's COPY text format, numbers as the exact decimals the columns receive.
 */
import { STATS_WIDTH, S_COUNT, S_MAX, S_MIN, meanText, sampleStddev, sumText } from '../workers/stats.js';
import { SUM_SCALE } from '../workers/protocol.js';
import { copyBytea, copyNumber, copyText, copyTimestamp, COPY_NULL } from './copy-text.js';
import type { DeadLetter } from './sink.js';
import type { WindowState } from './window-store.js';

const copyDecimal = (text: string | null): string => (text === null ? COPY_NULL : text);

/** The most frequent condition; a tie goes to the alphabetically first (code point order). */
export function modeCondition(conds: Map<string, number>): string | null {
  let best: string | null = null;
  let bestCount = 0;
  for (const [name, count] of conds) {
    if (count > bestCount || (count === bestCount && best !== null && name < best)) {
      best = name;
      bestCount = count;
    }
  }
  return best;
}

/** The lines of a COPY text (COPY text escapes newlines inside values, so each line is one row). */
export const lines = (text: string): string[] => (text === '' ? [] : text.slice(0, -1).split('\n'));

/** COPY text for the sensor rows of final windows. */
export function sensorRows(windows: WindowState[], windowMs: number): string {
  let out = '';
  for (const w of windows) {
    const ws = copyTimestamp(w.start);
    const we = copyTimestamp(w.start + windowMs);
    for (let s = 0; s < w.keys.length; s++) {
      const key = w.keys[s];
      const sep = key.indexOf('\u0000');
      const o = s * STATS_WIDTH;
      const st = w.stats;
      out +=
        ws + '\t' + we + '\t' + copyText(key.slice(0, sep)) + '\t' + copyText(key.slice(sep + 1)) + '\t' +
        copyDecimal(meanText(st, o, SUM_SCALE[0], 4)) + '\t' + copyNumber(st[o + S_MIN]) + '\t' + copyNumber(st[o + S_MAX]) + '\t' +
        copyNumber(st[o + S_COUNT]) + '\t' + copyNumber(sampleStddev(st, o)) + '\n';
    }
  }
  return out;
}

export function consumptionRows(windows: WindowState[], windowMs: number): string {
  let out = '';
  for (const w of windows) {
    const ws = copyTimestamp(w.start);
    const we = copyTimestamp(w.start + windowMs);
    for (let s = 0; s < w.keys.length; s++) {
      const o = s * STATS_WIDTH;
      const st = w.stats;
      out +=
        ws + '\t' + we + '\t' + copyText(w.keys[s]) + '\t' + sumText(st, o, SUM_SCALE[1], 4) + '\t' +
        copyDecimal(meanText(st, o, SUM_SCALE[1], 4)) + '\t' + copyNumber(st[o + S_COUNT]) + '\n';
    }
  }
  return out;
}

export function weatherRows(windows: WindowState[], windowMs: number): string {
  let out = '';
  for (const w of windows) {
    if (w.keys.length === 0) continue;
    const st = w.stats;
    const cond = w.conds === null ? null : modeCondition(w.conds);
    out +=
      copyTimestamp(w.start) + '\t' + copyTimestamp(w.start + windowMs) + '\t' +
      copyDecimal(meanText(st, 0, SUM_SCALE[2], 2)) + '\t' + copyDecimal(meanText(st, STATS_WIDTH, SUM_SCALE[2], 2)) + '\t' +
      copyDecimal(meanText(st, 2 * STATS_WIDTH, SUM_SCALE[2], 2)) + '\t' + copyDecimal(meanText(st, 3 * STATS_WIDTH, SUM_SCALE[2], 2)) + '\t' +
      (cond === null ? COPY_NULL : copyText(cond)) + '\n';
  }
  return out;
}

export function deadLetterRows(dls: DeadLetter[]): string {
  let out = '';
  for (const d of dls) {
    out +=
      copyText(d.topic) + '\t' + d.partition + '\t' + d.offset + '\t' + copyBytea(d.key) + '\t' +
      copyBytea(d.payload) + '\t' + copyText(d.reason) + '\t' + copyText(d.error) + '\n';
  }
  return out;
}

