/**
 * Piscina worker entry: aggregates one packed batch and hands the result's typed arrays
 * back by transfer (Piscina only moves a top-level value, so the result is wrapped in a
 * Transferable that lists every buffer).
 */
import { move, transferableSymbol, valueSymbol } from 'piscina';
import type { AggregateResult, AnyAggregateTask } from './protocol.js';
import { runTask } from './raw.js';

class TransferableResult {
  constructor(private readonly r: AggregateResult) {}
  get [transferableSymbol](): ArrayBufferLike[] {
    const r = this.r;
    return [
      r.windows.buffer,
      r.groups.buffer,
      r.stats.buffer,
      r.condCounts.buffer,
      r.rejected.buffer,
      r.reasons.buffer,
      r.partMaxTs.buffer,
      ...(r.keyIds === undefined ? [] : [r.keyIds.buffer]),
      ...(r.rejectedRecords === undefined ? [] : [r.rejectedRecords.offsets.buffer]),
    ];
  }
  get [valueSymbol](): AggregateResult {
    return this.r;
  }
}

export default function run(task: AnyAggregateTask): unknown {
  return move(new TransferableResult(runTask(task)) as never);
}
