/** `npm run bench -- bus`: records/s over the bus between two OS processes, and records lost. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { BusSubscriber } from '../src/bus/subscriber.js';
import { SequenceTracker } from '../src/core/sequence.js';
import { freePort } from '../test/support/ports.js';
import { parseBenchArgs } from './args.js';

export async function run(args: string[]): Promise<string> {
  const a = parseBenchArgs(
    'npm run bench -- bus',
    'Records/s over the ZeroMQ bus between two OS processes (msgpack, PUB/SUB), and records lost.',
    { records: { type: 'string', value: 'N', help: 'records to send', default: '3000000' } },
    args,
  );
  const count = a.num('records', 3_000_000, 1);
  const port = await freePort();
  const endpoint = `tcp://127.0.0.1:${port}`;
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL('./bus-child.ts', import.meta.url)), endpoint, String(count)],
    {
      stdio: ['pipe', 'inherit', 'inherit'],
    },
  );
  const exited = new Promise((r) => child.once('exit', r));
  const sub = new BusSubscriber({ endpoints: [endpoint], topics: ['bench.'] });
  const seq = new SequenceTracker();
  let received = 0;
  let started = 0;
  let lastAt = 0;
  let go = false;
  let lastSeq = 0;
  let idleTicks = 0;
  let lastReceived = -1;
  // Progress each second; if nothing more arrives for 3 s after data started, what is missing is lost.
  const progress = setInterval(() => {
    process.stderr.write(`bus: ${received.toLocaleString('en')} records received\n`);
    idleTicks = received === lastReceived && received > 0 ? idleTicks + 1 : 0;
    lastReceived = received;
    if (idleTicks >= 3) sub.close();
  }, 1000);
  for await (const batch of sub.batches()) {
    for (const r of batch) {
      if (r.kind === 'heartbeat') {
        if (!go) {
          go = true;
          child.stdin.write('go\n');
        } else if (r.seq === count) {
          lastSeq = r.seq;
        }
        continue;
      }
      if (received === 0) started = performance.now();
      received++;
      seq.observe(r);
      lastAt = performance.now();
    }
    if (lastSeq === count || received === count) break;
  }
  clearInterval(progress);
  sub.close();
  await exited;
  const seconds = (lastAt - started) / 1000;
  const rate = Math.round(received / seconds);
  const lost = count - received;
  console.log(
    `bus: ${received.toLocaleString('en')} of ${count.toLocaleString('en')} records in ${seconds.toFixed(2)} s between two processes (${rate.toLocaleString('en')} records/s), ${seq.missing} missing by sequence number`,
  );
  return `bench bus records_per_s=${rate} lost=${lost}`;
}
