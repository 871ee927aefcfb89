import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WEATHER_CONDITIONS, WeatherSimulator, conditionFor } from '../../src/producer/weather.js';
import { mulberry32 } from '../../loadgen/random.js';

test('a simulated week: daily temperature cycle, values in range, condition follows the values', () => {
  const sim = new WeatherSimulator({ rng: mulberry32(3), lat: 42, lon: 21 });
  const t0 = Date.UTC(2026, 5, 1);
  const byHour = Array.from({ length: 24 }, () => [] as number[]);
  const seen = new Set<string>();
  for (let m = 0; m < 7 * 24 * 60; m += 5) {
    const t = t0 + m * 60_000;
    const w = sim.next(t);
    assert.deepEqual(Object.keys(w), ['timestamp', 'temperature', 'humidity', 'pressure', 'wind_speed', 'wind_direction', 'weather_condition', 'location']);
    assert.equal(w.timestamp, new Date(t).toISOString());
    assert.ok(w.temperature > -30 && w.temperature < 50, `temperature ${w.temperature}`);
    assert.ok(w.humidity >= 0 && w.humidity <= 100);
    assert.ok(w.pressure > 950 && w.pressure < 1060);
    assert.ok(w.wind_speed >= 0 && w.wind_speed < 60);
    assert.ok(Number.isInteger(w.wind_direction) && w.wind_direction >= 0 && w.wind_direction < 360);
    assert.equal(w.weather_condition, conditionFor(w.temperature, w.humidity, w.pressure, w.wind_speed));
    assert.equal(w.location, '42.00,21.00');
    byHour[new Date(t).getUTCHours()].push(w.temperature);
    seen.add(w.weather_condition);
  }
  const avg = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  // Solar time is UTC + 1.4 h here: warmest in the afternoon, coldest before dawn.
  assert.ok(avg(byHour[13]) > avg(byHour[3]) + 8, `13h ${avg(byHour[13])} vs 3h ${avg(byHour[3])}`);
  assert.ok(seen.size >= 2, `conditions seen: ${[...seen]}`);
  for (const c of seen) assert.ok((WEATHER_CONDITIONS as readonly string[]).includes(c));
});

test('conditions: storms, rain, fog, wind, clouds, sun', () => {
  assert.equal(conditionFor(15, 85, 990, 20), 'Stormy');
  assert.equal(conditionFor(15, 88, 1005, 5), 'Rainy');
  assert.equal(conditionFor(8, 95, 1020, 1), 'Foggy');
  assert.equal(conditionFor(20, 50, 1015, 15), 'Windy');
  assert.equal(conditionFor(20, 70, 1015, 3), 'Cloudy');
  assert.equal(conditionFor(25, 40, 1020, 3), 'Sunny');
});
