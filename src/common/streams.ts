/**
 * The one table of stream facts. For each input stream: its name, the options that name
 * its topic and window size, the aggregate table and its unique key, the input fields with
 * the seed's type of the column each feeds, the group columns, the variables kept as
 * Welford statistics, the unit of the exact sums, and the output columns with their SQL
 * types. Everything else is derived from it: the workers' validation limits and statistics
 * layout (src/workers), the sink's staging tables, COPY rows, upserts and decimal places
 * (src/main/copy-rows.ts, sink-sql.ts), the metric labels, the engine's and the load
 * generator's topic and window options, and the tables the prune tool visits.
 * test/main/streams.test.ts holds sql/schema.sql to it. Adding a column or a stream starts
 * here. Pure data: the workers import it, so it imports nothing.
 *
 * One name per stream in the code: `meter` is the stream of meter readings; its table
 * (`consumption_aggregates_realtime`), its window option (`--consumption-window`) and its
 * topic keep the names users know.
 */

/** VARCHAR(max): `max` characters. */
export interface TextType {
  readonly sql: 'VARCHAR';
  readonly max: number;
}
/** DECIMAL(precision, scale), as the [precision, scale] pair the workers check values against. */
export interface DecimalType {
  readonly sql: 'DECIMAL';
  readonly digits: readonly [precision: number, scale: number];
}
export interface BigintType {
  readonly sql: 'BIGINT';
}
export type SqlType = TextType | DecimalType | BigintType;

export const varchar = (max: number): TextType => ({ sql: 'VARCHAR', max });
export const decimal = (precision: number, scale: number): DecimalType => ({ sql: 'DECIMAL', digits: [precision, scale] });
export const BIGINT: BigintType = { sql: 'BIGINT' };

/** The type as PostgreSQL spells it: VARCHAR(50), DECIMAL(10,4), BIGINT. */
export function sqlType(t: SqlType): string {
  return t.sql === 'VARCHAR' ? `VARCHAR(${t.max})` : t.sql === 'DECIMAL' ? `DECIMAL(${t.digits[0]},${t.digits[1]})` : 'BIGINT';
}

/**
 * How an output column is computed from a (window, group) state: the exact mean or sum of
 * a variable rounded to the column's scale, its minimum, maximum or sample standard
 * deviation, the number of records, or the most frequent value of the category field.
 */
export type Aggregate = 'mean' | 'sum' | 'min' | 'max' | 'stddev' | 'count' | 'mode';

export type ColumnSpec<F extends string = string> =
  | { readonly name: string; readonly of: 'count'; readonly type: SqlType }
  | {
      readonly name: string;
      readonly of: Exclude<Aggregate, 'count'>;
      /** The variable (for `mode`: the category field) it is computed from. */
      readonly field: F;
      /** The column's type when it is not the field's (the seed's type, which bounds the input). */
      readonly type?: SqlType;
    };

/** A setting given by a flag or an environment variable: the engine's config reads it. */
export interface SettingFacts {
  readonly flag: string;
  readonly env: string;
  readonly def: string;
  readonly help: string;
}

export interface StreamSpec {
  readonly name: StreamName;
  readonly topic: SettingFacts;
  /** The tumbling window size (a duration). */
  readonly window: SettingFacts;
  readonly table: string;
  /** The unique constraint on (window_start, group columns…) that upserts conflict on. */
  readonly unique: string;
  /**
   * The input fields the aggregates read, each with the seed's type of the column it feeds:
   * a value that does not fit is a bad record (contract sections 2 and 4).
   */
  readonly fields: Readonly<Record<string, SqlType>>;
  /** Group columns, in the order of the workers' group key (joined by NUL). */
  readonly groupBy: readonly string[];
  /** Fields kept as Welford statistics, in the order of their statistics slots. */
  readonly variables: readonly string[];
  /** A text field counted per window, whose most frequent value is written (weather condition). */
  readonly category?: string;
  /**
   * Unit of the exact sums: values are summed as integers of 1/sumScale, so |value| ·
   * sumScale must stay below 2^52 for the largest value the field's type allows.
   */
  readonly sumScale: number;
  /** Output columns after window_start, window_end and the group columns, in table order. */
  readonly columns: readonly ColumnSpec[];
}

/** A stream's definition, its field names checked wherever they are used. */
interface StreamDef<F extends Readonly<Record<string, SqlType>>> extends StreamSpec {
  readonly fields: F;
  readonly groupBy: readonly (keyof F & string)[];
  readonly variables: readonly (keyof F & string)[];
  readonly category?: keyof F & string;
  readonly columns: readonly ColumnSpec<keyof F & string>[];
}

/** The streams in Kind order: a stream's index is the number used in packed arrays and snapshots. */
export const KIND_NAMES = ['sensor', 'meter', 'weather'] as const;
export type StreamName = (typeof KIND_NAMES)[number];

