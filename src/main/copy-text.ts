/**
 * PostgreSQL COPY text format encoding. Rows are built into one large string and written
 * in few calls: one write() per row is an order of magnitude slower.
 */

const SPECIAL = /[\\\n\r\t]/;

/** Escapes a text value: backslash, newline, carriage return and tab. */
export function copyText(s: string): string {
  if (!SPECIAL.test(s)) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\') out += '\\\\';
    else if (c === '\n') out += '\\n';
    else if (c === '\r') out += '\\r';
    else if (c === '\t') out += '\\t';
    else out += c;
  }
  return out;
}

export const COPY_NULL = '\\N';

/** A number for a NUMERIC/BIGINT column (shortest round-trip form), or NULL. */
export function copyNumber(x: number | null): string {
  return x === null || !Number.isFinite(x) ? COPY_NULL : String(x);
}

/** A bytea value in hex form, escaped for COPY text, or NULL. */
export function copyBytea(b: Uint8Array | null): string {
  if (b === null) return COPY_NULL;
  return '\\\\x' + Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** Epoch milliseconds as a TIMESTAMP literal in UTC. */
export function copyTimestamp(ms: number): string {
  const iso = new Date(ms).toISOString(); // 2026-11-28T02:50:00.000Z
  return iso.slice(0, 10) + ' ' + iso.slice(11, 23);
}
