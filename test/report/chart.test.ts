import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chartSpec, renderSvg, svgToPng } from '../../src/report/chart.js';
import type { Correlation, SeriesPoint } from '../../src/report/types.js';

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 0, 1);
const period = { from: new Date(T0), to: new Date(T0 + 24 * HOUR) };

/** The SVG of one named vega mark group (up to its closing tag; mark items are not nested). */
function markGroup(svg: string, name: string): string {
  const start = svg.search(new RegExp(`<g class="[^"]*\\b${name}\\b`));
  assert.ok(start >= 0, `no mark group ${name}`);
  return svg.slice(start, svg.indexOf('</g>', start));
}

const linear = (n: number): SeriesPoint[] =>
  Array.from({ length: n }, (_, h) => ({ windowStart: new Date(T0 + h * HOUR), consumption: 2 * (h - 5) + 3, temperature: h - 5 }));

const fit: Correlation = { variable: 'temperature', r: 1, hours: 24, slope: 2, intercept: 3 };

test('both series on two axes, every matched hour a point, the fitted line through them', async () => {
  const series = linear(24);
  // an hour without weather and one without consumption: on the time series, not in the scatter
  series.push({ windowStart: new Date(T0 + 24 * HOUR), consumption: 50, temperature: null });
  series.push({ windowStart: new Date(T0 + 25 * HOUR), consumption: null, temperature: 30 });
  const svg = await renderSvg(chartSpec({ period, customer: null, series, temperature: fit }));
  assert.match(svg, /^<svg /);
  assert.equal(markGroup(svg, 'scatter_points_marks').match(/aria-roledescription="point"/g)?.length, 24);
  const line = markGroup(svg, 'fitted_line_marks');
  assert.match(line, / d="M[\d.]+,[\d.]+L[\d.]+,[\d.]+"/);
  // the fitted line's aria label shows a point on consumption = 2·T + 3
  // (vega writes negative numbers with U+2212 MINUS SIGN)
  const label = /aria-label="([^"]*)"/.exec(line)?.[1].replaceAll('\u2212', '-') ?? '';
  const [, t, c] = /temperature \(°C\): (-?[\d.]+); consumption \(kWh per hour\): (-?[\d.]+)/.exec(label) ?? [];
  assert.ok(t !== undefined && Math.abs(2 * Number(t) + 3 - Number(c)) < 1e-6, `fitted line point: ${label}`);
  assert.match(markGroup(svg, 'consumption_series_marks'), /aria-roledescription="line mark"/);
  assert.match(markGroup(svg, 'temperature_series_marks'), /aria-roledescription="line mark"/);
  assert.match(svg, /Y-axis titled 'consumption \(kWh per hour\)'/);
  assert.match(svg, /Y-axis titled 'temperature \(°C\)'/);
  assert.match(svg, /X-axis titled 'hour \(UTC\)' for a utc scale/);
  assert.match(svg, /Pearson's r = 1\.000 over 24 hour\(s\); fitted line: kWh ≈ 3\.00 \+ 2\.00 × °C/);
  const adjusted = await renderSvg(chartSpec({ period, customer: null, series, temperature: { ...fit, adjustedR: -0.25 } }));
  assert.match(adjusted, /Pearson's r = 1\.000 over 24 hour\(s\), within the same hour of day -0\.250;/);
});

test('renders without matched hours, and with r undefined', async () => {
  const series: SeriesPoint[] = [
    { windowStart: new Date(T0), consumption: 5, temperature: null },
    { windowStart: new Date(T0 + HOUR), consumption: null, temperature: 12 },
  ];
  const none: Correlation = { variable: 'temperature', r: null, hours: 0, slope: null, intercept: null };
  const svg = await renderSvg(chartSpec({ period, customer: 'customer_3', series, temperature: none }));
  assert.match(svg, /<\/svg>\s*$/);
  assert.doesNotMatch(markGroup(svg, 'scatter_points_marks'), /aria-roledescription="point"/);
  assert.match(svg, /Pearson's r = n\/a over 0 hour\(s\); no fitted line/);
  assert.match(svg, /customer_3/);
  const empty = await renderSvg(chartSpec({ period, customer: null, series: [] }));
  assert.match(empty, /^<svg /);
});

test('the time axis is a 24-hour UTC clock, whatever the local zone', async () => {
  const tz = process.env.TZ;
  process.env.TZ = 'America/New_York';
  try {
    const svg = await renderSvg(chartSpec({ period, customer: null, series: linear(24) }));
    const axis = svg.slice(svg.indexOf("X-axis titled 'hour (UTC)'"));
    const labels = [...axis.slice(0, axis.indexOf('</g></g>', axis.indexOf('role-axis-label'))).matchAll(/>([^<]+)<\/text>/g)].map((m) => m[1]);
    assert.deepEqual(labels.slice(0, 3), ['01 Jan 00:00', '01 Jan 01:00', '01 Jan 02:00']);
    assert.ok(labels.includes('01 Jan 13:00'), labels.join('|'));
    assert.doesNotMatch(svg, /\b\d\d (AM|PM)\b/);
  } finally {
    if (tz === undefined) delete process.env.TZ;
    else process.env.TZ = tz;
  }
});

test('svgToPng: a PNG twice the SVG\'s size, with the drawing on it', async () => {
  const svg = await renderSvg(chartSpec({ period, customer: null, series: linear(24), temperature: fit }));
  const [, w, h] = /<svg [^>]*width="(\d+)" height="(\d+)"/.exec(svg) ?? [];
  const png = svgToPng(svg);
  assert.equal(png.subarray(1, 4).toString('latin1'), 'PNG');
  assert.equal(png.readUInt32BE(16), 2 * Number(w));
  assert.equal(png.readUInt32BE(20), 2 * Number(h));
  // a blank white image of that size compresses to a few kB; lines, points and text do not
  assert.ok(png.length > 40_000, `${png.length} bytes`);
});
