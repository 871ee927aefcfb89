/**
 * One TCP connection to a broker: size-prefixed frames, correlation ids, any number of
 * requests in flight (Kafka answers requests on a connection in the order it got them,
 * so pipelining needs no more than a map from correlation id to the waiting caller).
 */
import net from 'node:net';
import { Reader, Writer } from './codec.js';
import { KafkaWireError } from './errors.js';
import { ApiKey, type RequestSpec } from './protocol.js';

interface Pending {
  resolve: (frame: Buffer) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export interface ConnectionOptions {
  host: string;
  port: number;
  clientId: string;
  connectTimeoutMs?: number;
}

export class Connection {
  private socket: net.Socket | undefined;
  private readonly pending = new Map<number, Pending>();
  private correlation = 0;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private failure: Error | undefined;
  readonly host: string;
  readonly port: number;
  private readonly clientId: string;

  constructor(private readonly options: ConnectionOptions) {
    this.host = options.host;
    this.port = options.port;
    this.clientId = options.clientId;
  }

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  /** False once the socket failed or was closed: the owner should open a new connection. */
  get usable(): boolean {
    return this.socket !== undefined && this.failure === undefined;
  }

  connect(): Promise<void> {
    const timeoutMs = this.options.connectTimeoutMs ?? 10_000;
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: this.host, port: this.port, noDelay: true });
      const timer = setTimeout(() => socket.destroy(new Error(`connect timeout after ${timeoutMs} ms`)), timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        this.socket = socket;
        resolve();
      });
      socket.on('error', (e) => {
        clearTimeout(timer);
        const err = new KafkaWireError('KAFKA_DISCONNECTED', `connection to ${this.address} failed: ${e.message}`, { cause: e, canRetry: true });
        if (this.socket === undefined) reject(err);
        this.fail(err);
      });
      socket.on('data', (d: Buffer) => this.onData(d));
      socket.on('close', () => this.fail(new KafkaWireError('KAFKA_DISCONNECTED', `connection to ${this.address} closed`, { canRetry: true })));
    });
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(e);
    }
    this.pending.clear();
    this.socket?.destroy();
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
      // One copy at most per frame, and only when it spans socket chunks; the frame is then
      // handed out as is, so record batches reach the caller as views into it.
      const all = this.chunks.length === 1 ? head : Buffer.concat(this.chunks, this.buffered);
      const frame = all.subarray(4, 4 + size);
      const rest = all.subarray(4 + size);
      this.chunks = rest.length > 0 ? [rest] : [];
      this.buffered = rest.length;
      const id = frame.readInt32BE(0);
      const p = this.pending.get(id);
      if (p === undefined) continue; // answer to a request that already timed out
      this.pending.delete(id);
      clearTimeout(p.timer);
      p.resolve(frame);
    }
  }

  /** Sends a request and resolves with its decoded response. */
  async send<T>(spec: RequestSpec<T>, timeoutMs = 30_000): Promise<T> {
    if (this.failure !== undefined) throw this.failure;
    const socket = this.socket;
    if (socket === undefined) throw new KafkaWireError('KAFKA_DISCONNECTED', `not connected to ${this.address}`, { canRetry: true });
    const id = (this.correlation = (this.correlation + 1) & 0x7fffffff);
    // Request header v2 (flexible): the client id stays a non-compact nullable string.
    const w = new Writer(128);
    w.int32(0).int16(spec.apiKey).int16(spec.apiVersion).int32(id).string(this.clientId).tags();
    spec.body(w);
    const out = w.view();
    out.writeInt32BE(out.length - 4, 0);
    const frame = await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => {
        const err = new KafkaWireError('REQUEST_TIMEOUT', `request (api ${spec.apiKey} v${spec.apiVersion}) to ${this.address} got no answer in ${timeoutMs} ms`, { canRetry: true });
        // Later answers on this connection could no longer be trusted in order: drop it.
        this.fail(err);
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      socket.write(out);
    });
    // Response header v1 (correlation id + tagged fields), except for ApiVersions, whose
    // response always uses header v0 so that any client can parse it (KIP-511).
    const r = new Reader(frame, 4);
    if (spec.apiKey !== ApiKey.ApiVersions) r.tags();
    try {
      return spec.decode(r);
    } catch (e) {
      if (e instanceof KafkaWireError) throw e;
      throw new KafkaWireError('CORRUPT_MESSAGE', `cannot decode response (api ${spec.apiKey} v${spec.apiVersion}) from ${this.address}`, { cause: e });
    }
  }

  close(): void {
    this.failure ??= new KafkaWireError('CLIENT_CLOSED', `connection to ${this.address} closed by the client`);
    const s = this.socket;
    this.fail(this.failure);
    s?.destroy();
  }
}
