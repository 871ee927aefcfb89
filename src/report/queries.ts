/**
 * The report's queries, on the views of sql/views.sql. Each takes a connected client and a
 * period and returns typed rows; nothing here reads the environment or prints. One module
 * per part of the report: queries-scope.ts (the shared scope and hours), queries-preflight.ts
 * (schema, customer, data range), queries-weather.ts (correlations, degree-hours),
 * queries-hours.ts (top hours, by condition and band, series, CSV) and queries-health.ts
 * (sensor health); this module assembles the whole report and exports them all.
 */
import { disagreements } from './judge.js';
import type { Report } from './types.js';
import type { Scope, Queryable } from './queries-scope.js';
import { correlations, degreeHours } from './queries-weather.js';
import { byCondition, byTemperatureBand, topHours } from './queries-hours.js';
import { sensorHealth } from './queries-health.js';

export { pgTimestamp, type Queryable, type Scope } from './queries-scope.js';
export { assertCustomer, assertSchema, dataRange, missingObjects } from './queries-preflight.js';
export { COOLING_BASE_C, HEATING_BASE_C, correlations, degreeHours } from './queries-weather.js';
export { byCondition, byTemperatureBand, csvHours, series, topHours } from './queries-hours.js';
export { sensorHealth, type HealthOptions } from './queries-health.js';

export interface ReportOptions extends Scope {
  top: number;
  bandWidth: number;
  baselineWindows?: number;
  zThreshold?: number;
  silentForMs?: number;
}

/** The whole report for one period. */
export async function buildReport(client: Queryable, opts: ReportOptions): Promise<Report> {
  const { correlations: corr, coverage } = await correlations(client, opts);
  return {
    period: opts.period,
    customer: opts.customer ?? null,
    coverage,
    correlations: corr,
    topHours: await topHours(client, opts, opts.top),
    byCondition: await byCondition(client, opts),
    bandWidth: opts.bandWidth,
    byTemperatureBand: await byTemperatureBand(client, opts, opts.bandWidth),
    degreeHours: await degreeHours(client, opts),
    warnings: disagreements(corr),
    health: await sensorHealth(client, {
      period: opts.period,
      baselineWindows: opts.baselineWindows ?? 24,
      zThreshold: opts.zThreshold ?? 5,
      silentForMs: opts.silentForMs ?? 30 * 60_000,
      top: opts.top,
    }),
  };
}
