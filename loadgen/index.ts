/**
 * The load generator as a library, for engine tests and benchmarks:
 *
 *   const events = [...generate({ seed: 1, events: 100_000, partitions: 3, lateShare: 0.01 })];
 *   const expected = expectedAggregates(events, { windows: resolveGenerateOptions(opts).windows });
 *   const summary = await runLoad({ generate: opts, kafka: { brokers }, expected: true });
 */
export {
  generate,
  EventGenerator,
  resolveGenerateOptions,
  valueBytes,
  DEFAULT_GENERATE_OPTIONS,
  DEFAULT_TOPICS,
  DEFAULT_WINDOWS,
  SOURCES,
  BAD_REASONS,
  type GenerateOptions,
  type GenerateInput,
  type LoadEvent,
  type ValidRecord,
  type Source,
  type EventKind,
  type BadReason,
  type DeadLetterReason,
  type Topics,
  type Windows,
} from './generate.js';
export {
  expectedAggregates,
  ExpectedAggregator,
  type ExpectedOutput,
  type ExpectedOptions,
  type SensorRow,
  type ConsumptionRow,
  type WeatherRow,
  type ReasonCounts,
} from './expected.js';
export { runLoad, type RunOptions, type RunSummary, type Progress } from './run.js';
export { KafkaOutput, type KafkaOutputOptions } from './kafka-output.js';
export { FileOutput, eventLine } from './file-output.js';
export { partitionForKey, murmur2 } from './partition.js';
export { mulberry32 } from './random.js';
