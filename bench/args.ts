/**
 * Options of the benchmark commands (`npm run bench -- <name>`, `npm run soak`), on node's own
 * `util.parseArgs` in strict mode: `--help` prints the usage, an unknown option or a bad value is a
 * usage error (exit 2) naming the option and what it takes, instead of being ignored while a
 * benchmark runs for minutes with its defaults. Pure (arguments in, values or an error out), but for
 * exitForUsage, which a command's top level calls with what it caught.
 */
import { parseArgs } from 'node:util';

export interface BenchOption {
  /** `string` takes a value; `boolean` is a flag. */
  type: 'string' | 'boolean';
  /** The value's shape in the usage line (`N`, `DIR`, `influxdb|embedded`). */
  value?: string;
  help: string;
  /** Shown in the usage as the default; applied by the caller. */
  default?: string;
}

export type BenchOptions = Record<string, BenchOption>;

/** Thrown for `--help`: the usage is in `message`; print it and exit 0. */
export class BenchHelp extends Error {}

/** A usage error: print `message` and exit 2. */
export class BenchUsageError extends Error {}

export function usage(command: string, summary: string, spec: BenchOptions): string {
  const lines = Object.entries(spec).map(([name, o]) => {
    const left = `  --${name}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`;
    return `${left.padEnd(30)} ${o.help}${o.default !== undefined ? ` (default ${o.default})` : ''}`;
  });
  return [`usage: ${command} [options]`, '', summary, '', 'options:', ...lines, `  ${'--help'.padEnd(28)} this text`].join('\n');
}

export interface ParsedBenchArgs {
  values: Record<string, string | boolean | undefined>;
  /** A string option's value, or `def`. */
  str(name: string, def?: string): string | undefined;
  /** A flag. */
  flag(name: string): boolean;
  /** A numeric option: a finite number >= `min` (default 0), or `def` when absent. */
  num(name: string, def: number, min?: number): number;
  /** A numeric option, undefined when absent. */
  optNum(name: string, min?: number): number | undefined;
  /** One of `choices`, or `def`. */
  oneOf<T extends string>(name: string, choices: readonly T[], def: T): T;
}

/** Parse `args` against `spec`; throws BenchHelp for `--help` and BenchUsageError for anything not in `spec`. */
export function parseBenchArgs(command: string, summary: string, spec: BenchOptions, args: string[]): ParsedBenchArgs {
  const text = usage(command, summary, spec);
  const options: Record<string, { type: 'string' | 'boolean' }> = { help: { type: 'boolean' } };
  for (const [name, o] of Object.entries(spec)) options[name] = { type: o.type };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args, options, strict: true, allowPositionals: false }));
  } catch (e) {
    throw new BenchUsageError(`${command}: ${(e as Error).message.split('\n')[0]}; see ${command} --help`);
  }
  if (values.help) throw new BenchHelp(text);
  const bad = (name: string, want: string, got: string) =>
    new BenchUsageError(`${command}: --${name}: expected ${want}, got ${JSON.stringify(got)}`);
  const optNum = (name: string, min = 0): number | undefined => {
    const v = values[name];
    if (v === undefined) return undefined;
    const n = Number(v);
    if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n) || n < min) throw bad(name, `a number >= ${min}`, String(v));
    return n;
  };
  return {
    values,
    str: (name, def) => (values[name] as string | undefined) ?? def,
    flag: (name) => values[name] === true,
    num: (name, def, min = 0) => optNum(name, min) ?? def,
    optNum,
    oneOf: (name, choices, def) => {
      const v = values[name];
      if (v === undefined) return def;
      if (!choices.includes(v as never)) throw bad(name, choices.join('|'), String(v));
      return v as (typeof choices)[number];
    },
  };
}

/** At a command's top level: BenchHelp is printed (exit 0), BenchUsageError too (exit 2); anything else is rethrown. */
export function exitForUsage(e: unknown): never {
  if (e instanceof BenchHelp) {
    console.log(e.message);
    process.exit(0);
  }
  if (e instanceof BenchUsageError) {
    console.error(e.message);
    process.exit(2);
  }
  throw e;
}
