/**
 * One connection to a broker: TCP or TLS, SASL authentication when configured,
 * size-prefixed frames, correlation ids, any number of requests in flight (Kafka answers
 * requests on a connection in the order it got them, so pipelining needs no more than a
 * map from correlation id to the waiting caller).
 */
import net from 'node:net';
import tls from 'node:tls';
import { Reader, Writer } from './codec.js';
import { KafkaWireError, kafkaCodeName } from './errors.js';
import { API_VERSIONS, ApiKey, apiVersionsRequest, type ApiVersionsResponse, type RequestSpec } from './protocol.js';
import { GROUP_API_VERSIONS, GroupApiKey } from './group-protocol.js';
import { authenticate, type SaslOptions } from './sasl.js';
import { tlsHandshakeError, type TlsOptions } from './security.js';

interface Pending {
  resolve: (frame: Buffer) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export interface ConnectionOptions {
  host: string;
  port: number;
  clientId: string;
  /** Time for the TCP connect and TLS handshake (default 10 s). */
  connectTimeoutMs?: number;
  /** Time for each request of the SASL exchange (default 30 s). */
  requestTimeoutMs?: number;
  /** Connect with TLS (an empty object: TLS trusting the system's CAs). */
  tls?: TlsOptions;
  /** Authenticate every new connection with SASL before any other request. */
  sasl?: SaslOptions;
}

/** The name and version this client gives in ApiVersions (KIP-511). */
export const SOFTWARE = { name: 'smartgrid-stream-wire', version: '1' } as const;

/** Frames at least this large are assembled in a SharedArrayBuffer (see onData). */
const SHARED_FRAME_MIN = 64 * 1024;

export class Connection {
  private socket: net.Socket | undefined;
  private readonly pending = new Map<number, Pending>();
  private correlation = 0;
  /** Framing (onDirectRead): the reusable read buffer, its unread bytes [rs, re), and a large frame being read. */
  private readonly rbuf = Buffer.allocUnsafe(4 * SHARED_FRAME_MIN);
  private rs = 0;
  private re = 0;
  private big: Buffer | null = null;
  private bigAt = 0;
  private failure: Error | undefined;
  /** Set once a SASL session nears its end: the owner should open a new connection (requests on this one still complete). */
  private expiring = false;
  private expiryTimer: NodeJS.Timeout | undefined;
  /** Frames received: the first one tells whether the peer speaks Kafka at all. */
  private frames = 0;
  /** Whether a request other than ApiVersions was answered. */
  private answeredBeyondVersions = false;
  readonly host: string;
  readonly port: number;
  private readonly clientId: string;
  /** The broker's ApiVersions answer, when connect() asked for it (it does before SASL). */
  apiVersions: ApiVersionsResponse | undefined;

  constructor(private readonly options: ConnectionOptions) {
    this.host = options.host;
    this.port = options.port;
    this.clientId = options.clientId;
  }

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  /** False once the socket failed or was closed (or its SASL session is about to end): the owner should open a new connection. */
  get usable(): boolean {
    return this.socket !== undefined && this.failure === undefined && !this.expiring;
  }

  /** Requests sent and not answered yet. */
  get inFlight(): number {
    return this.pending.size;
  }

  /**
   * Opens the socket (TLS handshake included) and, with `sasl`, asks ApiVersions and
   * authenticates. Rejects with KAFKA_DISCONNECTED (retriable) when the broker cannot be
   * reached, KAFKA_TLS_FAILED or KAFKA_AUTH_FAILED (not retriable) when the settings are wrong.
   */
  async connect(timeoutMs = this.options.connectTimeoutMs ?? 10_000): Promise<void> {
    await this.open(timeoutMs);
    const sasl = this.options.sasl;
    if (sasl === undefined) return;
    const requestTimeoutMs = this.options.requestTimeoutMs ?? 30_000;
    try {
      const versions = await this.send(apiVersionsRequest(SOFTWARE.name, SOFTWARE.version), requestTimeoutMs);
      if (versions.errorCode !== 0) {
        throw new KafkaWireError('UNSUPPORTED_VERSION', `${this.address} refused ApiVersions v3: ${kafkaCodeName(versions.errorCode)}`, { kafkaCode: versions.errorCode });
      }
      this.apiVersions = versions;
      const session = await authenticate((spec) => this.send(spec, requestTimeoutMs), sasl, versions, this.address);
      if (session.sessionLifetimeMs > 0) {
        // The broker closes the connection when the session ends (KIP-368); this client does
        // not re-authenticate but moves to a new connection a little before.
        this.expiryTimer = setTimeout(() => (this.expiring = true), Math.max(0, session.sessionLifetimeMs * 0.9 - 1000));
        this.expiryTimer.unref();
      }
    } catch (e) {
      this.close();
      throw e;
    }
  }

