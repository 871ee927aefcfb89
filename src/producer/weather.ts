/**
 * A plausible weather simulator: temperature follows the daily solar cycle of the
 * location plus a slow drift and noise; humidity moves against temperature around a
 * drifting base; pressure and wind drift as mean-reverting random walks; the condition
 * follows from the values. Pure: all randomness comes from the `rng` passed in, so a seed
 * reproduces the same weather.
 */
export interface WeatherMessage {
  timestamp: string;
  temperature: number;
  humidity: number;
  pressure: number;
  wind_speed: number;
  wind_direction: number;
  weather_condition: WeatherCondition;
  location: string;
}

export const WEATHER_CONDITIONS = ['Cloudy', 'Foggy', 'Rainy', 'Stormy', 'Sunny', 'Windy'] as const;
export type WeatherCondition = (typeof WEATHER_CONDITIONS)[number];

export interface WeatherSimulatorOptions {
  /** Uniform [0, 1) source. */
  rng: () => number;
  lat?: number;
  lon?: number;
  /** Daily mean temperature in °C. */
  meanTemperature?: number;
  /** Half the daily temperature range in °C. */
  dailyAmplitude?: number;
}

const round1 = (x: number): number => Math.round(x * 10) / 10;
const clamp = (x: number, lo: number, hi: number): number => (x < lo ? lo : x > hi ? hi : x);

/** The condition that the measured values suggest. */
export function conditionFor(temperature: number, humidity: number, pressure: number, windSpeed: number): WeatherCondition {
  if (pressure < 998 && humidity > 80 && windSpeed > 14) return 'Stormy';
  if (humidity > 84 && pressure < 1010) return 'Rainy';
  if (humidity > 90 && windSpeed < 3 && temperature < 14) return 'Foggy';
  if (windSpeed > 11) return 'Windy';
  if (humidity > 65) return 'Cloudy';
  return 'Sunny';
}

export class WeatherSimulator {
  readonly location: string;
  private readonly rng: () => number;
  private readonly lon: number;
  private readonly mean: number;
  private readonly amplitude: number;
  private drift = 0;
  private humidityBase: number;
  private pressure: number;
  private wind: number;
  private direction: number;
  private lastMs: number | undefined;

  constructor(opts: WeatherSimulatorOptions) {
    this.rng = opts.rng;
    const lat = opts.lat ?? 41.98;
    this.lon = opts.lon ?? 20.37;
    this.location = `${lat.toFixed(2)},${this.lon.toFixed(2)}`;
    this.mean = opts.meanTemperature ?? 14;
    this.amplitude = opts.dailyAmplitude ?? 7;
    this.humidityBase = 55 + this.rng() * 20;
    this.pressure = 1005 + this.rng() * 16;
    this.wind = 2 + this.rng() * 6;
    this.direction = Math.floor(this.rng() * 360);
  }

  private normal(): number {
    const u = 1 - this.rng();
    const v = this.rng();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** The weather at `timeMs` (epoch ms); successive calls continue the same drift. */
  next(timeMs: number): WeatherMessage {
    // Random-walk steps scale with the square root of the time since the last reading,
    // capped at an hour's worth so a long gap does not throw the values off their range.
    // A reading for an earlier time (an out-of-order record) takes a small step and leaves
    // the clock where it was.
    const dt = this.lastMs === undefined ? 60_000 : clamp(timeMs - this.lastMs, 1_000, 3_600_000);
    if (this.lastMs === undefined || timeMs > this.lastMs) this.lastMs = timeMs;
    const s = Math.sqrt(dt / 60_000);
    this.drift = clamp(this.drift * (1 - 0.002 * s) + this.normal() * 0.08 * s, -6, 6);
    this.humidityBase = clamp(this.humidityBase + this.normal() * 0.4 * s - (this.humidityBase - 65) * 0.002 * s, 25, 98);
    this.pressure = clamp(this.pressure + this.normal() * 0.15 * s - (this.pressure - 1013) * 0.002 * s, 965, 1045);
    this.wind = Math.abs(this.wind + this.normal() * 0.5 * s - (this.wind - 4) * 0.01 * s);
    this.direction = (((this.direction + this.normal() * 6 * s) % 360) + 360) % 360;

    const solarHour = (((timeMs / 3_600_000 + this.lon / 15) % 24) + 24) % 24;
    const cycle = Math.sin((2 * Math.PI * (solarHour - 9)) / 24);
    const temperature = round1(this.mean + this.amplitude * cycle + this.drift + this.normal() * 0.3);
    const humidity = round1(clamp(this.humidityBase - 2 * (temperature - this.mean) + this.normal() * 1.5, 5, 100));
    const pressure = round1(this.pressure);
    const windSpeed = round1(clamp(this.wind + Math.abs(this.normal()) * 0.5, 0, 60));
    return {
      timestamp: new Date(timeMs).toISOString(),
      temperature,
      humidity,
      pressure,
      wind_speed: windSpeed,
      wind_direction: Math.floor(this.direction) % 360,
      weather_condition: conditionFor(temperature, humidity, pressure, windSpeed),
      location: this.location,
    };
  }
}
