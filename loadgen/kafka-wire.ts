/**
 * A minimal Kafka producer for bulk loading: it writes RecordBatch v2 (magic 2, no
 * compression) straight into one buffer per partition and sends Produce v3 requests over
 * one pipelined socket per broker. kafkajs reaches ~45k messages/s on this machine because
 * it encodes every record through small intermediate buffers; this writes each byte once.
 *
 * Only what the load generator needs: InitProducerId (an idempotent producer id, so a
 * resent batch is written once) and Produce; no transactions. A failed produce rejects
 * with a KafkaWireError naming the topic, partition and Kafka error code (none for a
 * connection failure); retrying is the caller's (kafka-output.ts). Metadata and topic
 * creation are left to kafkajs' admin client.
 */
import { Connection } from '../src/kafka/connection.js';
import { KafkaWireError as WireError } from '../src/kafka/errors.js';

// The record format (RecordBatch v2, CRC-32C, varints) lives in src/kafka/record-batch.ts,
// and the connection (socket, frames, correlation ids) in src/kafka/connection.ts: one
// place for the bytes and the socket handling the engine also uses.

// ------------------------------------------------------------------ Produce v3 over a socket

/** An idempotent producer's identity (InitProducerId). */
export interface ProducerIdentity {
  producerId: bigint;
  producerEpoch: number;
}

/** The sequence number after a batch of `count` records starting at `seq`: it wraps from 2^31-1 to 0, as Kafka's do. */
export function nextSequence(seq: number, count: number): number {
  const n = seq + count;
  return n > 0x7fffffff ? n - 0x80000000 : n;
}

/** Kafka error codes this producer tells apart (the protocol's error table). */
export const KAFKA_ERRORS = {
  UNKNOWN_TOPIC_OR_PARTITION: 3,
  LEADER_NOT_AVAILABLE: 5,
  NOT_LEADER_OR_FOLLOWER: 6,
  REQUEST_TIMED_OUT: 7,
  NETWORK_EXCEPTION: 13,
  COORDINATOR_LOAD_IN_PROGRESS: 14,
  COORDINATOR_NOT_AVAILABLE: 15,
  NOT_COORDINATOR: 16,
  NOT_ENOUGH_REPLICAS: 19,
  NOT_ENOUGH_REPLICAS_AFTER_APPEND: 20,
  OUT_OF_ORDER_SEQUENCE_NUMBER: 45,
  DUPLICATE_SEQUENCE_NUMBER: 46,
  KAFKA_STORAGE_ERROR: 56,
} as const;

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

/**
 * A failed request: `kafkaCode` is the broker's error code; without one, the connection
 * failed (closed, refused, timed out). The wire client's KafkaWireError with the
 * load generator's constructor; errors of the shared connection (src/kafka) are the base
 * class, with a `kafkaCode` only where the broker sent one.
 */
export class KafkaWireError extends WireError {
  constructor(message: string, kafkaCode?: number, options: { cause?: unknown } = {}) {
    super(kafkaCode === undefined ? 'KAFKA_DISCONNECTED' : 'KAFKA_ERROR', message, { kafkaCode, cause: options.cause, canRetry: kafkaCode === undefined });
    this.name = 'KafkaWireError';
  }
}

/**
 * One pipelined connection to a broker, sending Produce v3 (and InitProducerId v1)
 * requests: the wire client's Connection (socket, framing, correlation ids, timeouts),
 * with the producer's two requests encoded here so that record batches go out without a copy.
 */
export class BrokerConnection {
  /**
   * How long a request may wait for its answer before the connection is given up (every
   * request on it then fails and the caller retries on a new one): the broker answers a
   * Produce within its own timeout, so no answer at all means the connection is dead.
   */
  requestTimeoutMs = 45_000;
  private readonly conn: Connection;

  constructor(
    readonly host: string,
    readonly port: number,
    clientId = 'smartgrid-loadgen',
  ) {
    this.conn = new Connection({ host, port, clientId });
  }

  get inFlight(): number {
    return this.conn.inFlight;
  }

  /** False once the connection failed or was closed; a new one is needed then. */
  get usable(): boolean {
    return this.conn.usable;
  }

  /** Breaks the connection as a network failure would: every request in flight fails. */
  destroy(): void {
    this.conn.destroy();
  }

  connect(timeoutMs = 10_000): Promise<void> {
    return this.conn.connect(timeoutMs);
  }

  /** Sends one request (header v1: neither version is flexible) and resolves with `parse` of its response frame (which starts with the correlation id). */
  private async request<T>(apiKey: number, apiVersion: number, body: Buffer[], parse: (frame: Buffer) => T): Promise<T> {
    const frame = await this.conn.sendRaw(apiKey, apiVersion, body, { flexible: false, timeoutMs: this.requestTimeoutMs });
    return parse(frame);
  }

  /**
   * InitProducerId v1 without a transactional id: a new producer id and epoch for an
   * idempotent producer (any broker answers it).
   */
  initProducerId(): Promise<ProducerIdentity> {
    const body = Buffer.allocUnsafe(2 + 4);
    body.writeInt16BE(-1, 0); // transactional_id: null
    body.writeInt32BE(60_000, 2); // transaction_timeout_ms (not used without a transactional id)
    return this.request(22, 1, [body], (frame) => {
      // correlation id, throttle_time_ms, error_code, producer_id, producer_epoch
      const code = frame.readInt16BE(8);
      if (code !== 0) throw new KafkaWireError(`InitProducerId failed with Kafka error code ${code}`, code);
      return { producerId: frame.readBigInt64BE(10), producerEpoch: frame.readInt16BE(18) };
    });
  }

  /** Sends one Produce request carrying the given batches; resolves with their base offsets. */
  produce(batches: PartitionBatch[], acks: -1 | 1 = 1, timeoutMs = 30_000): Promise<ProduceResult[]> {
    const byTopic = new Map<string, PartitionBatch[]>();
    for (const b of batches) {
      let l = byTopic.get(b.topic);
      if (l === undefined) byTopic.set(b.topic, (l = []));
      l.push(b);
    }
    const h = Buffer.allocUnsafe(2 + 2 + 4 + 4);
    let o = 0;
    o = h.writeInt16BE(-1, o); // transactional_id: null
    o = h.writeInt16BE(acks, o);
    o = h.writeInt32BE(timeoutMs, o);
    h.writeInt32BE(byTopic.size, o);
    // The record batches go out as they are, between small header buffers.
    const parts: Buffer[] = [h];
    for (const [topic, list] of byTopic) {
      const name = Buffer.from(topic, 'utf8');
      const th = Buffer.allocUnsafe(2 + name.length + 4);
      th.writeInt16BE(name.length, 0);
      name.copy(th, 2);
      th.writeInt32BE(list.length, 2 + name.length);
      parts.push(th);
      for (const b of list) {
        const ph = Buffer.allocUnsafe(8);
        ph.writeInt32BE(b.partition, 0);
        ph.writeInt32BE(b.records.length, 4);
        parts.push(ph, b.records);
      }
    }
    return this.request(0, 3, parts, (frame) => {
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
      return results;
    });
  }

  /** Resolves when the socket's write buffer has drained. */
  drained(): Promise<void> {
    return this.conn.drained();
  }

  async close(): Promise<void> {
    this.conn.close();
  }
}