/** The numeric id of each stream: its index in KIND_NAMES. */
export const Kind = { sensor: 0, meter: 1, weather: 2 } as const satisfies { readonly [N in StreamName]: number };
export type Kind = (typeof Kind)[StreamName];

const defineStream = <const F extends Readonly<Record<string, SqlType>>>(s: StreamDef<F>): StreamDef<F> => s;

export const STREAMS = {
  sensor: defineStream({
    name: 'sensor',
    topic: { flag: '--topic-sensor', env: 'KAFKA_TOPIC_SENSOR_DATA', def: 'smartgrid-sensor-data', help: 'sensor readings topic' },
    window: { flag: '--sensor-window', env: 'SMARTGRID_SENSOR_WINDOW', def: '5m', help: 'sensor aggregate window size' },
    table: 'sensor_aggregates_realtime',
    unique: 'sensor_aggregates_realtime_window_group',
    fields: { sensor_id: varchar(100), sensor_type: varchar(50), value: decimal(10, 4) },
    groupBy: ['sensor_type', 'sensor_id'],
    variables: ['value'],
    // |value| < 1e6 in nanounits
    sumScale: 1e9,
    columns: [
      { name: 'avg_value', of: 'mean', field: 'value' },
      { name: 'min_value', of: 'min', field: 'value' },
      { name: 'max_value', of: 'max', field: 'value' },
      { name: 'count', of: 'count', type: BIGINT },
      // widened from the seed's DECIMAL(10,4): values up to ±999999.9999 have a stddev up to 1.42e6
      { name: 'stddev_value', of: 'stddev', field: 'value', type: decimal(14, 4) },
    ],
  }),
  meter: defineStream({
    name: 'meter',
    topic: { flag: '--topic-meter', env: 'KAFKA_TOPIC_METER_READINGS', def: 'smartgrid-meter-readings', help: 'meter readings topic' },
    window: { flag: '--consumption-window', env: 'SMARTGRID_CONSUMPTION_WINDOW', def: '1h', help: 'consumption aggregate window size' },
    table: 'consumption_aggregates_realtime',
    unique: 'consumption_aggregates_realtime_window_group',
    fields: { customer_id: varchar(100), reading: decimal(12, 4) },
    groupBy: ['customer_id'],
    variables: ['reading'],
    // |reading| < 1e8 in units of 1e-7
    sumScale: 1e7,
    columns: [
      // widened from the seed's DECIMAL(12,4): a sum over many readings
      { name: 'total_consumption', of: 'sum', field: 'reading', type: decimal(20, 4) },
      { name: 'avg_consumption', of: 'mean', field: 'reading' },
      { name: 'reading_count', of: 'count', type: BIGINT },
    ],
  }),
  weather: defineStream({
    name: 'weather',
    topic: { flag: '--topic-weather', env: 'KAFKA_TOPIC_WEATHER', def: 'smartgrid-weather-data', help: 'weather topic' },
    window: { flag: '--weather-window', env: 'SMARTGRID_WEATHER_WINDOW', def: '1h', help: 'weather aggregate window size' },
    table: 'weather_aggregates_realtime',
    unique: 'weather_aggregates_realtime_window',
    fields: {
      temperature: decimal(5, 2),
      humidity: decimal(5, 2),
      pressure: decimal(7, 2),
      wind_speed: decimal(5, 2),
      weather_condition: varchar(50),
    },
    groupBy: [],
    variables: ['temperature', 'humidity', 'pressure', 'wind_speed'],
    category: 'weather_condition',
    // |value| < 1e5 in nanounits
    sumScale: 1e9,
    columns: [
      { name: 'avg_temperature', of: 'mean', field: 'temperature' },
      { name: 'avg_humidity', of: 'mean', field: 'humidity' },
      { name: 'avg_pressure', of: 'mean', field: 'pressure' },
      { name: 'avg_wind_speed', of: 'mean', field: 'wind_speed' },
      { name: 'weather_condition', of: 'mode', field: 'weather_condition' },
    ],
  }),
} satisfies { readonly [N in StreamName]: StreamSpec };

/** The streams in Kind order. */
export const STREAM_LIST: readonly StreamSpec[] = KIND_NAMES.map((n) => STREAMS[n]);

/** One value per stream, computed from its facts (the compiler insists on every stream). */
export function byStream<T>(f: (s: StreamSpec) => T): { [N in StreamName]: T } {
  return { sensor: f(STREAMS.sensor), meter: f(STREAMS.meter), weather: f(STREAMS.weather) };
}

/** Number of Welford statistics per (window, group), by Kind. */
export const VARS_PER_KIND: readonly number[] = STREAM_LIST.map((s) => s.variables.length);

/** Unit of the exact sums, by Kind (see StreamSpec.sumScale). */
export const SUM_SCALE: readonly number[] = STREAM_LIST.map((s) => s.sumScale);

/** The SQL type of an output column: its own, or its field's. */
export function columnType(s: StreamSpec, c: ColumnSpec): SqlType {
  return c.type ?? (c.of === 'count' ? BIGINT : s.fields[c.field]);
}
