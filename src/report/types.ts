/**
 * The weather/consumption report as data: what the queries return, what `--json` prints,
 * what the text formatter and the chart read. Times are UTC instants; a missing value is
 * `null` (never NaN), so the JSON form is exact.
 */

/** The hours looked at: window_start in [from, to). */
export interface Period {
  from: Date;
  to: Date;
}

export const WeatherVariables = ['temperature', 'humidity', 'pressure', 'wind_speed'] as const;
export type WeatherVariable = (typeof WeatherVariables)[number];

export interface Correlation {
  variable: WeatherVariable;
  /** Pearson's r; null when fewer than two hours, or when either side never varies. */
  r: number | null;
  /** Hours behind r: both consumption and this variable present. */
  hours: number;
  /** Least-squares line: consumption ≈ intercept + slope × variable (kWh per hour). */
  slope: number | null;
  intercept: number | null;
}

export interface Coverage {
  /** Hours with consumption and a weather row of the same window. */
  hoursMatched: number;
  /** Hours with consumption but no weather row: left out of every weather figure. */
  hoursWithoutWeather: number;
  /** Hours with a weather row but no consumption: left out of every figure. */
  hoursWithoutConsumption: number;
}

export interface HourWithWeather {
  windowStart: Date;
  windowEnd: Date;
  /** Total over the customers looked at (kWh). */
  consumption: number | null;
  /** Customers with a row in this hour. */
  customers: number;
  /** False when no weather row matches the hour: the weather fields are then null. */
  hasWeather: boolean;
  temperature: number | null;
  humidity: number | null;
  pressure: number | null;
  windSpeed: number | null;
  condition: string | null;
}

export interface ConditionRow {
  /** null: weather rows without a condition. */
  condition: string | null;
  hours: number;
  meanConsumption: number | null;
  minConsumption: number | null;
  maxConsumption: number | null;
}

export interface TemperatureBand {
  /** The band is [from, to) in °C. */
  from: number;
  to: number;
  hours: number;
  meanConsumption: number | null;
  meanTemperature: number | null;
}

/** One point of the time series drawn by the chart; hours with either side are present. */
export interface SeriesPoint {
  windowStart: Date;
  consumption: number | null;
  temperature: number | null;
}

export interface Report {
  period: Period;
  /** null: all customers together. */
  customer: string | null;
  coverage: Coverage;
  correlations: Correlation[];
  topHours: HourWithWeather[];
  byCondition: ConditionRow[];
  bandWidth: number;
  byTemperatureBand: TemperatureBand[];
}
