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
  /**
   * Partial correlation controlling for the hour of day (UTC): r of the residuals of
   * consumption and of the variable from their own means for that hour of day. Null when
   * no hour of day was seen twice, or the variable only follows the hour of day.
   */
  adjustedR?: number | null;
  /** kWh per unit within the same hour of day (slope of those residuals). */
  adjustedSlope?: number | null;
  /** Hours of day seen at least twice: only those carry information once it is taken out. */
  hoursOfDay?: number;
}

/** Heating and cooling degree-hours of the period, and consumption's answer to them. */
export interface DegreeHours {
  /** °C below which an hour needs heating, above which cooling. */
  heatingBase: number;
  coolingBase: number;
  /** Hours with consumption and a temperature. */
  hours: number;
  heatingDegreeHours: number;
  coolingDegreeHours: number;
  heatingHours: number;
  coolingHours: number;
  /** kWh per degree-hour, both fitted at once within the same hour of day; null when the period has none. */
  kwhPerHeatingDegreeHour: number | null;
  kwhPerCoolingDegreeHour: number | null;
  /** Hour-of-day-adjusted r of consumption with each. */
  heatingAdjustedR: number | null;
  coolingAdjustedR: number | null;
}

export interface OutOfBandWindow {
  windowStart: Date;
  sensorType: string;
  sensorId: string;
  avgValue: number;
  lowValue: number | null;
  highValue: number | null;
  unit: string | null;
  side: 'below' | 'above';
}

export interface SensorJump {
  windowStart: Date;
  sensorType: string;
  sensorId: string;
  avgValue: number;
  baselineMean: number;
  z: number;
}

export interface StaleSensor {
  sensorType: string;
  sensorId: string;
  lastWindowEnd: Date;
  /** How long before the latest window of any sensor (ms). */
  silentMs: number;
}

export interface SensorHealth {
  /** Sensor windows in the period, and distinct sensors among them. */
  windows: number;
  sensors: number;
  outOfBand: { windows: number; sensors: number; byType: { sensorType: string; windows: number; sensors: number }[]; worst: OutOfBandWindow[] };
  jumps: { baselineWindows: number; zThreshold: number; windows: number; sensors: number; largest: SensorJump[] };
  stale: { silentForMs: number; dataEnd: Date | null; sensors: StaleSensor[] };
}

/** One row of --csv: an hour with consumption or weather (or both). */
export interface CsvHour {
  windowStart: Date;
  windowEnd: Date;
  consumption: number | null;
  customers: number | null;
  temperature: number | null;
  humidity: number | null;
  pressure: number | null;
  windSpeed: number | null;
  condition: string | null;
  heatingDegreeHours: number | null;
  coolingDegreeHours: number | null;
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
  degreeHours: DegreeHours;
  /** Where Pearson's r and its hour-of-day-adjusted twin disagree, in words, with which to trust. */
  warnings: string[];
  health: SensorHealth;
}
