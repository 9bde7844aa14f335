/** `nbpy bus tail`: print every record on the bus as one JSON object per line. */
import type { Command } from 'commander';
import { existsSync, writeFileSync } from 'node:fs';
import { BusSubscriber } from '../bus/subscriber.js';
import { curveClientKeys, generateCurveKeyPair, isCurveKey, type CurveClientKeys } from '../bus/curve.js';
import { configPath, intOption, loadFromCommand } from './common.js';

export function registerBus(program: Command): void {
  const bus = program.command('bus').description('look at the ZeroMQ bus');
  bus
    .command('tail')
    .description('print each record received as one JSON object per line')
    .requiredOption('--connect <endpoint...>', 'publisher endpoint(s), e.g. tcp://127.0.0.1:5558')
    .option('--topic <prefix...>', 'topic prefix(es) to subscribe to (default: everything, heartbeats included)')
    .option('--count <n>', 'exit after printing n records', intOption('--count'))
    .option('--curve-server-key <z85>', "the publishers' CURVE public key (default: from the config's bus.curve when enabled)")
    .action(async (opts: { connect: string[]; topic?: string[]; count?: number; curveServerKey?: string }, cmd: Command) => {
      for (const e of opts.connect)
        if (!/^(tcp|ipc|inproc):\/\/.+/.test(e)) throw new Error(`--connect: expected an endpoint like tcp://HOST:PORT, got "${e}"`);
      let curve: CurveClientKeys | undefined;
      if (opts.curveServerKey) {
        if (!isCurveKey(opts.curveServerKey))
          throw new Error('--curve-server-key: expected a 40-character Z85 key (see `nbpy bus keygen`)');
        curve = { serverPublicKey: opts.curveServerKey, ...generateCurveKeyPair() };
      } else if (existsSync(configPath(cmd))) curve = curveClientKeys(loadFromCommand(cmd).config.bus.curve);
      const sub = new BusSubscriber({
        curve,
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
  bus
    .command('keygen')
    .description('make a CURVE key pair for bus.curve (publishers hold both keys, readers the public key)')
    .option('--out <file>', 'write {"publicKey","secretKey"} to this file (mode 0600) and print only the public key')
    .action((opts: { out?: string }) => {
      const pair = generateCurveKeyPair();
      if (!opts.out) {
        // Asked for on the terminal: the caller puts it where it belongs (env, secret store).
        process.stdout.write(`${JSON.stringify(pair)}\n`);
        return;
      }
      writeFileSync(opts.out, `${JSON.stringify(pair, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
      process.stdout.write(
        `wrote ${opts.out} (mode 0600). Public key (give it to subscriber hosts as NBPY_CURVE_SERVER_PUBLIC_KEY):\n${pair.publicKey}\n`,
      );
    });
}
