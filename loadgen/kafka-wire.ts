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

// The record format (RecordBatch v2, CRC-32C, varints) lives in src/kafka/record-batch.ts,
// one place for the bytes the engine also reads.

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
