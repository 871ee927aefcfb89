/**
 * Child: the load generator (loadgen's runLoad), either as fast as possible for a number
 * of events (filling topics) or at a fixed rate for a duration with event time following
 * the wall clock (steady state).
 */
import { runLoad, type GenerateInput } from '../../loadgen/index.js';
import { serveChild } from './child.js';

export interface ProduceRequest {
  brokers: string[];
  generate: GenerateInput;
  /** Events per second; 0 = as fast as possible. */
  rate?: number;
  durationMs?: number;
  /** Event time follows the wall clock: startMs = now, one event per 1000/rate ms. */
  realTime?: boolean;
  batchBytes?: number;
}

export interface ProduceReply {
  events: number;
  elapsedMs: number;
  rate: number;
  bytes: number;
  bySource: Record<string, number>;
  /** Epoch ms of the first event's send (wall clock) and of its event time. */
  wallStartMs: number;
  eventStartMs: number;
  cpuMs: number;
}

serveChild<ProduceRequest, ProduceReply>(async (req) => {
  const cpu0 = process.cpuUsage();
  const generate: GenerateInput = { ...req.generate };
  if (req.realTime) {
    if (!(req.rate !== undefined && req.rate > 0)) throw new RangeError('realTime needs a rate');
    generate.startMs = Date.now();
    generate.timeStepMs = 1000 / req.rate;
    delete generate.events;
  }
  const s = await runLoad({
    generate,
    kafka: { brokers: req.brokers, createTopics: false, batchBytes: req.batchBytes },
    rate: req.rate,
    durationMs: req.durationMs,
  });
  const end = Date.now();
  const c = process.cpuUsage(cpu0);
  return {
    events: s.events,
    elapsedMs: s.elapsedMs,
    rate: s.rate,
    bytes: s.kafka?.bytes ?? 0,
    bySource: { ...s.generated.bySource },
    wallStartMs: end - s.elapsedMs,
    eventStartMs: s.options.startMs,
    cpuMs: (c.user + c.system) / 1000,
  };
});
