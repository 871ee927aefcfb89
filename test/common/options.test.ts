/** The options kit every command-line tool uses (src/common/options.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  bool,
  brokers,
  bytes,
  ConfigError,
  duration,
  hostName,
  infoRequest,
  int,
  InvalidValue,
  number,
  oneOf,
  opt,
  option,
  optional,
  optionsHelp,
  optionsOf,
  parseArgv,
  parseDuration,
  readConfig,
  text,
  toggle,
  topicName,
  type Parser,
  type Reader,
} from '../../src/common/options.js';

/** The message a parser refuses `raw` with. */
function refusal<T>(parse: Parser<T>, raw: string): string {
  try {
    parse(raw);
  } catch (e) {
    assert.ok(e instanceof InvalidValue, `${raw}: ${String(e)}`);
    assert.equal(e.code, 'CONFIG_INVALID');
    return e.message;
  }
  return assert.fail(`'${raw}' was accepted`);
}

test('durations: units, the unit of a bare number, whole milliseconds, bounds', () => {
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration(' 1.5h '), 5_400_000);
  assert.equal(parseDuration('2min'), 120_000);
  assert.equal(parseDuration('42'), 42, 'a bare number is milliseconds by default');
  assert.equal(parseDuration('42', { bare: 's' }), 42_000);
  assert.match(refusal((r) => parseDuration(r, { bare: null }), '42'), /^'42' is not a duration/);
  assert.match(refusal(parseDuration, '5 weeks'), /^'5 weeks' is not a duration \(examples: 500ms, 10s, 5m, 1h\)$/);
  assert.match(refusal(parseDuration, '1.5ms'), /whole number of milliseconds/);
  assert.equal(parseDuration('0.5ms', { whole: false }), 0.5);
  assert.equal(refusal(duration(1000), '10ms'), "'10ms' must be between 1000 ms and 31536000000 ms");
  assert.equal(refusal(duration(1, Infinity, { bare: 's' }), '0'), "'0' must be at least 1 ms");
  assert.equal(duration(0, 60_000)('1m'), 60_000);
});

test('numbers: whole numbers with separators, decimals, sizes; the range is in the message', () => {
  assert.equal(int(1, 256)(' 7 '), 7);
  assert.equal(int(1)('1_000_000'), 1_000_000);
  assert.equal(int(-10, 10)('-3'), -3);
  assert.ok(Object.is(int()('-0'), 0));
  assert.equal(refusal(int(1, 256), '0'), "'0' must be between 1 and 256");
  assert.equal(refusal(int(1), '0'), "'0' must be at least 1");
  for (const raw of ['five', '1.5', '1e3', '', '0x10', '1__0']) assert.equal(refusal(int(), raw), `'${raw}' is not a whole number`);
  assert.equal(number(0, 1)('0.25'), 0.25);
  assert.equal(number()('-1.5e3'), -1500);
  assert.equal(refusal(number(0, Infinity, true), '0'), "'0' must be more than 0");
  assert.equal(refusal(number(0, 100_000), '1e9'), "'1e9' must be at least 0 and at most 100000");
  for (const raw of ['wide', 'Infinity', 'NaN', '', '0x10']) assert.equal(refusal(number(), raw), `'${raw}' is not a number`);
  assert.equal(bytes(1024, 1 << 30)('512kb'), 524_288);
  assert.equal(bytes(1024, 1 << 30)('2MB'), 2_097_152);
  assert.match(refusal(bytes(1024, 2048), '1mb'), /must be between 1024 and 2048 bytes/);
});

test('words: booleans, choices, brokers, topic and host names, text', () => {
  for (const t of ['true', 'YES', 'on', '1', '']) assert.equal(bool(t), true, t);
  for (const f of ['false', 'No', 'off', '0']) assert.equal(bool(f), false, f);
  assert.equal(refusal(bool, 'maybe'), "'maybe' is not true or false");
  assert.equal(oneOf('wire', 'kafkajs')('wire'), 'wire');
  assert.equal(refusal(oneOf('earliest', 'latest'), 'middle'), "'middle' must be one of earliest, latest");
  assert.deepEqual(brokers(' a:1, b.example:9093,'), ['a:1', 'b.example:9093']);
  for (const raw of ['kafka', 'http://k:9092', 'k:', 'k:123456']) assert.match(refusal(brokers, raw), /is not host:port/, raw);
  assert.match(refusal(brokers, ' , '), /at least one broker/);
  assert.equal(topicName('smartgrid-weather-data'), 'smartgrid-weather-data');
  for (const raw of ['a topic', '.', '..', 'x'.repeat(250), '']) assert.match(refusal(topicName, raw), /is not a valid Kafka topic name/, raw);
  for (const h of ['0.0.0.0', '::', 'weather.internal', 'localhost']) assert.equal(hostName(h), h);
  for (const h of ['a host', 'http://0.0.0.0', '-x', '']) assert.match(refusal(hostName, h), /is not an IP address or a host name/, h);
  assert.equal(text('  x '), 'x');
  assert.equal(refusal(text, '  '), 'must not be empty');
});

const spec = (read: Reader) => ({
  port: read(opt('--port', 'APP_PORT', '80', int(1, 65535), 'port')),
  name: read(optional({ flag: '--name', parse: text, help: 'a name' })),
  verbose: read(toggle('--verbose', 'say more')),
  cache: read(opt('--cache', 'APP_CACHE', 'true', bool, 'use the cache')),
  mode: read(option({ flag: '--mode', aliases: ['--old-mode'], env: 'APP_MODE', def: 'fast', parse: oneOf('fast', 'safe'), help: 'mode' })),
  token: read.sourced(option({ env: 'APP_TOKEN', def: '', parse: (raw) => raw, help: 'token' })),
});