  private open(timeoutMs: number): Promise<void> {
    const secure = this.options.tls;
    return new Promise((resolve, reject) => {
      // Plain TCP reads straight into where each frame ends up (onDirectRead); TLS sockets
      // hand over decrypted chunks ('data'), which onData copies there.
      const socket =
        secure === undefined
          ? net.connect({
              host: this.host,
              port: this.port,
              noDelay: true,
              onread: { buffer: () => this.readTarget(), callback: (n: number) => this.onDirectRead(n) },
            })
          : tls.connect({ host: this.host, port: this.port, ...secure });
      let tcpConnected = false;
      if (secure !== undefined) {
        socket.setNoDelay(true);
        socket.once('connect', () => (tcpConnected = true));
      }
      let connected = false;
      const timer = setTimeout(() => {
        const what = secure === undefined ? 'connect' : 'connect and TLS handshake';
        socket.destroy(new KafkaWireError('KAFKA_DISCONNECTED', `connection to ${this.address} failed: ${what} timed out after ${timeoutMs} ms`, { canRetry: true }));
      }, timeoutMs);
      socket.once(secure === undefined ? 'connect' : 'secureConnect', () => {
        clearTimeout(timer);
        connected = true;
        this.socket = socket;
        resolve();
      });
      // Every error, not only the first: an unhandled 'error' event would crash the process.
      socket.on('error', (e: Error & { code?: string }) => {
        clearTimeout(timer);
        let err: KafkaWireError;
        if (e instanceof KafkaWireError) err = e;
        else if (secure !== undefined && tcpConnected && !connected) err = tlsHandshakeError(e, this.address);
        else err = new KafkaWireError('KAFKA_DISCONNECTED', `connection to ${this.address} failed: ${e.message}`, { cause: e, canRetry: true });
        if (!connected) reject(err);
        this.fail(err);
      });
      if (secure !== undefined) socket.on('data', (d: Buffer) => this.onData(d));
      socket.on('close', () => {
        // A SASL listener answers ApiVersions, then closes a connection that sends anything
        // else without authenticating first.
        const hint =
          this.options.sasl === undefined && this.frames > 0 && !this.answeredBeyondVersions && this.pending.size > 0
            ? ' before answering (a SASL listener closes connections that do not authenticate: is sasl set?)'
            : '';
        this.fail(new KafkaWireError('KAFKA_DISCONNECTED', `connection to ${this.address} closed${hint}`, { canRetry: true }));
      });
    });
  }

  private fail(e: Error): void {
    this.failure ??= e;
    clearTimeout(this.expiryTimer);
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(e);
    }
    this.pending.clear();
    this.socket?.destroy();
  }

  /**
   * TLS sockets hand over decrypted chunks: each is copied where a read would have gone
   * (readTarget) and framed by the same code as a plain socket's reads.
   */
  private onData(d: Buffer): void {
    let at = 0;
    while (at < d.length) {
      const target = this.readTarget();
      const n = Math.min(target.length, d.length - at);
      target.set(at === 0 && n === d.length ? d : d.subarray(at, at + n));
      at += n;
      if (!this.onDirectRead(n)) return;
    }
  }

  /** Hands a response frame (correlation id first) to the request waiting for it. */
  private deliver(frame: Buffer): void {
    this.frames++;
    const id = frame.readInt32BE(0);
    const p = this.pending.get(id);
    if (p === undefined) return; // answer to a request that already timed out
    this.pending.delete(id);
    clearTimeout(p.timer);
    p.resolve(frame);
  }

  /**
   * Where the next read of a plain TCP socket goes (net's onread): the rest of a large frame
   * being received, so the kernel copies it straight into the SharedArrayBuffer that worker
   * threads read it from (no socket chunks, no second copy, no garbage); otherwise the free
   * end of a reusable read buffer, from which small frames are copied out. A read never
   * runs past the end of a large frame.
   */
  private readTarget(): Uint8Array {
    if (this.big !== null) return this.big.subarray(this.bigAt);
    if (this.rs === this.re) this.rs = this.re = 0;
    else if (this.rbuf.length - this.re < SHARED_FRAME_MIN) {
      this.rbuf.copyWithin(0, this.rs, this.re);
      this.re -= this.rs;
      this.rs = 0;
    }
    return this.rbuf.subarray(this.re);
  }

