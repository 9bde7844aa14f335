/**
 * The benchmark harness: `npm run bench -- <name> [options]`. Each benchmark prints its figures and,
 * as its last line, `bench <name> key=value ...`. Benchmarks are commands, never timed tests.
 *   bus     records/s over the ZeroMQ bus between two processes, and records lost
 *   parse   venue messages parsed, applied and normalised per second on one core
 *   ingest  records/s from the bus into a private InfluxDB, and records lost
 *   e2e     the whole system via `nbpy start`: rates, loss, receive-to-queryable latency, CPU, RSS, start/stop
 */
import { exitForUsage } from './args.js';

const [name, ...args] = process.argv.slice(2);

const benches: Record<string, () => Promise<string>> = {
  bus: async () => (await import('./bus.js')).run(args),
  parse: async () => (await import('./parse.js')).run(args),
  ingest: async () => (await import('./ingest.js')).run(args),
  e2e: async () => (await import('./e2e.js')).run(args),
};

const list = `usage: npm run bench -- <${Object.keys(benches).join('|')}> [options]   (npm run bench -- <name> --help: its options)`;
if (name === '--help' || name === '-h' || name === 'help') {
  console.log(list);
  process.exit(0);
}
const bench = name ? benches[name] : undefined;
if (!bench) {
  console.error(name ? `npm run bench: no benchmark ${JSON.stringify(name)}\n${list}` : list);
  process.exit(2);
}
let last: string;
try {
  last = await bench();
} catch (e) {
  exitForUsage(e);
}
console.log(last);
process.exit(0);