test('reading: a flag wins over its variable, which wins over the default; the type is the table\'s', () => {
  const none = readConfig(spec, [], {}, { emptyEnv: 'value' });
  // The configuration's type comes from the table: a wrong field type would not compile.
  const typed: { port: number; name: string | undefined; verbose: boolean; cache: boolean; mode: 'fast' | 'safe' } = none;
  assert.deepEqual(typed, { port: 80, name: undefined, verbose: false, cache: true, mode: 'fast', token: { value: '', raw: undefined, source: undefined } });
  const env = { APP_PORT: '81', APP_MODE: 'safe', APP_TOKEN: 't0k' };
  assert.deepEqual(readConfig(spec, [], env, { emptyEnv: 'value' }), { ...none, port: 81, mode: 'safe', token: { value: 't0k', raw: 't0k', source: 'APP_TOKEN' } });
  const c = readConfig(spec, ['--port=82', '--name', ' n ', '--verbose', '--no-cache', '--old-mode', 'fast'], env, { emptyEnv: 'value' });
  assert.deepEqual([c.port, c.name, c.verbose, c.cache, c.mode], [82, 'n', true, false, 'fast']);
  assert.equal(readConfig(spec, ['--cache=off', '--port', '1', '--port', '2'], {}, { emptyEnv: 'value' }).port, 2, 'the last flag wins');
  assert.equal(readConfig(spec, ['--cache=off'], {}, { emptyEnv: 'value' }).cache, false);
});

test('reading: an empty variable is a value for the engine and unset for the other tools', () => {
  assert.throws(() => readConfig(spec, [], { APP_PORT: '' }, { emptyEnv: 'value' }), (e: unknown) => e instanceof ConfigError && e.message === "APP_PORT: '' is not a whole number");
  assert.equal(readConfig(spec, [], { APP_PORT: '' }, { emptyEnv: 'unset' }).port, 80);
  assert.equal(readConfig(spec, [], { APP_PORT: ' 90 ' }, { emptyEnv: 'unset' }).port, 90);
});

test('reading: every error is a ConfigError naming the flag as written or the variable', () => {
  const bad = (argv: string[], env: Record<string, string>, setting: string, message: RegExp) =>
    assert.throws(
      () => readConfig(spec, argv, env, { emptyEnv: 'value' }),
      (e: unknown) => e instanceof ConfigError && e.code === 'CONFIG_INVALID' && e.setting === setting && message.test(e.message),
      `${argv.join(' ')} ${JSON.stringify(env)}`,
    );
  bad(['--port', '0'], {}, '--port', /^--port: '0' must be between 1 and 65535$/);
  bad([], { APP_PORT: 'x' }, 'APP_PORT', /^APP_PORT: 'x' is not a whole number$/);
  bad(['--old-mode', 'slow'], {}, '--old-mode', /must be one of fast, safe/);
  bad(['--nope'], {}, '--nope', /^--nope: unknown option \(see --help\)$/);
  bad(['--no-port'], {}, '--no-port', /unknown option/);
  bad(['--name'], {}, '--name', /^--name: needs a value$/);
  bad(['extra'], {}, 'arguments', /^arguments: unexpected argument 'extra'/);
  bad(['--token', 'x'], {}, '--token', /unknown option/);
  const custom = (read: Reader) => read(optional({ flag: '--at', parse: (raw): number => { throw new ConfigError('--at', `odd time "${raw}"`); }, help: '' }));
  assert.throws(() => readConfig(custom, ['--at', 'x'], {}, { emptyEnv: 'unset' }), /^ConfigError: --at: odd time "x"$/);
});

test('--help and --version anywhere win; --help, -h and --version are not options', () => {
  assert.equal(infoRequest(['--port', '1', '--help']), 'help');
  assert.equal(infoRequest(['-h', '--version']), 'help');
  assert.equal(infoRequest(['--version']), 'version');
  assert.equal(infoRequest(['--port', '1']), null);
  assert.equal(parseArgv(['--help', '-h', '--version'], optionsOf(spec)).size, 0);
});

test('the option list is the table in order; a flag or variable defined twice is refused; help shows flag, variable and default', () => {
  const list = optionsOf(spec);
  assert.deepEqual(list.map((o) => o.flag ?? o.env), ['--port', '--name', '--verbose', '--cache', '--mode', 'APP_TOKEN']);
  assert.throws(() => optionsOf((read: Reader) => [read(toggle('--x', '')), read(toggle('--x', ''))]), /option --x is defined twice/);
  assert.throws(() => optionsOf((read: Reader) => [read(opt('--a', 'E', 'x', text, '')), read(opt('--b', 'E', 'x', text, ''))]), /option E is defined twice/);
  assert.deepEqual(optionsHelp(list), [
    '  --port <value>                     port',
    '                                     env APP_PORT, default 80',
    '  --name <value>                     a name',
    '  --verbose                          say more',
    '                                     default false',
    '  --cache <value>                    use the cache',
    '                                     env APP_CACHE, default true',
    '  --mode <value>                     mode',
    '                                     env APP_MODE, default fast',
    '  APP_TOKEN                          token',
    '                                     default (empty)',
  ]);
});
