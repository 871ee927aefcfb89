/**
 * The report as text for a terminal: plain aligned tables, UTC times, "n/a" where a
 * figure does not exist (Pearson's r of a variable that never varied, a mean of no hours).
 */
import { strength } from './judge.js';
import type { Correlation, CsvHour, DegreeHours, HourWithWeather, Report, SensorHealth, WeatherVariable } from './types.js';

export { strength };

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

  out.push('', "Correlation of hourly consumption with the weather: Pearson's r, and r within the same hour of day");
  out.push(
    textTable(
      [
        { title: 'variable' },
        { title: 'r', align: 'right' },
        { title: 'strength' },
        { title: 'same-hour r', align: 'right' },
        { title: 'strength' },
        { title: 'hours', align: 'right' },
        { title: 'kWh per unit', align: 'right' },
        { title: 'same-hour kWh per unit', align: 'right' },
        { title: 'unit' },
        { title: 'note' },
      ],
      report.correlations.map((c) => [
        VARIABLE_LABEL[c.variable],
        fixed(c.r, 3),
        strength(c.r),
        fixed(c.adjustedR, 3),
        strength(c.adjustedR),
        String(c.hours),
        fixed(c.slope, 3),
        fixed(c.adjustedSlope, 3),
        VARIABLE_UNIT[c.variable],
        why(c),
      ]),
    ),
  );
  out.push(
    'Same-hour r compares each hour only with the same hour of day on other days (partial correlation',
    'controlling for the hour of day), so the daily cycle that consumption and the weather both follow',
    'is not counted as a weather effect.',
  );
  for (const w of report.warnings) out.push(`WARNING ${w}`);
  out.push('', ...degreeHoursText(report.degreeHours));

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
  out.push('', ...healthText(report.health, report.topHours.length || 10));
  return out.join('\n') + '\n';
}

function degreeHoursText(d: DegreeHours): string[] {
  const out = [`Heating and cooling degree-hours (below ${d.heatingBase} °C, above ${d.coolingBase} °C), ${d.hours} hour(s)`];
  if (d.hours === 0) return [...out, '(no hours with both consumption and a temperature in this period)'];
  out.push(
    textTable(
      [
        { title: 'need' },
        { title: 'degree-hours', align: 'right' },
        { title: 'hours', align: 'right' },
        { title: 'kWh per degree-hour', align: 'right' },
        { title: 'same-hour r', align: 'right' },
      ],
      [
        ['heating', fixed(d.heatingDegreeHours, 1), String(d.heatingHours), fixed(d.kwhPerHeatingDegreeHour, 2), fixed(d.heatingAdjustedR, 3)],
        ['cooling', fixed(d.coolingDegreeHours, 1), String(d.coolingHours), fixed(d.kwhPerCoolingDegreeHour, 2), fixed(d.coolingAdjustedR, 3)],
      ],
    ),
  );
  out.push('kWh per degree-hour: both fitted at once, each hour compared with the same hour of day on other days.');
  return out;
}

function minutes(ms: number): string {
  const m = Math.round(ms / 60_000);
  return m >= 120 ? `${(m / 60).toFixed(1)} h` : `${m} min`;
}

function healthText(h: SensorHealth, top: number): string[] {
  const out = [`Sensor health: ${h.windows} sensor window(s) from ${h.sensors} sensor(s) in the period`];
  const ob = h.outOfBand;
  out.push(`Out of band (window mean outside sensor_limits): ${ob.windows} window(s) from ${ob.sensors} sensor(s)`);
  if (ob.byType.length > 0) {
    out.push(
      textTable(
        [{ title: 'type' }, { title: 'windows', align: 'right' }, { title: 'sensors', align: 'right' }],
        ob.byType.map((t) => [t.sensorType, String(t.windows), String(t.sensors)]),
      ),
    );
    out.push(`Furthest outside (top ${Math.min(top, ob.worst.length)}):`);
    out.push(
      textTable(
        [{ title: 'window (UTC)' }, { title: 'type' }, { title: 'sensor' }, { title: 'mean', align: 'right' }, { title: 'band' }],
        ob.worst.map((w) => [
          utcMinute(w.windowStart),
          w.sensorType,
          w.sensorId,
          fixed(w.avgValue, 3),
          `${w.side} [${w.lowValue ?? '−∞'}, ${w.highValue ?? '∞'}]${w.unit ? ` ${w.unit}` : ''}`,
        ]),
      ),
    );
  }
  const j = h.jumps;
  out.push(
    `Jumps (|z| ≥ ${j.zThreshold} against the sensor's previous ${j.baselineWindows} windows): ` +
      `${j.windows} window(s) from ${j.sensors} sensor(s)`,
  );
  if (j.largest.length > 0) {
    out.push(
      textTable(
        [
          { title: 'window (UTC)' },
          { title: 'type' },
          { title: 'sensor' },
          { title: 'mean', align: 'right' },
          { title: 'baseline', align: 'right' },
          { title: 'z', align: 'right' },
        ],
        j.largest.map((x) => [utcMinute(x.windowStart), x.sensorType, x.sensorId, fixed(x.avgValue, 3), fixed(x.baselineMean, 3), fixed(x.z, 1)]),
      ),
    );
  }
  const st = h.stale;
  out.push(
    `Stale (no window for ${minutes(st.silentForMs)} or more while others report` +
      `${st.dataEnd ? `, latest window ends ${utcMinute(st.dataEnd)}` : ''}): ${st.sensors.length} sensor(s)`,
  );
  if (st.sensors.length > 0) {
    out.push(
      textTable(
        [{ title: 'type' }, { title: 'sensor' }, { title: 'last window ends' }, { title: 'silent for', align: 'right' }],
        st.sensors.slice(0, Math.max(top, 20)).map((x) => [x.sensorType, x.sensorId, utcMinute(x.lastWindowEnd), minutes(x.silentMs)]),
      ),
    );
    if (st.sensors.length > Math.max(top, 20)) out.push(`… and ${st.sensors.length - Math.max(top, 20)} more (--json lists all)`);
  }
  return out;
}

/** One CSV field (RFC 4180): quoted when it holds a comma, quote or line break. */
export function csvField(v: string | number | null): string {
  if (v === null) return '';
  const s = typeof v === 'number' ? (Number.isFinite(v) ? String(v) : '') : v;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

export const CSV_COLUMNS = [
  'window_start_utc',
  'window_end_utc',
  'hour_of_day_utc',
  'consumption_kwh',
  'customers',
  'temperature_c',
  'humidity_pct',
  'pressure_hpa',
  'wind_speed',
  'weather_condition',
  'heating_degree_hours',
  'cooling_degree_hours',
] as const;

/** The hours as CSV: a header, one line per hour, CRLF line ends (as RFC 4180 and spreadsheets expect). */
export function formatCsv(hours: CsvHour[]): string {
  const round = (v: number | null, d: number): number | null => (v === null ? null : Number(v.toFixed(d)));
  const lines = [CSV_COLUMNS.join(',')];
  for (const h of hours) {
    lines.push(
      [
        h.windowStart.toISOString(),
        h.windowEnd.toISOString(),
        h.windowStart.getUTCHours(),
        round(h.consumption, 4),
        h.customers,
        h.temperature,
        h.humidity,
        h.pressure,
        h.windSpeed,
        h.condition,
        round(h.heatingDegreeHours, 4),
        round(h.coolingDegreeHours, 4),
      ]
        .map(csvField)
        .join(','),
    );
  }
  return lines.join('\r\n') + '\r\n';
}

