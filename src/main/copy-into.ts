/**
 * COPY … FROM STDIN of rows already built as COPY text (pg-copy-streams), fed in large
 * chunks: the text is built; it is split only to bound each write.
 */
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';

/** Copies `text` (rows, one per line; the last newline may be left out) into `table`. */
export async function copyInto(client: pg.PoolClient, table: string, text: string): Promise<void> {
  if (text === '') return;
  if (!text.endsWith('\n')) text += '\n';
  const CHUNK = 1 << 20;
  const chunks: string[] = [];
  for (let i = 0; i < text.length; i += CHUNK) chunks.push(text.slice(i, i + CHUNK));
  await pipeline(Readable.from(chunks), client.query(copyFrom(`COPY ${table} FROM STDIN`)));
}
