/**
 * The report as text for a terminal: plain aligned tables, UTC times, "n/a" where a
 * figure does not exist (Pearson's r of a variable that never varied, a mean of no hours).
 */
import type { Correlation, HourWithWeather, Report, WeatherVariable } from './types.js';

type Align = 'left' | 'right';
export interface Column {
  title: string;
  align?: Align;
}

/** An aligned text table: header, a rule, rows; no trailing spaces. */
export function textTable(columns: Column[], rows: string[][]): string {
  const widths = columns.map((c, i) => Math.max(c.title.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    columns
      .map((c, i) => {
        const cell = cells[i] ?? '';
        return (c.align ?? 'left') === 'right' ? cell.padStart(widths[i]) : cell.padEnd(widths[i]);
      })
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.title)), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export const NA = 'n/a';

/** A number with fixed decimals, or "n/a". */
export function fixed(v: number | null | undefined, decimals: number): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return NA;
  const s = v.toFixed(decimals);
  // -0.000 reads as a sign where there is none
  return /^-0(\.0*)?$/.test(s) ? s.slice(1) : s;
}

/** `2026-11-28 02:00` (UTC). */
export function utcMinute(d: Date): string {
  return d.toISOString().slice(0, 16).replace('T', ' ');
}

/** Words for the size of r, as analysts usually read it (|r| < .1 none, < .3 weak, < .5 moderate, < .7 strong). */
export function strength(r: number | null): string {
  if (r === null) return NA;
  const a = Math.abs(r);
  const size = a < 0.1 ? 'none' : a < 0.3 ? 'weak' : a < 0.5 ? 'moderate' : a < 0.7 ? 'strong' : 'very strong';
  if (size === 'none') return 'none';
  return `${size} ${r > 0 ? 'positive' : 'negative'}`;
}

export const VARIABLE_LABEL: Record<WeatherVariable, string> = {
  temperature: 'temperature',
  humidity: 'humidity',
  pressure: 'pressure',
  wind_speed: 'wind speed',
};
/** Units of the weather producer's fields; the source does not say wind speed's. */
export const VARIABLE_UNIT: Record<WeatherVariable, string> = {
  temperature: '°C',
  humidity: '%',
  pressure: 'hPa',
  wind_speed: 'as sent',
};

function why(c: Correlation): string {
  if (c.r !== null) return c.hours < 10 ? 'few hours: read with care' : '';
  if (c.hours < 2) return 'fewer than 2 hours';
  return 'no variation in one of the two';
}

function hourRow(h: HourWithWeather): string[] {
  return [
    utcMinute(h.windowStart),
    fixed(h.consumption, 2),
    String(h.customers),
    fixed(h.temperature, 1),
    fixed(h.humidity, 1),
    fixed(h.pressure, 1),
    fixed(h.windSpeed, 1),
    h.hasWeather ? (h.condition ?? NA) : 'no weather row',
  ];
}

export function formatReport(report: Report): string {
  const who = report.customer === null ? 'all customers' : `customer ${report.customer}`;
  const cov = report.coverage;
  const out: string[] = [];
  out.push(`Weather and consumption, ${utcMinute(report.period.from)} to ${utcMinute(report.period.to)} UTC, ${who}`);
  out.push(`Hours with consumption and weather: ${cov.hoursMatched}`);
  out.push(
    `Left out of the weather figures: ${cov.hoursWithoutWeather} hour(s) with consumption but no weather, ` +
      `${cov.hoursWithoutConsumption} hour(s) with weather but no consumption`,
  );
  out.push(
    report.customer === null
      ? 'Consumption: kWh in the hour, summed over all customers.'
      : `Consumption: kWh in the hour, customer ${report.customer}.`,
  );

  out.push('', "Correlation of hourly consumption with the weather (Pearson's r)");
  out.push(
    textTable(
      [
        { title: 'variable' },
        { title: 'r', align: 'right' },
        { title: 'strength' },
        { title: 'hours', align: 'right' },
        { title: 'kWh per unit', align: 'right' },
        { title: 'unit' },
        { title: 'note' },
      ],
      report.correlations.map((c) => [
        VARIABLE_LABEL[c.variable],
        fixed(c.r, 3),
        strength(c.r),
        String(c.hours),
        fixed(c.slope, 3),
        VARIABLE_UNIT[c.variable],
        why(c),
      ]),
    ),
  );

  out.push('', `Hours of highest consumption (top ${report.topHours.length})`);
  out.push(
    report.topHours.length === 0
      ? '(no hours with consumption in this period)'
      : textTable(
          [
            { title: 'hour (UTC)' },
            { title: 'kWh', align: 'right' },
            { title: 'customers', align: 'right' },
            { title: '°C', align: 'right' },
            { title: 'humidity %', align: 'right' },
            { title: 'hPa', align: 'right' },
            { title: 'wind', align: 'right' },
            { title: 'condition' },
          ],
          report.topHours.map(hourRow),
        ),
  );

  out.push('', 'Consumption by weather condition (hours with both)');
  out.push(
    report.byCondition.length === 0
      ? '(no hours with both consumption and weather in this period)'
      : textTable(
          [
            { title: 'condition' },
            { title: 'hours', align: 'right' },
            { title: 'mean kWh', align: 'right' },
            { title: 'min kWh', align: 'right' },
            { title: 'max kWh', align: 'right' },
          ],
          report.byCondition.map((c) => [
            c.condition ?? '(none)',
            String(c.hours),
            fixed(c.meanConsumption, 2),
            fixed(c.minConsumption, 2),
            fixed(c.maxConsumption, 2),
          ]),
        ),
  );

  out.push('', `Consumption by temperature band (${report.bandWidth} °C wide)`);
  out.push(
    report.byTemperatureBand.length === 0
      ? '(no hours with both consumption and a temperature in this period)'
      : textTable(
          [
            { title: 'band °C' },
            { title: 'hours', align: 'right' },
            { title: 'mean kWh', align: 'right' },
            { title: 'mean °C', align: 'right' },
          ],
          report.byTemperatureBand.map((b) => [
            `[${b.from}, ${b.to})`,
            String(b.hours),
            fixed(b.meanConsumption, 2),
            fixed(b.meanTemperature, 1),
          ]),
        ),
  );
  return out.join('\n') + '\n';
}