  /** `n` bytes arrived where readTarget pointed. */
  private onDirectRead(n: number): boolean {
    if (this.failure !== undefined) return false;
    if (this.big !== null) {
      this.bigAt += n;
      if (this.bigAt === this.big.length) {
        const frame = this.big.subarray(4);
        this.big = null;
        this.deliver(frame);
      }
      return true;
    }
    this.re += n;
    const b = this.rbuf;
    while (this.re - this.rs >= 4) {
      if (this.notKafka(b[this.rs], b[this.rs + 1])) return false;
      const size = b.readInt32BE(this.rs);
      if (size < 4) {
        this.fail(new KafkaWireError('CORRUPT_MESSAGE', `${this.address} sent a response frame of ${size} bytes`));
        return false;
      }
      const have = this.re - this.rs;
      if (size + 4 >= SHARED_FRAME_MIN) {
        // Large (a Fetch response): in shared memory, which the rest is read into directly.
        const big = Buffer.from(new SharedArrayBuffer(size + 4));
        const take = Math.min(have, size + 4);
        b.copy(big, 0, this.rs, this.rs + take);
        this.rs += take;
        if (take < size + 4) {
          this.big = big;
          this.bigAt = take;
          return true;
        }
        this.deliver(big.subarray(4));
        continue;
      }
      if (have < size + 4) return true;
      // Small: copied out, since the read buffer is reused.
      const frame = Buffer.allocUnsafe(size);
      b.copy(frame, 0, this.rs + 4, this.rs + 4 + size);
      this.rs += size + 4;
      this.deliver(frame);
    }
    return true;
  }

  /**
   * A TLS record (alert or handshake, version 3.x) where the first Kafka frame size (here
   * over 350 MB) should be: the listener expects TLS. Fails the connection saying so.
   */
  private notKafka(b0: number, b1: number): boolean {
    if (this.frames !== 0 || this.options.tls !== undefined || !((b0 === 0x15 || b0 === 0x16) && b1 === 0x03)) return false;
    this.fail(new KafkaWireError('KAFKA_TLS_FAILED', `${this.address} answered in TLS: it is a TLS (SSL or SASL_SSL) listener; set tls to connect to it`));
    return true;
  }

  private nextId(): number {
    return (this.correlation = (this.correlation + 1) & 0x7fffffff);
  }

  /**
   * Request header v2 (flexible) or v1: the client id stays a non-compact nullable
   * string in both; v2 adds an empty tagged-field section. The size prefix is left 0.
   */
  private header(w: Writer, apiKey: number, apiVersion: number, id: number, flexible: boolean): void {
    w.int32(0).int16(apiKey).int16(apiVersion).int32(id).string(this.clientId);
    if (flexible) w.tags();
  }

