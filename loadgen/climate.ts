/**
 * The load generator's regional weather, and how consumption answers it.
 *
 * The true state of the weather is a pure function of event time (and the seed), not a
 * random walk stepped by calls: a meter reading and a weather message stamped at the same
 * instant see the same temperature whatever order they are generated in (out-of-order
 * records included), which is what lets a test plant a weather effect in consumption and
 * recover it from the engine's hourly tables.
 *
 * Temperature = mean + a daily cycle (warmest mid-afternoon solar time, its amplitude
 * damped on cloudy days) + a multi-day swing (fronts passing: smooth seeded knots every
 * 36 h) + a faster wobble (knots every 12 h). Cloudiness, wind and a pressure anomaly are
 * smooth seeded knot series too; humidity, pressure and the condition follow from them, so
 * the conditions change over the days (sunny spells, cloudy and rainy fronts, windy days).
 */
import { conditionFor, type WeatherMessage } from '../src/producer/weather.js';
import { gaussian, mulberry32, subSeed, type Rng } from './random.js';

const HOUR_MS = 3_600_000;

/** Consumption's weather effect: degrees below this °C call for heating… */
export const HEATING_BASE_C = 18;
/** …and degrees above this °C for cooling. */
export const COOLING_BASE_C = 22;

export interface WeatherEffect {
  /** kWh added to each meter reading per degree of the regional temperature below HEATING_BASE_C. */
  heatingKwhPerDegree: number;
  /** kWh added to each meter reading per degree above COOLING_BASE_C. */
  coolingKwhPerDegree: number;
}

export const DEFAULT_WEATHER_EFFECT: WeatherEffect = { heatingKwhPerDegree: 0.02, coolingKwhPerDegree: 0.02 };

/** The weather effect on one reading stamped when the regional temperature is `t` °C. */
export function weatherEffectKwh(effect: WeatherEffect, t: number): number {
  return (
    effect.heatingKwhPerDegree * Math.max(0, HEATING_BASE_C - t) + effect.coolingKwhPerDegree * Math.max(0, t - COOLING_BASE_C)
  );
}

/** A smooth seeded series: one standard normal knot every `periodMs`, cosine-interpolated. */
class KnotSeries {
  private readonly cache = new Map<number, number>();
  constructor(
    private readonly seed: number,
    private readonly periodMs: number,
  ) {}

  private knot(j: number): number {
    let v = this.cache.get(j);
    if (v === undefined) {
      v = gaussian(mulberry32(subSeed(this.seed, j)));
      // A bounded cache: event time moves forward, so old knots are not asked for again.
      if (this.cache.size > 64) this.cache.clear();
      this.cache.set(j, v);
    }
    return v;
  }

  at(ms: number): number {
    const x = ms / this.periodMs;
    const j = Math.floor(x);
    const f = (1 - Math.cos(Math.PI * (x - j))) / 2;
    return this.knot(j) * (1 - f) + this.knot(j + 1) * f;
  }
}

export interface ClimateOptions {
  seed: number;
  /** Longitude that sets solar time (default 21: Kosovo/North Macedonia). */
  lon?: number;
  /** Mean temperature (°C), default 13. */
  meanTemperature?: number;
  /** Half the daily range on a clear day (°C), default 7. */
  dailyAmplitude?: number;
}

export interface ClimateState {
  /** True regional temperature (°C), no measurement noise. */
  temperature: number;
  /** 0 clear … 1 overcast. */
  cloud: number;
  /** Mean wind speed (m/s). */
  wind: number;
  /** Pressure (hPa), before measurement noise. */
  pressure: number;
}

export class Climate {
  private readonly lon: number;
  private readonly mean: number;
  private readonly amplitude: number;
  private readonly fronts: KnotSeries;
  private readonly wobble: KnotSeries;
  private readonly clouds: KnotSeries;
  private readonly winds: KnotSeries;
  private readonly highs: KnotSeries;

  constructor(opts: ClimateOptions) {
    this.lon = opts.lon ?? 21;
    this.mean = opts.meanTemperature ?? 13;
    this.amplitude = opts.dailyAmplitude ?? 7;
    const s = (k: number): number => subSeed(opts.seed, 500 + k);
    this.fronts = new KnotSeries(s(0), 36 * HOUR_MS);
    this.wobble = new KnotSeries(s(1), 12 * HOUR_MS);
    this.clouds = new KnotSeries(s(2), 18 * HOUR_MS);
    this.winds = new KnotSeries(s(3), 10 * HOUR_MS);
    this.highs = new KnotSeries(s(4), 48 * HOUR_MS);
  }

  /** Cloudiness in [0, 1] at `ms`. */
  private cloudAt(ms: number): number {
    return 1 / (1 + Math.exp(-1.6 * this.clouds.at(ms)));
  }

  temperatureAt(ms: number): number {
    const cloud = this.cloudAt(ms);
    const solarHour = (((ms / HOUR_MS + this.lon / 15) % 24) + 24) % 24;
    const daily = this.amplitude * (1 - 0.5 * cloud) * Math.sin((2 * Math.PI * (solarHour - 9)) / 24);
    return this.mean + daily + 3.5 * this.fronts.at(ms) + 0.8 * this.wobble.at(ms);
  }

  stateAt(ms: number): ClimateState {
    const cloud = this.cloudAt(ms);
    const w = this.winds.at(ms);
    return {
      temperature: this.temperatureAt(ms),
      cloud,
      wind: 1 + 4 * w * w,
      pressure: 1013 + 7 * this.highs.at(ms) - 16 * (cloud - 0.5),
    };
  }
}

/** One weather station: the regional state plus its own measurement noise. */
export class ClimateStation {
  readonly location: string;
  private direction: number;

  constructor(
    private readonly climate: Climate,
    private readonly rng: Rng,
    lat: number,
    lon: number,
  ) {
    this.location = `${lat.toFixed(2)},${lon.toFixed(2)}`;
    this.direction = Math.floor(rng() * 360);
  }

  next(ms: number): WeatherMessage {
    const rng = this.rng;
    const s = this.climate.stateAt(ms);
    const round1 = (x: number): number => Math.round(x * 10) / 10;
    const temperature = round1(s.temperature + gaussian(rng) * 0.3);
    const humidity = round1(Math.min(100, Math.max(5, 38 + 58 * s.cloud - 1.6 * (s.temperature - 13) + gaussian(rng) * 2)));
    const pressure = round1(s.pressure + gaussian(rng) * 0.3);
    const windSpeed = round1(Math.max(0, s.wind + gaussian(rng) * 0.8));
    this.direction = (((this.direction + gaussian(rng) * 8) % 360) + 360) % 360;
    return {
      timestamp: new Date(ms).toISOString(),
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
