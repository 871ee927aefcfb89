/**
 * COPY text rows for final windows and dead letters: one line per row, values escaped
 * for PostgreSQL's COPY text format, numbers as the exact decimals the columns receive.
 * Which columns a stream's rows have, and how each is computed, is the table of stream
 * facts (src/common/streams.ts).
 */
import { columnType, type ColumnSpec, type StreamSpec } from '../common/streams.js';
import { STATS_WIDTH, S_COUNT, S_MAX, S_MIN, meanText, sampleStddev, sumText } from '../workers/stats.js';
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

/** Builds one cell of a row from the statistics at `o` (a group's slot) of window `w`. */
type Cell = (st: Float64Array, o: number, w: WindowState) => string;

/** The decimal places of a column written as an exact decimal (mean, sum): its DECIMAL scale. */
function placesOf(stream: StreamSpec, c: ColumnSpec): number {
  const t = columnType(stream, c);
  if (t.sql !== 'DECIMAL') throw new RangeError(`${stream.table}.${c.name} (${c.of}) must be a DECIMAL column`);
  return t.digits[1];
}

function cellOf(stream: StreamSpec, c: ColumnSpec): Cell {
  if (c.of === 'count') return (st, o) => copyNumber(st[o + S_COUNT]);
  if (c.of === 'mode') {
    return (_st, _o, w) => {
      const mode = w.conds === null ? null : modeCondition(w.conds);
      return mode === null ? COPY_NULL : copyText(mode);
    };
  }
  const v = stream.variables.indexOf(c.field);
  if (v < 0) throw new RangeError(`${stream.table}.${c.name}: '${c.field}' is not a variable of the ${stream.name} stream`);
  const at = v * STATS_WIDTH;
  const scale = stream.sumScale;
  switch (c.of) {
    case 'mean': {
      const places = placesOf(stream, c);
      return (st, o) => copyDecimal(meanText(st, o + at, scale, places));
    }
    case 'sum': {
      const places = placesOf(stream, c);
      return (st, o) => sumText(st, o + at, scale, places);
    }
    case 'min':
      return (st, o) => copyNumber(st[o + at + S_MIN]);
    case 'max':
      return (st, o) => copyNumber(st[o + at + S_MAX]);
    case 'stddev':
      return (st, o) => copyNumber(sampleStddev(st, o + at));
  }
}

/** The group columns of a key (its parts joined by NUL, in groupBy order), each after a tab. */
function groupCells(key: string, n: number): string {
  let out = '';
  let from = 0;
  for (let g = 0; g < n - 1; g++) {
    const sep = key.indexOf('\u0000', from);
    out += '\t' + copyText(key.slice(from, sep));
    from = sep + 1;
  }
  return n > 0 ? out + '\t' + copyText(key.slice(from)) : out;
}

const cellsByStream = new Map<StreamSpec, Cell[]>();

/**
 * COPY text for the rows of one stream's final windows, one per (window, group):
 * window_start, window_end, the group columns, then the stream's columns (streams.ts).
 */
export function streamRows(stream: StreamSpec, windows: WindowState[], windowMs: number): string {
  let cells = cellsByStream.get(stream);
  if (cells === undefined) cellsByStream.set(stream, (cells = stream.columns.map((c) => cellOf(stream, c))));
  const groups = stream.groupBy.length;
  const width = stream.variables.length * STATS_WIDTH;
  let out = '';
  for (const w of windows) {
    const head = copyTimestamp(w.start) + '\t' + copyTimestamp(w.start + windowMs);
    const st = w.stats;
    for (let s = 0; s < w.keys.length; s++) {
      const o = s * width;
      let line = head + groupCells(w.keys[s], groups);
      for (const cell of cells) line += '\t' + cell(st, o, w);
      out += line + '\n';
    }
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