  /** Writes one request and resolves with its response frame (which starts with the correlation id). */
  private dispatch(id: number, what: string, parts: readonly Buffer[], timeoutMs: number): Promise<Buffer> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const socket = this.socket;
    if (socket === undefined) return Promise.reject(new KafkaWireError('KAFKA_DISCONNECTED', `not connected to ${this.address}`, { canRetry: true }));
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => {
        const err = new KafkaWireError('REQUEST_TIMEOUT', `request (${what}) to ${this.address} got no answer in ${timeoutMs} ms`, { canRetry: true });
        // Later answers on this connection could no longer be trusted in order: drop it.
        this.fail(err);
      }, timeoutMs);
      timer.unref();
      this.pending.set(id, { resolve, reject, timer });
      if (parts.length === 1) socket.write(parts[0]);
      else {
        socket.cork();
        for (const p of parts) socket.write(p);
        socket.uncork();
      }
    });
  }

  /** Sends a request and resolves with its decoded response. */
  async send<T>(spec: RequestSpec<T>, timeoutMs = 30_000): Promise<T> {
    const flexible = spec.flexible ?? true;
    const id = this.nextId();
    const w = new Writer(128);
    this.header(w, spec.apiKey, spec.apiVersion, id, flexible);
    spec.body(w);
    const out = w.view();
    out.writeInt32BE(out.length - 4, 0);
    const frame = await this.dispatch(id, `api ${spec.apiKey} v${spec.apiVersion}`, [out], timeoutMs);
    if (spec.apiKey !== ApiKey.ApiVersions) this.answeredBeyondVersions = true;
    // Response header v1 (correlation id + tagged fields) for flexible versions, v0 (the
    // correlation id alone) otherwise and always for ApiVersions, so that any client can
    // parse its answer (KIP-511).
    const r = new Reader(frame, 4);
    try {
      if (flexible && spec.apiKey !== ApiKey.ApiVersions) r.tags();
      return spec.decode(r);
    } catch (e) {
      if (e instanceof KafkaWireError) throw e;
      throw new KafkaWireError('CORRUPT_MESSAGE', `cannot decode response (api ${spec.apiKey} v${spec.apiVersion}) from ${this.address}`, { cause: e });
    }
  }

  /**
   * Sends a request whose body is already encoded, as `body` buffers that go out as they
   * are (no copy: a producer's record batches), and resolves with the raw response frame,
   * which starts with the correlation id; the caller parses it.
   */
  async sendRaw(apiKey: number, apiVersion: number, body: readonly Buffer[], options: { flexible?: boolean; timeoutMs?: number } = {}): Promise<Buffer> {
    const id = this.nextId();
    const w = new Writer(64);
    this.header(w, apiKey, apiVersion, id, options.flexible ?? true);
    const head = w.view();
    let size = head.length - 4;
    for (const b of body) size += b.length;
    head.writeInt32BE(size, 0);
    const frame = await this.dispatch(id, `api ${apiKey} v${apiVersion}`, [head, ...body], options.timeoutMs ?? 30_000);
    if (apiKey !== ApiKey.ApiVersions) this.answeredBeyondVersions = true;
    return frame;
  }

  /** Resolves when the socket's write buffer has drained. */
  drained(): Promise<void> {
    const s = this.socket;
    if (s === undefined || !s.writableNeedDrain || this.failure !== undefined) return Promise.resolve();
    return new Promise((r) => {
      const done = (): void => {
        s.off('drain', done);
        s.off('close', done);
        r();
      };
      s.once('drain', done);
      s.once('close', done);
    });
  }

  /** Breaks the connection as a network failure would: requests in flight fail with a retriable KAFKA_DISCONNECTED. */
  destroy(): void {
    this.fail(new KafkaWireError('KAFKA_DISCONNECTED', `connection to ${this.address} closed`, { canRetry: true }));
  }

  close(): void {
    this.failure ??= new KafkaWireError('CLIENT_CLOSED', `connection to ${this.address} closed by the client`);
    const s = this.socket;
    this.fail(this.failure);
    s?.destroy();
  }
}

/** Checks that c's broker speaks the API versions this client sends (ApiVersions). The group APIs (JoinGroup v9 etc., Kafka 3.2+) are required only on a group member's connections. */
export async function checkApiVersions(c: Connection, group: boolean, requestTimeoutMs: number): Promise<void> {
  // A SASL connection asked already, before authenticating.
  const r = c.apiVersions ?? (await c.send(apiVersionsRequest(SOFTWARE.name, SOFTWARE.version), requestTimeoutMs));
  if (r.errorCode !== 0) {
    throw new KafkaWireError('UNSUPPORTED_VERSION', `${c.address} refused ApiVersions v3: ${kafkaCodeName(r.errorCode)}`, { kafkaCode: r.errorCode });
  }
  const wanted: [string, number, number][] = [
    ...Object.entries(API_VERSIONS).map(([name, v]): [string, number, number] => [name, ApiKey[name as keyof typeof ApiKey], v]),
    ...(group ? Object.entries(GROUP_API_VERSIONS) : []).map(([name, v]): [string, number, number] => [name, GroupApiKey[name as keyof typeof GroupApiKey], v]),
  ];
  for (const [name, key, version] of wanted) {
    const range = r.apis.get(key);
    if (range === undefined || version < range.min || version > range.max) {
      const has = range === undefined ? 'not at all' : `v${range.min}-v${range.max}`;
      throw new KafkaWireError('UNSUPPORTED_VERSION', `${c.address} supports ${name} ${has}; this client needs v${version}`);
    }
  }
}