/** The `nbpy` command tree. Each command group lives in its own file and registers itself here. */
import { Command, CommanderError } from 'commander';
import { UsageError } from '../core/errors.js';
import { DEFAULT_CONFIG, EXIT } from './common.js';

type Register = (program: Command) => void;

/**
 * Every command group: the top-level command names it registers, and how to load it. A process
 * loads only the group its command belongs to (a publisher does not load DuckDB, Grafana or the
 * console), which cuts start-up CPU for each of the many processes `nbpy start` runs; `--help`,
 * no command or an unknown one load them all. cli-groups.test.ts checks the names against what
 * each group really registers.
 */
export const COMMAND_GROUPS: readonly { names: readonly string[]; load: () => Promise<Register> }[] = [
  { names: ['config'], load: async () => (await import('./config.js')).registerConfig },
  { names: ['grafana'], load: async () => (await import('./grafana.js')).registerGrafana },
  { names: ['bus'], load: async () => (await import('./bus.js')).registerBus },
  { names: ['health'], load: async () => (await import('./health.js')).registerHealth },
  { names: ['validate'], load: async () => (await import('./validate.js')).registerValidate },
  { names: ['publisher'], load: async () => (await import('./publisher.js')).registerPublisher },
  { names: ['replay'], load: async () => (await import('./replay.js')).registerReplay },
  { names: ['start', 'stop', 'restart', 'status', 'services'], load: async () => (await import('./system.js')).registerSystem },
  { names: ['console'], load: async () => (await import('./console.js')).registerConsole },
  { names: ['subscriber'], load: async () => (await import('./subscriber.js')).registerSubscriber },
  { names: ['retention'], load: async () => (await import('./retention.js')).registerRetention },
];

/** The command named in `argv` (after node and the script), skipping the global options. */
export function commandOf(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-c' || a === '--config') {
      i++;
      continue;
    }
    if (a.startsWith('-')) continue;
    return a;
  }
  return undefined;
}

/** The program with the command groups `argv` needs (all of them when `argv` is not given). */
export async function buildProgram(argv?: readonly string[]): Promise<Command> {
  const program = new Command('nbpy')
    .description('market-data capture and monitoring: venue publishers -> ZeroMQ bus -> InfluxDB / embedded store')
    .option('-c, --config <file>', 'configuration file', DEFAULT_CONFIG)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  const cmd = argv ? commandOf(argv.slice(2)) : undefined;
  const one = cmd === undefined ? undefined : COMMAND_GROUPS.find((g) => g.names.includes(cmd));
  for (const g of one ? [one] : COMMAND_GROUPS) (await g.load())(program);
  for (const c of program.commands) c.exitOverride();
  return program;
}

/** Run the CLI; resolves to the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = await buildProgram(argv);
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.help' || e.code === 'commander.version') return EXIT.ok;
      return EXIT.usage; // commander already printed the message
    }
    if (e instanceof UsageError) {
      process.stderr.write(`${e.message}\n`);
      return EXIT.usage;
    }
    process.stderr.write(`nbpy: ${(e as Error).message}\n`);
    return EXIT.failed;
  }
}
