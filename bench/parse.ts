/**
 * `npm run bench -- parse`: venue messages parsed, applied to state and normalised per second on one
 * core, from the recorded fixtures (each venue's own benchmark in bench/parse-<venue>.ts).
 */
import { run as kraken } from './parse-kraken.js';
import { run as oanda } from './parse-oanda.js';
import { run as betfair } from './parse-betfair.js';
import { parseBenchArgs } from './args.js';

export async function run(args: string[]): Promise<string> {
  parseBenchArgs(
    'npm run bench -- parse',
    'Venue messages parsed, applied and normalised per second on one core (Kraken, OANDA, Betfair).',
    {},
    args,
  );
  const k = await kraken();
  console.log(
    `kraken: ${k.kraken_book_per_s.toLocaleString('en')} book updates/s, every checksum verified (${k.checksums_verified.toLocaleString('en')} verified)`,
  );
  const o = await oanda();
  console.log(`oanda: ${o.oanda_per_s.toLocaleString('en')} prices/s`);
  const b = await betfair();
  console.log(`betfair: ${b.betfair_per_s.toLocaleString('en')} market changes/s (${b.records_per_s.toLocaleString('en')} records/s)`);
  return `bench parse kraken_book_per_s=${k.kraken_book_per_s} oanda_per_s=${o.oanda_per_s} betfair_per_s=${b.betfair_per_s}`;
}
