import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createSchema, PG } from '../helpers.js';
import { applySchemaAndViews, assertClose, day, DAY4, HOUR_MS, seed } from './fixtures.js';

const CLI = fileURLToPath(new URL('../../src/report/cli.js', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: {
        PATH: process.env.PATH ?? '',
        TZ: 'America/New_York', // the report must not depend on the local zone
        POSTGRES_HOST: PG.host,
        POSTGRES_PORT: String(PG.port),
        POSTGRES_DB: PG.database,
        POSTGRES_USER: PG.user,
        POSTGRES_PASSWORD: PG.password,
        ...env,
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** One line, no stack trace. */
function assertOneLine(stderr: string, pattern: RegExp): void {
  const lines = stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `expected one line, got:\n${stderr}`);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(stderr, /\n\s+at /);
}

describe('npm run report', () => {
  let db: Awaited<ReturnType<typeof createSchema>>;
  let dir: string;
  before(async () => {
    db = await createSchema('report_cli');
    await applySchemaAndViews(db.client);
    await seed(db.client);
    dir = await mkdtemp(join(tmpdir(), 'report-'));
  });
  after(async () => {
    await db.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  test('--json for day 1: r = 1 for temperature, n/a as null, breakdowns', async () => {
    const r = await run(['--schema', db.schema, '--from', '2026-01-01', '--to', '2026-01-01', '--json', '--top', '2']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const report = JSON.parse(r.stdout);
    // a date alone in --to means the end of that day
    assert.deepEqual(report.period, { from: '2026-01-01T00:00:00.000Z', to: '2026-01-02T00:00:00.000Z' });
    assert.equal(report.customer, null);
    const t = report.correlations.find((c: { variable: string }) => c.variable === 'temperature');
    assertClose(t.r, 1, 1e-12, 'r');
    assert.equal(t.hours, 24);
    assert.equal(report.correlations.find((c: { variable: string }) => c.variable === 'pressure').r, null);
    assert.deepEqual(report.coverage, { hoursMatched: 24, hoursWithoutWeather: 0, hoursWithoutConsumption: 0 });
    assert.deepEqual(
      report.topHours.map((h: { windowStart: string; consumption: number; temperature: number }) => [
        h.windowStart,
        h.consumption,
        h.temperature,
      ]),
      [
        ['2026-01-01T23:00:00.000Z', 39, 18],
        ['2026-01-01T22:00:00.000Z', 37, 17],
      ],
    );
    assert.equal(report.bandWidth, 5);
    assert.deepEqual(
      report.byTemperatureBand.map((b: { from: number; hours: number }) => [b.from, b.hours]),
      [
        [-5, 5],
        [0, 5],
        [5, 5],
        [10, 5],
        [15, 4],
      ],
    );
    assert.equal(report.byCondition.length, 3);
  });

  test('default period is all the data; unmatched hours are counted; --customer narrows it', async () => {
    const all = JSON.parse((await run(['--schema', db.schema, '--json'])).stdout);
    assert.equal(all.period.from, day(1).toISOString());
    assert.equal(all.period.to, new Date(DAY4.mismatched + HOUR_MS).toISOString());
    assert.deepEqual(all.coverage, { hoursMatched: 72, hoursWithoutWeather: 3, hoursWithoutConsumption: 4 });

    const r = await run(['--schema', db.schema, '--json', '--customer', 'a', '--from', '2026-01-02', '--to', '2026-01-03T00:00Z']);
    const a = JSON.parse(r.stdout);
    assert.equal(a.customer, 'a');
    assertClose(a.correlations[0].r, -1, 1e-12, 'r(a, day 2)'); // customer a is 50 − T on day 2
    assertClose(a.correlations[0].slope, -1, 1e-9, 'slope');
  });

  test('text tables: figures, strengths, n/a and the left-out hours', async () => {
    const r = await run(['--schema', db.schema, '--band-width', '10']);
    assert.equal(r.code, 0, r.stderr);
    const out = r.stdout;
    assert.match(out, /^Weather and consumption, 2026-01-01 00:00 to 2026-01-04 11:00 UTC, all customers$/m);
    assert.match(out, /^Hours with consumption and weather: 72$/m);
    assert.match(out, /3 hour\(s\) with consumption but no weather, 4 hour\(s\) with weather but no consumption/);
    assert.match(out, /^pressure\s+n\/a\s+n\/a\s+n\/a\s+n\/a\s+72\s+n\/a\s+n\/a\s+hPa\s+no variation in one of the two$/m);
    assert.match(out, /^2026-01-04 00:00\s+1000\.00\s+1\s+n\/a\s+n\/a\s+n\/a\s+n\/a\s+no weather row$/m);
    assert.match(out, /^Consumption by temperature band \(10 °C wide\)$/m);
    assert.match(out, /^\[-10, 0\)\s+15\s/m); // 5 hours a day at −5…−1 °C, 3 days
    const day1 = await run(['--schema', db.schema, '--from', '2026-01-01', '--to', '2026-01-01']);
    // one day: no hour of day seen twice, so no same-hour r, and a warning that says why
    assert.match(day1.stdout, /^temperature\s+1\.000\s+very strong positive\s+n\/a\s+n\/a\s+24\s+2\.000\s+n\/a\s+°C\s*$/m);
    assert.match(day1.stdout, /^humidity\s+-1\.000\s+very strong negative\s+n\/a\s+n\/a\s+24\s/m);
    assert.match(day1.stdout, /^wind speed\s+0\.000\s+none\s+n\/a\s+n\/a\s+24\s/m);
    assert.match(day1.stdout, /^WARNING temperature: r = 1\.000 \(very strong positive\) cannot be told apart from the daily cycle/m);
  });

  test('--chart writes an SVG with both series, the scatter and the fitted line', async () => {
    const file = join(dir, 'day2.svg');
    const r = await run(['--schema', db.schema, '--from', '2026-01-02', '--to', '2026-01-02', '--chart', file, '--json']);
    assert.equal(r.code, 0, r.stderr);
    JSON.parse(r.stdout); // stdout stays pure JSON; the chart notice goes to stderr
    assert.match(r.stderr, /chart written to .*day2\.svg/);
    assert.ok((await stat(file)).size > 1000);
    const svg = await readFile(file, 'utf8');
    assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.match(svg, /<\/svg>\s*$/);
    for (const mark of ['consumption_series_marks', 'temperature_series_marks', 'scatter_points_marks', 'fitted_line_marks']) {
      assert.match(svg, new RegExp(`class="[^"]*\\b${mark}\\b`), mark);
    }
    assert.match(svg, /Pearson's r = -1\.000 over 24 hour\(s\), within the same hour of day n\/a; fitted line: kWh ≈ 100\.00 − 2\.00 × °C/);
  });

  test('--png (and --chart FILE.png) writes a PNG of the chart', async () => {
    const file = join(dir, 'days.png');
    const r = await run(['--schema', db.schema, '--png', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /chart written to .*days\.png/);
    const png = await readFile(file);
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    // IHDR: twice the SVG's size (zoom 2 for sharp text)
    assert.ok(png.readUInt32BE(16) > 1500 && png.readUInt32BE(20) > 1000, `${png.readUInt32BE(16)} × ${png.readUInt32BE(20)}`);
    const viaChart = join(dir, 'via-chart.png');
    assert.equal((await run(['--schema', db.schema, '--chart', viaChart])).code, 0);
    assert.ok((await stat(viaChart)).size > 10_000);
  });

  test('--csv writes every hour with consumption or weather; --csv - prints it instead of the report', async () => {
    const file = join(dir, 'hours.csv');
    const r = await run(['--schema', db.schema, '--csv', file, '--from', '2026-01-04', '--to', '2026-01-04']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Weather and consumption/);
    const lines = (await readFile(file, 'utf8')).split('\r\n');
    assert.equal(lines.pop(), '');
    assert.equal(
      lines[0],
      'window_start_utc,window_end_utc,hour_of_day_utc,consumption_kwh,customers,temperature_c,humidity_pct,pressure_hpa,wind_speed,weather_condition,heating_degree_hours,cooling_degree_hours',
    );
    // day 4: 00:00 and 01:00 consumption only, 05:00–07:00 weather only (40 °C: 18 cooling
    // degree-hours), 10:00 consumption and a half-hour weather window that are not the same window
    assert.deepEqual(lines.slice(1), [
      '2026-01-04T00:00:00.000Z,2026-01-04T01:00:00.000Z,0,1000,1,,,,,,,',
      '2026-01-04T01:00:00.000Z,2026-01-04T02:00:00.000Z,1,1000,1,,,,,,,',
      '2026-01-04T05:00:00.000Z,2026-01-04T06:00:00.000Z,5,,,40,10,990,0,Sunny,0,18',
      '2026-01-04T06:00:00.000Z,2026-01-04T07:00:00.000Z,6,,,40,10,990,0,Sunny,0,18',
      '2026-01-04T07:00:00.000Z,2026-01-04T08:00:00.000Z,7,,,40,10,990,0,Sunny,0,18',
      '2026-01-04T10:00:00.000Z,2026-01-04T10:30:00.000Z,10,,,40,10,990,0,Sunny,0,9',
      '2026-01-04T10:00:00.000Z,2026-01-04T11:00:00.000Z,10,5,1,,,,,,,',
    ]);
    const dash = await run(['--schema', db.schema, '--csv', '-', '--from', '2026-01-01', '--to', '2026-01-01']);
    assert.equal(dash.code, 0, dash.stderr);
    const rows = dash.stdout.trimEnd().split('\r\n');
    assert.equal(rows.length, 25);
    assert.equal(rows[24], '2026-01-01T23:00:00.000Z,2026-01-02T00:00:00.000Z,23,39,3,18,54,1013.25,132.25,Rainy,0,0');
  });

  test('--customer with an unknown id: exit 1, naming some known ids', async () => {
    const r = await run(['--schema', db.schema, '--customer', 'customer_404']);
    assert.equal(r.code, 1);
    assertOneLine(r.stderr, /^report: Unknown customer "customer_404": no consumption rows for it\. Known customers include a, b, c$/);
    assert.equal(r.stdout, '');
  });

  test('the engine\'s --postgres-* flags and POSTGRES_SCHEMA; a flag wins over its variable', async () => {
    const viaEnv = await run(['--json'], { POSTGRES_SCHEMA: db.schema });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
    const flags = ['--postgres-host', PG.host, '--postgres-port', String(PG.port), '--postgres-db', PG.database, '--postgres-user', PG.user, '--postgres-schema', db.schema];
    const viaFlags = await run([...flags, '--json'], { POSTGRES_PORT: '1', POSTGRES_DB: 'nope', POSTGRES_SCHEMA: 'nope' });
    assert.equal(viaFlags.code, 0, viaFlags.stderr);
    assert.equal(viaFlags.stdout, viaEnv.stdout);
    const wrongPort = await run(['--postgres-port', '1', '--postgres-schema', db.schema]);
    assert.equal(wrongPort.code, 1);
    assertOneLine(wrongPort.stderr, /^report: cannot connect to PostgreSQL \(database "test" on 127\.0\.0\.1:1, schema "report_cli_/);
  });

  test('the text report: same-hour r, degree-hours, sensor health', async () => {
    const r = await run(['--schema', db.schema]);
    assert.equal(r.code, 0, r.stderr);
    // days 1–3 repeat T = h − 5 at each hour: temperature only follows the hour of day
    assert.match(r.stdout, /^WARNING wind speed: r = 0\.358 \(moderate positive\), but within the same hour of day wind speed does not vary/m);
    assert.match(r.stdout, /^Heating and cooling degree-hours \(below 18 °C, above 22 °C\), 72 hour\(s\)$/m);
    // T = h − 5 is below 18 °C for 23 hours a day: Σ (23 − h), h = 0…22, is 276 a day
    assert.match(r.stdout, /^heating\s+828\.0\s+69\s+n\/a\s+n\/a$/m);
    assert.match(r.stdout, /^cooling\s+0\.0\s+0\s+n\/a\s+n\/a$/m);
    assert.match(r.stdout, /^Sensor health: 0 sensor window\(s\) from 0 sensor\(s\) in the period$/m);
    assert.match(r.stdout, /^Jumps \(\|z\| ≥ 5 against the sensor's previous 24 windows\): 0 window\(s\)/m);
  });

  test('--version prints the package version and exits 0 without connecting', async () => {
    const r = await run(['--version'], { POSTGRES_PORT: '1' });
    assert.equal(r.code, 0, r.stderr);
    const { version } = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8'));
    assert.equal(r.stdout, `smartgrid-stream report ${version}\n`);
  });

  test('bad option values: one line naming the flag, exit 2, nothing connects', async () => {
    const cases: [string[], RegExp][] = [
      [['--top', '0'], /^report: --top: '0' must be at least 1$/],
      [['--band-width', 'wide'], /^report: --band-width: 'wide' is not a number$/],
      [['--from', '2026-02-30'], /^report: --from: expected an ISO 8601 date/],
      [['--to', 'yesterday'], /^report: --to: expected an ISO 8601 date/],
      [['--from', '2026-01-03', '--to', '2026-01-02T00:00'], /^report: --to: must be after --from/],
      [['--chart', 'out.pdf'], /^report: --chart: expected a file name ending in \.svg or \.png/],
      [['--png', 'out.svg'], /^report: --png: expected a file name ending in \.png/],
      [['--postgres-port', '0'], /^report: --postgres-port: '0' must be between 1 and 65535$/],
      [['--schema', 'a b'], /^report: --schema: 'a b' is not a plain lower-case identifier/],
      [['--colour'], /^report: --colour: unknown option \(see --help\)$/],
      [['--top'], /^report: --top: needs a value$/],
      [['extra'], /^report: arguments: unexpected argument 'extra'/],
    ];
    for (const [args, pattern] of cases) {
      const r = await run(args, { POSTGRES_PORT: '1' });
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assertOneLine(r.stderr, pattern);
      assert.equal(r.stdout, '');
    }
    const port = await run(['--schema', db.schema], { POSTGRES_PORT: 'fivefourthreetwo' });
    assert.equal(port.code, 2);
    assertOneLine(port.stderr, /^report: POSTGRES_PORT: 'fivefourthreetwo' is not a whole number$/);
  });

  test('a period outside the data names the flag', async () => {
    const r = await run(['--schema', db.schema, '--from', '2027-01-01']);
    assert.equal(r.code, 2);
    assertOneLine(r.stderr, /^report: --from: the period is empty: the data runs from 2026-01-01T00:00:00\.000Z/);
  });

  test('--help prints the usage and exits 0', async () => {
    const r = await run(['--help'], { POSTGRES_PORT: '1' });
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^Usage: npm run report -- \[options\]/);
    assert.match(r.stdout, /--band-width DEGREES/);
  });
});

describe('npm run report before there is data', () => {
  test('no tables: "No data yet", exit 1, no stack trace', async (t) => {
    const db = await createSchema('report_cli_none');
    t.after(() => db.cleanup());
    const r = await run(['--schema', db.schema]);
    assert.equal(r.code, 1);
    assertOneLine(r.stderr, /^report: No data yet: database "test" on .*schema "report_cli_none_\w+" has no table/);
    assert.equal(r.stdout, '');
  });

  test('PGOPTIONS search_path is honoured when --schema is not given', async (t) => {
    const db = await createSchema('report_cli_pgopt');
    t.after(() => db.cleanup());
    await applySchemaAndViews(db.client);
    const r = await run([], { PGOPTIONS: `-c search_path=${db.schema}` });
    assert.equal(r.code, 1);
    assertOneLine(r.stderr, /^report: No data yet: consumption_aggregates_realtime and weather_aggregates_realtime are empty/);
  });

  test('tables without the views: says how to create them, exit 1', async (t) => {
    const db = await createSchema('report_cli_noviews');
    t.after(() => db.cleanup());
    await applySchemaAndViews(db.client, false);
    const r = await run(['--schema', db.schema]);
    assert.equal(r.code, 1);
    assertOneLine(r.stderr, /^report: The report views are missing .*sql\/views\.sql/);
  });

  test('PostgreSQL unreachable: one line naming where, exit 1', async () => {
    const r = await run(['--schema', 'x'], { POSTGRES_PORT: '1' });
    assert.equal(r.code, 1);
    assertOneLine(r.stderr, /^report: cannot connect to PostgreSQL \(database "test" on 127\.0\.0\.1:1, schema "x"\).*ECONNREFUSED/);
  });
});

