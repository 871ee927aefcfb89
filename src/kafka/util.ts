/**
 * Small helpers the wire client, its fetcher and the group member share: the key of a
 * (topic, partition) in maps, a sleep, and the check of a positive integer option.
 */
import { KafkaWireError } from './errors.js';

/** The key of a (topic, partition) in maps. */
export const tpKey = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `v` (or `dflt` when not given), which must be a positive integer: `options.<name>`. */
export function positiveInt(name: string, v: number | undefined, dflt: number): number {
  const x = v ?? dflt;
  if (!Number.isInteger(x) || x <= 0) throw new KafkaWireError('INVALID_ARGUMENT', `options.${name} must be a positive integer, got ${String(v)}`);
  return x;
}
