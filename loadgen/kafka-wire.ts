/**
 * A minimal Kafka producer for bulk loading: it writes RecordBatch v2 (magic 2, no
 * compression) straight into one buffer per partition and sends Produce v3 requests over
 * one pipelined socket per broker. kafkajs reaches ~45k messages/s on this machine because
 * it encodes every record through small intermediate buffers; this writes each byte once.
 *
 * Only what the load generator needs: no idempotence, no transactions, no retries (a
 * failed produce rejects, naming the topic, partition and Kafka error code). Metadata and
 * topic creation are left to kafkajs' admin client.
 */
import net from 'node:net';

// ------------------------------------------------------------------ CRC-32C (Castagnoli)

const CRC_TABLES: Uint32Array[] = (() => {
  const tables = Array.from({ length: 8 }, () => new Uint32Array(256));
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    tables[0][i] = c >>> 0;
  }
  for (let i = 0; i < 256; i++) {
    for (let t = 1; t < 8; t++) tables[t][i] = (tables[0][tables[t - 1][i] & 0xff] ^ (tables[t - 1][i] >>> 8)) >>> 0;
  }
  return tables;
})();

/** CRC-32C of buf[start, end), slicing-by-8. */
export function crc32c(buf: Uint8Array, start = 0, end = buf.length): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = CRC_TABLES;
  let crc = 0xffffffff;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    const a = (crc ^ (buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16) | (buf[i + 3] << 24))) >>> 0;
    crc =
      t7[a & 0xff] ^
      t6[(a >>> 8) & 0xff] ^
      t5[(a >>> 16) & 0xff] ^
      t4[a >>> 24] ^
      t3[buf[i + 4]] ^
      t2[buf[i + 5]] ^
      t1[buf[i + 6]] ^
      t0[buf[i + 7]];
  }
  for (; i < end; i++) crc = t0[(crc ^ buf[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

// ------------------------------------------------------------------ RecordBatch v2

const BATCH_HEADER = 61;

function varintSize(n: number): number {
  // zig-zag of a non-negative n is 2n
  let v = n * 2;
  let size = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    size++;
  }
  return size;
}

/**
 * Accumulates records for one partition into a RecordBatch v2 (no compression, one
 * CreateTime for the batch). `seal()` writes the header and CRC and returns the bytes.
 */
export class RecordBatchBuilder {
  private buf: Buffer;
  private pos = BATCH_HEADER;
  count = 0;

  constructor(initialBytes = 256 * 1024) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  /** Bytes the batch holds so far. */
  get size(): number {
    return this.pos;
  }

  private ensure(extra: number): void {
    if (this.pos + extra <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + extra));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  private varint(n: number): void {
    let v = n * 2;
    const buf = this.buf;
    while (v >= 0x80) {
      buf[this.pos++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    buf[this.pos++] = v;
  }

  add(key: string | null, value: string | Buffer | null): void {
    const kl = key === null ? -1 : Buffer.byteLength(key, 'utf8');
    const vl = value === null ? -1 : typeof value === 'string' ? Buffer.byteLength(value, 'utf8') : value.length;
    const offsetDelta = this.count;
    const keyPart = kl < 0 ? 1 : varintSize(kl) + kl;
    const valuePart = vl < 0 ? 1 : varintSize(vl) + vl;
    const body = 1 + 1 + varintSize(offsetDelta) + keyPart + valuePart + 1;
    this.ensure(body + 5);
    this.varint(body);
    const buf = this.buf;
    buf[this.pos++] = 0; // attributes
    buf[this.pos++] = 0; // timestampDelta
    this.varint(offsetDelta);
    if (kl < 0) buf[this.pos++] = 1; // zig-zag(-1)
    else {
      this.varint(kl);
      this.pos += buf.write(key!, this.pos, 'utf8');
    }
    if (vl < 0) buf[this.pos++] = 1;
    else {
      this.varint(vl);
      if (typeof value === 'string') this.pos += buf.write(value, this.pos, 'utf8');
      else this.pos += value!.copy(buf, this.pos);
    }
    buf[this.pos++] = 0; // headers
    this.count++;
  }

  /** The finished batch (a copy), with `timestampMs` as CreateTime; the builder is reset. */
  seal(timestampMs: number): Buffer {
    const buf = this.buf;
    const len = this.pos;
    buf.writeBigInt64BE(0n, 0); // baseOffset
    buf.writeInt32BE(len - 12, 8); // batchLength
    buf.writeInt32BE(-1, 12); // partitionLeaderEpoch
    buf[16] = 2; // magic
    buf.writeInt16BE(0, 21); // attributes
    buf.writeInt32BE(this.count - 1, 23); // lastOffsetDelta
    const ts = BigInt(timestampMs);
    buf.writeBigInt64BE(ts, 27); // baseTimestamp
    buf.writeBigInt64BE(ts, 35); // maxTimestamp
    buf.writeBigInt64BE(-1n, 43); // producerId
    buf.writeInt16BE(-1, 51); // producerEpoch
    buf.writeInt32BE(-1, 53); // baseSequence
    buf.writeInt32BE(this.count, 57); // records
    buf.writeUInt32BE(crc32c(buf, 21, len), 17);
    const out = Buffer.allocUnsafe(len);
    buf.copy(out, 0, 0, len);
    this.pos = BATCH_HEADER;
    this.count = 0;
    return out;
  }
}

// ------------------------------------------------------------------ Produce v3 over a socket

export interface PartitionBatch {
  topic: string;
  partition: number;
  records: Buffer;
  count: number;
}

export interface ProduceResult {
  topic: string;
  partition: number;
  baseOffset: bigint;
}

export class KafkaWireError extends Error {
  constructor(
    message: string,
    readonly kafkaCode?: number,
  ) {
    super(message);
    this.name = 'KafkaWireError';
  }
}

interface Pending {
  resolve: (r: ProduceResult[]) => void;
  reject: (e: Error) => void;
}

/** One pipelined connection to a broker, sending Produce v3 requests. */
export class BrokerConnection {
  private socket: net.Socket | undefined;
  private readonly pending = new Map<number, Pending>();
  private correlation = 0;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private failure: Error | undefined;
  private readonly clientId: Buffer;

  constructor(
    readonly host: string,
    readonly port: number,
    clientId = 'smartgrid-loadgen',
  ) {
    this.clientId = Buffer.from(clientId);
  }

  get inFlight(): number {
    return this.pending.size;
  }

  connect(timeoutMs = 10_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: this.host, port: this.port, noDelay: true });
      const timer = setTimeout(() => socket.destroy(new Error(`connect timeout after ${timeoutMs} ms`)), timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        this.socket = socket;
        resolve();
      });
      socket.once('error', (e) => {
        clearTimeout(timer);
        reject(new KafkaWireError(`cannot connect to ${this.host}:${this.port}: ${e.message}`));
      });
      socket.on('data', (d: Buffer) => this.onData(d));
      socket.on('close', () => this.fail(new KafkaWireError(`connection to ${this.host}:${this.port} closed`)));
    });
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  private onData(d: Buffer): void {
    this.chunks.push(d);
    this.buffered += d.length;
    while (this.buffered >= 4) {
      let head = this.chunks[0];
      if (head.length < 4) {
        head = Buffer.concat(this.chunks);
        this.chunks = [head];
      }
      const size = head.readInt32BE(0);
      if (this.buffered < size + 4) return;
      const all = this.chunks.length === 1 ? head : Buffer.concat(this.chunks);
      const frame = all.subarray(4, 4 + size);
      const rest = all.subarray(4 + size);
      this.chunks = rest.length > 0 ? [rest] : [];
      this.buffered = rest.length;
      this.onResponse(frame);
    }
  }

  private onResponse(frame: Buffer): void {
    const id = frame.readInt32BE(0);
    const p = this.pending.get(id);
    if (p === undefined) return;
    this.pending.delete(id);
    try {
      let o = 4;
      const results: ProduceResult[] = [];
      const topics = frame.readInt32BE(o);
      o += 4;
      for (let t = 0; t < topics; t++) {
        const nameLen = frame.readInt16BE(o);
        const topic = frame.toString('utf8', o + 2, o + 2 + nameLen);
        o += 2 + nameLen;
        const parts = frame.readInt32BE(o);
        o += 4;
        for (let q = 0; q < parts; q++) {
          const partition = frame.readInt32BE(o);
          const code = frame.readInt16BE(o + 4);
          const baseOffset = frame.readBigInt64BE(o + 6);
          o += 22; // + log_append_time_ms
          if (code !== 0) {
            throw new KafkaWireError(`produce to ${topic}[${partition}] failed with Kafka error code ${code}`, code);
          }
          results.push({ topic, partition, baseOffset });
        }
      }
      p.resolve(results);
    } catch (e) {
      p.reject(e as Error);
    }
  }

  /** Sends one Produce request carrying the given batches; resolves with their base offsets. */
  produce(batches: PartitionBatch[], acks: -1 | 1 = 1, timeoutMs = 30_000): Promise<ProduceResult[]> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.socket === undefined) return Promise.reject(new KafkaWireError('not connected'));
    const byTopic = new Map<string, PartitionBatch[]>();
    for (const b of batches) {
      let l = byTopic.get(b.topic);
      if (l === undefined) byTopic.set(b.topic, (l = []));
      l.push(b);
    }
    const id = (this.correlation = (this.correlation + 1) & 0x7fffffff);
    const h = Buffer.allocUnsafe(4 + 2 + 2 + 4 + 2 + this.clientId.length + 2 + 2 + 4 + 4);
    let o = 4;
    o = h.writeInt16BE(0, o); // api key: Produce
    o = h.writeInt16BE(3, o); // api version
    o = h.writeInt32BE(id, o);
    o = h.writeInt16BE(this.clientId.length, o);
    o += this.clientId.copy(h, o);
    o = h.writeInt16BE(-1, o); // transactional_id: null
    o = h.writeInt16BE(acks, o);
    o = h.writeInt32BE(timeoutMs, o);
    h.writeInt32BE(byTopic.size, o);
    // The record batches go out as they are, between small header buffers.
    const parts: Buffer[] = [h];
    let size = h.length - 4;
    for (const [topic, list] of byTopic) {
      const name = Buffer.from(topic, 'utf8');
      const th = Buffer.allocUnsafe(2 + name.length + 4);
      th.writeInt16BE(name.length, 0);
      name.copy(th, 2);
      th.writeInt32BE(list.length, 2 + name.length);
      parts.push(th);
      size += th.length;
      for (const b of list) {
        const ph = Buffer.allocUnsafe(8);
        ph.writeInt32BE(b.partition, 0);
        ph.writeInt32BE(b.records.length, 4);
        parts.push(ph, b.records);
        size += 8 + b.records.length;
      }
    }
    h.writeInt32BE(size, 0);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.socket!.cork();
      for (const p of parts) this.socket!.write(p);
      this.socket!.uncork();
    });
  }

  /** Resolves when the socket's write buffer has drained. */
  drained(): Promise<void> {
    const s = this.socket;
    if (s === undefined || !s.writableNeedDrain) return Promise.resolve();
    return new Promise((r) => s.once('drain', () => r()));
  }

  async close(): Promise<void> {
    const s = this.socket;
    this.socket = undefined;
    if (s === undefined) return;
    await new Promise<void>((r) => {
      s.once('close', () => r());
      s.end();
      setTimeout(() => {
        s.destroy();
        r();
      }, 2000).unref();
    });
  }
}
