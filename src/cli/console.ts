/** `nbpy console`: run the built-in live web console in the foreground and print its URL. */
import type { Command } from 'commander';
import { startConsole } from '../console/server.js';
import { signalReady } from '../supervisor/child.js';
import { intOption, loadFromCommand, printJson, wantsJson } from './common.js';

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

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
      const handle = await startConsole({
        config,
        host,
        port: opts.port,
        log: (msg, obj) => process.stderr.write(`nbpy console: ${msg}${obj ? ` ${JSON.stringify(obj)}` : ''}\n`),
      });
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
