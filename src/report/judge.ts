/**
 * Reading r for an analyst: the words for its size, and when Pearson's r and its
 * hour-of-day-adjusted twin tell different stories, which to believe. Pure functions.
 */
import type { Correlation, WeatherVariable } from './types.js';

const LABEL: Record<WeatherVariable, string> = {
  temperature: 'temperature',
  humidity: 'humidity',
  pressure: 'pressure',
  wind_speed: 'wind speed',
};

/** Words for the size of r, as analysts usually read it (|r| < .1 none, < .3 weak, < .5 moderate, < .7 strong). */
export function strength(r: number | null | undefined): string {
  if (r === null || r === undefined) return 'n/a';
  const a = Math.abs(r);
  const size = a < 0.1 ? 'none' : a < 0.3 ? 'weak' : a < 0.5 ? 'moderate' : a < 0.7 ? 'strong' : 'very strong';
  if (size === 'none') return 'none';
  return `${size} ${r > 0 ? 'positive' : 'negative'}`;
}

const f3 = (r: number): string => (Math.abs(r) < 0.0005 ? '0.000' : r.toFixed(3));

/**
 * Where raw and adjusted r disagree: they differ by 0.3 or more, or point in opposite
 * directions while both are at least weak (|r| ≥ 0.1). Also a strong raw r that cannot be
 * checked because no hour of day was seen twice (less than two days of data).
 */
export function disagreements(correlations: Correlation[]): string[] {
  const out: string[] = [];
  for (const c of correlations) {
    const name = LABEL[c.variable];
    if (c.r === null) continue;
    const adj = c.adjustedR;
    if (adj === null || adj === undefined) {
      if (Math.abs(c.r) >= 0.3 && (c.hoursOfDay ?? 0) === 0) {
        out.push(
          `${name}: r = ${f3(c.r)} (${strength(c.r)}) cannot be told apart from the daily cycle: no hour of day ` +
            'was seen on two days. Report on two days or more before reading it as a weather effect.',
        );
      } else if (Math.abs(c.r) >= 0.3) {
        out.push(
          `${name}: r = ${f3(c.r)} (${strength(c.r)}), but within the same hour of day ${name} does not vary: ` +
            'it only follows the time of day, so r says nothing about a weather effect.',
        );
      }
      continue;
    }
    const opposite = Math.sign(c.r) !== Math.sign(adj) && Math.abs(c.r) >= 0.1 && Math.abs(adj) >= 0.1;
    if (!opposite && Math.abs(c.r - adj) < 0.3) continue;
    const why = opposite
      ? `the effect runs the other way once the daily cycle that both follow is taken out`
      : Math.abs(adj) < Math.abs(c.r)
        ? `most of r comes from the daily cycle that consumption and ${name} both follow`
        : `the daily cycle hides part of the effect`;
    out.push(
      `${name}: raw r = ${f3(c.r)} (${strength(c.r)}) but within the same hour of day r = ${f3(adj)} ` +
        `(${strength(adj)}): ${why}. Trust the hour-of-day-adjusted figure.`,
    );
  }
  return out;
}
