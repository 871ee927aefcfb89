/**
 * The report's weather sections: the correlation of hourly consumption with each weather
 * variable (plain and adjusted for the hour of day), and heating/cooling degree-hours.
 */
import { WeatherVariables, type Correlation, type Coverage, type DegreeHours, type WeatherVariable } from './types.js';
import { HOURS, num, params, type Queryable, type Scope } from './queries-scope.js';

/** Pearson's r of hourly consumption against each weather variable, and the coverage. */
export async function correlations(
  client: Queryable,
  scope: Scope,
): Promise<{ correlations: Correlation[]; coverage: Coverage }> {
  const p = params(scope);
  const { rows } = await client.query<{
    variable: string;
    r: number | null;
    hours: string;
    slope: number | null;
    intercept: number | null;
    hours_without_weather: string;
    hours_without_consumption: string;
  }>('SELECT * FROM consumption_weather_correlation($1::timestamp, $2::timestamp, $3::text)', p);
  const matched = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${HOURS} WHERE has_weather`, p);
  const adjusted = await adjustedRows(client, scope);
  const known = new Set<string>(WeatherVariables);
  const out: Correlation[] = rows
    .filter((r) => known.has(r.variable))
    .map((r) => {
      const a = adjusted.get(r.variable);
      return {
        variable: r.variable as WeatherVariable,
        r: num(r.r),
        hours: Number(r.hours),
        slope: num(r.slope),
        intercept: num(r.intercept),
        adjustedR: num(a?.adjusted_r),
        adjustedSlope: num(a?.adjusted_slope),
        hoursOfDay: Number(a?.hours_of_day ?? 0),
      };
    });
  return {
    correlations: out,
    coverage: {
      hoursMatched: Number(matched.rows[0].n),
      hoursWithoutWeather: Number(rows[0]?.hours_without_weather ?? 0),
      hoursWithoutConsumption: Number(rows[0]?.hours_without_consumption ?? 0),
    },
  };
}

export const HEATING_BASE_C = 18;
export const COOLING_BASE_C = 22;

interface AdjustedRow {
  variable: string;
  r: number | null;
  adjusted_r: number | null;
  adjusted_slope: number | null;
  hours: string;
  hours_of_day: string;
}

async function adjustedRows(client: Queryable, scope: Scope): Promise<Map<string, AdjustedRow>> {
  const { rows } = await client.query<AdjustedRow>(
    'SELECT * FROM consumption_weather_adjusted($1::timestamp, $2::timestamp, $3::text, $4, $5)',
    [...params(scope), HEATING_BASE_C, COOLING_BASE_C],
  );
  return new Map(rows.map((r) => [r.variable, r]));
}

/** Heating and cooling degree-hours (bases 18 and 22 °C) and kWh per degree-hour. */
export async function degreeHours(client: Queryable, scope: Scope): Promise<DegreeHours> {
  const p = [...params(scope), HEATING_BASE_C, COOLING_BASE_C];
  const { rows } = await client.query<{
    hours: string;
    heating_degree_hours: number;
    cooling_degree_hours: number;
    heating_hours: string;
    cooling_hours: string;
    kwh_per_heating_degree_hour: number | null;
    kwh_per_cooling_degree_hour: number | null;
  }>('SELECT * FROM consumption_degree_hours($1::timestamp, $2::timestamp, $3::text, $4, $5)', p);
  const d = rows[0];
  const adjusted = await adjustedRows(client, scope);
  return {
    heatingBase: HEATING_BASE_C,
    coolingBase: COOLING_BASE_C,
    hours: Number(d.hours),
    heatingDegreeHours: Number(d.heating_degree_hours),
    coolingDegreeHours: Number(d.cooling_degree_hours),
    heatingHours: Number(d.heating_hours),
    coolingHours: Number(d.cooling_hours),
    kwhPerHeatingDegreeHour: num(d.kwh_per_heating_degree_hour),
    kwhPerCoolingDegreeHour: num(d.kwh_per_cooling_degree_hour),
    heatingAdjustedR: num(adjusted.get('heating_degree_hours')?.adjusted_r),
    coolingAdjustedR: num(adjusted.get('cooling_degree_hours')?.adjusted_r),
  };
}
