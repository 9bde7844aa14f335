/**
 * `nbpy console`: run the built-in live web console in the foreground and print its URL. This entry
 * file wires the bus to the console (the console itself does not import the bus): `openConsoleBus`
 * builds the SUB socket and hands it to `startConsole`, which owns and closes it.
 */
import type { Command } from 'commander';
import { curveClientKeys } from '../bus/curve.js';
import { BusSubscriber, tcpEndpoint } from '../bus/subscriber.js';
import type { Config } from '../config/schema.js';
import { startConsole, type ConsoleBus } from '../console/server.js';
import { signalReady } from '../supervisor/child.js';
import { intOption, loadFromCommand, printJson, wantsJson } from './common.js';

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export interface ConsoleBusOptions {
  /** Extra bus endpoints to read besides the enabled publishers' (tests, ad-hoc publishers). */
  extraEndpoints?: string[];
  /** Where the CURVE keys named by config.bus.curve are read (default process.env). */
  env?: NodeJS.ProcessEnv;
  log?: (msg: string, obj?: Record<string, unknown>) => void;
}

/**
 * The console's bus reader: one SUB socket on every enabled publisher (plus `extraEndpoints`), all
 * topics and heartbeats, CURVE keys and maxMessageBytes from the config. Give it to `startConsole`,
 * which closes it.
 */
export function openConsoleBus(config: Config, opts: ConsoleBusOptions = {}): ConsoleBus {
  const log = opts.log ?? (() => {});
  const endpoints = [
    ...new Set([
      ...config.publishers.filter((p) => p.enabled).map((p) => tcpEndpoint(p.connectHost, p.port)),
      ...(opts.extraEndpoints ?? []),
    ]),
  ];
  const sub = new BusSubscriber({
    endpoints,
    topics: [''],
    curve: curveClientKeys(config.bus.curve, opts.env ?? process.env),
    maxMessageBytes: config.bus.maxMessageBytes,
    onDecodeError: (err, hex) => log('undecodable bus payload skipped', { error: err.message, sample: hex }),
  });
  return {
    endpoints,
    batches: () => sub.batches(),
    close: () => sub.close(),
    stats: () => ({ ...sub.stats }),
  };
}

export function registerConsole(program: Command): void {
  program
    .command('console')
    .description('serve the live web console (charts, topics, services) on config.console.host:port until Ctrl-C')
    .option('--host <host>', 'address to bind (default: config console.host, 127.0.0.1)')
    .option('--port <port>', 'port to listen on (default: config console.port; 0 = any free port)', intOption('--port', 0))
    .option('--json', 'print the URL as JSON ({"url": ...}) instead of text')
    .action(async (opts: { host?: string; port?: number }, cmd: Command) => {
      const { config, path } = loadFromCommand(cmd);
      const host = opts.host ?? config.console.host;
      const log = (msg: string, obj?: Record<string, unknown>) =>
        process.stderr.write(`nbpy console: ${msg}${obj ? ` ${JSON.stringify(obj)}` : ''}\n`);
      const handle = await startConsole({ config, host, port: opts.port, log, bus: openConsoleBus(config, { log }) });
      if (!LOOPBACK.has(host))
        process.stderr.write(`nbpy console: warning: listening on ${host}, not loopback: anyone who can reach it sees the live feed\n`);
      // Under the service manager: ready once the page is served.
      signalReady();
      if (wantsJson(cmd)) printJson({ url: handle.url, config: path });
      else process.stdout.write(`nbpy console: ${handle.url} (config ${path}; Ctrl-C to stop)\n`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await handle.close();
    });
}
