/** The `nbpy` command tree. Each command group lives in its own file and registers itself here. */
import { Command, CommanderError } from 'commander';
import { UsageError } from '../core/errors.js';
import { DEFAULT_CONFIG, EXIT } from './common.js';
import { registerConfig } from './config.js';
import { registerGrafana } from './grafana.js';
import { registerBus } from './bus.js';
import { registerHealth } from './health.js';
import { registerValidate } from './validate.js';
import { registerPublisher } from './publisher.js';
import { registerReplay } from './replay.js';
import { registerSystem } from './system.js';
import { registerConsole } from './console.js';
import { registerSubscriber } from './subscriber.js';
import { registerRetention } from './retention.js';

export function buildProgram(): Command {
  const program = new Command('nbpy')
    .description('market-data capture and monitoring: venue publishers -> ZeroMQ bus -> InfluxDB / embedded store')
    .option('-c, --config <file>', 'configuration file', DEFAULT_CONFIG)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerConfig(program);
  registerGrafana(program);
  registerBus(program);
  registerHealth(program);
  registerValidate(program);
  registerPublisher(program);
  registerReplay(program);
  registerSystem(program);
  registerConsole(program);
  registerSubscriber(program);
  registerRetention(program);
  for (const c of program.commands) c.exitOverride();
  return program;
}

/** Run the CLI; resolves to the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
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
