/**
 * The report's picture: consumption and temperature over time on two y axes, and a
 * scatter of consumption against temperature with the least-squares line. Built as a
 * vega-lite spec and rendered to SVG by vega's headless renderer ('none': no canvas, no
 * DOM); PNG is that SVG rasterised by resvg (Rust, prebuilt binaries on npm), which needs
 * no node-canvas.
 */
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { Correlation, Period, SeriesPoint } from './types.js';

const CONSUMPTION_COLOR = '#1f77b4';
const TEMPERATURE_COLOR = '#e6550d';
const FIT_COLOR = '#d62728';
const CONSUMPTION_LABEL = 'consumption (kWh per hour)';
const TEMPERATURE_LABEL = 'temperature (°C)';

export interface ChartInput {
  period: Period;
  customer: string | null;
  series: SeriesPoint[];
  /** The report's figure for temperature, quoted in the scatter's subtitle. */
  temperature?: Correlation;
}

const utcMinute = (d: Date): string => d.toISOString().slice(0, 16).replace('T', ' ');
const fmt = (v: number | null | undefined, decimals: number): string =>
  v === null || v === undefined || !Number.isFinite(v) ? 'n/a' : v.toFixed(decimals);

/** The vega-lite spec of the chart; the data is inlined, so the spec stands alone. */
export function chartSpec(input: ChartInput): TopLevelSpec {
  const values = input.series.map((p) => ({
    hour: p.windowStart.toISOString(),
    consumption: p.consumption,
    temperature: p.temperature,
  }));
  const pairs = values.filter((v) => v.consumption !== null && v.temperature !== null);
  const who = input.customer === null ? 'all customers' : `customer ${input.customer}`;
  const t = input.temperature;
  const fit =
    t && t.slope !== null && t.intercept !== null
      ? `fitted line: kWh ≈ ${fmt(t.intercept, 2)} ${t.slope < 0 ? '−' : '+'} ${fmt(Math.abs(t.slope), 2)} × °C`
      : 'no fitted line (too few hours, or no variation)';
  const scatterSubtitle = t
    ? `Pearson's r = ${fmt(t.r, 3)} over ${t.hours} hour(s)` +
      (t.adjustedR !== undefined ? `, within the same hour of day ${fmt(t.adjustedR, 3)}` : '') +
      `; ${fit}`
    : `${pairs.length} hour(s) with both`;
  const x = {
    field: 'hour',
    type: 'temporal' as const,
    title: 'hour (UTC)',
    scale: { type: 'utc' as const },
    // 24-hour clock: "28 Nov 18:00", never "06 PM"
    axis: { labelOverlap: true, format: '%d %b %H:%M', labelAngle: 0 },
  };
  const colorScale = { domain: [CONSUMPTION_LABEL, TEMPERATURE_LABEL], range: [CONSUMPTION_COLOR, TEMPERATURE_COLOR] };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    description: `Weather and consumption, ${utcMinute(input.period.from)} to ${utcMinute(input.period.to)} UTC, ${who}`,
    title: {
      text: 'Weather and consumption',
      subtitle: `${utcMinute(input.period.from)} to ${utcMinute(input.period.to)} UTC, ${who}`,
      anchor: 'start',
      fontSize: 16,
    },
    config: { view: { stroke: '#ddd' }, axis: { grid: true, gridColor: '#eee' } },
    vconcat: [
      {
        name: 'timeline',
        title: { text: 'Hourly consumption and temperature', anchor: 'start' },
        width: 760,
        height: 240,
        data: { values },
        encoding: { x },
        // Straight segments between hours, and a dot on each, so a lone hour (its neighbours
        // missing) still shows and a gap in the data breaks the line instead of being bridged.
        layer: [
          {
            name: 'consumption_series',
            mark: { type: 'line', strokeWidth: 1.5, point: { size: 8 } },
            encoding: {
              y: {
                field: 'consumption',
                type: 'quantitative',
                title: CONSUMPTION_LABEL,
                axis: { titleColor: CONSUMPTION_COLOR, orient: 'left' },
                scale: { zero: false },
              },
              color: { datum: CONSUMPTION_LABEL, scale: colorScale, legend: { orient: 'top', title: null, labelLimit: 400 } },
            },
          },
          {
            name: 'temperature_series',
            mark: { type: 'line', strokeWidth: 1.5, strokeDash: [5, 3], point: { size: 8 } },
            encoding: {
              y: {
                field: 'temperature',
                type: 'quantitative',
                title: TEMPERATURE_LABEL,
                axis: { titleColor: TEMPERATURE_COLOR, orient: 'right', grid: false },
                scale: { zero: false },
              },
              color: { datum: TEMPERATURE_LABEL, scale: colorScale },
            },
          },
        ],
        resolve: { scale: { y: 'independent' } },
      },
      {
        name: 'scatter',
        title: { text: 'Consumption against temperature', subtitle: scatterSubtitle, anchor: 'start' },
        width: 480,
        height: 320,
        data: { values: pairs },
        encoding: {
          x: { field: 'temperature', type: 'quantitative', title: TEMPERATURE_LABEL, scale: { zero: false } },
          y: { field: 'consumption', type: 'quantitative', title: CONSUMPTION_LABEL, scale: { zero: false } },
        },
        layer: [
          {
            name: 'scatter_points',
            mark: { type: 'point', filled: true, size: 30, opacity: 0.6, color: CONSUMPTION_COLOR },
          },
          {
            name: 'fitted_line',
            // The same ordinary least squares as PostgreSQL's regr_slope/regr_intercept.
            transform: [{ regression: 'consumption', on: 'temperature', method: 'linear' }],
            mark: { type: 'line', color: FIT_COLOR, strokeWidth: 2 },
          },
        ],
      },
    ],
  };
}

/**
 * Rasterises an SVG document to PNG at `scale` × its size, on a white background. Text is
 * drawn with the system's fonts (vega asks for sans-serif; DejaVu Sans where installed).
 */
export function svgToPng(svg: string, scale = 2): Buffer {
  const resvg = new Resvg(svg, {
    background: 'white',
    fitTo: { mode: 'zoom', value: scale },
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans' },
  });
  return resvg.render().asPng();
}

/** Renders a vega-lite spec to an SVG document, headless. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
