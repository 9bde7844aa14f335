/** `nbpy bus tail`: print every record on the bus as one JSON object per line. */
import type { Command } from 'commander';
import { BusSubscriber } from '../bus/subscriber.js';
import { intOption } from './common.js';

export function registerBus(program: Command): void {
  const bus = program.command('bus').description('look at the ZeroMQ bus');
  bus
    .command('tail')
    .description('print each record received as one JSON object per line')
    .requiredOption('--connect <endpoint...>', 'publisher endpoint(s), e.g. tcp://127.0.0.1:5558')
    .option('--topic <prefix...>', 'topic prefix(es) to subscribe to (default: everything, heartbeats included)')
    .option('--count <n>', 'exit after printing n records', intOption('--count'))
    .action(async (opts: { connect: string[]; topic?: string[]; count?: number }) => {
      for (const e of opts.connect)
        if (!/^(tcp|ipc|inproc):\/\/.+/.test(e)) throw new Error(`--connect: expected an endpoint like tcp://HOST:PORT, got "${e}"`);
      const sub = new BusSubscriber({
        endpoints: opts.connect,
        topics: opts.topic ?? [''],
        heartbeats: false,
        onDecodeError: (err, hex) =>
          process.stderr.write(`nbpy bus tail: undecodable payload skipped (${err.message}); first bytes ${hex}\n`),
      });
      const stop = () => sub.close();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      let printed = 0;
      outer: for await (const batch of sub.batches()) {
        for (const r of batch) {
          process.stdout.write(`${JSON.stringify(r)}\n`);
          if (opts.count !== undefined && ++printed >= opts.count) break outer;
        }
      }
      sub.close();
      if (sub.stats.decode_errors) process.stderr.write(`nbpy bus tail: ${sub.stats.decode_errors} undecodable payload(s) skipped\n`);
    });
}
