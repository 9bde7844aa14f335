/**
 * `nbpy replay --venue kraken|oanda|betfair --input <file> [--speed N|max] --output -|bus`: a recording
 * through the same parsers and state as live data. `-` prints the normalised records as JSON Lines
 * (the fields of the wire format); `bus` publishes them as a publisher would.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { UsageError } from '../core/errors.js';
import { systemClock } from '../core/clock.js';
import { WIRE_FORMAT_VERSION, type Draft } from '../core/records.js';
import { BusPublisher } from '../bus/publisher.js';
import { loadRecording } from '../venues/recording.js';
import { openReplaySession, REPLAY_VENUES, type ReplayVenue } from './venue-source.js';

const DEFAULT_TOPIC: Record<ReplayVenue, string> = { kraken: 'kraken.replay', oanda: 'oanda.replay', betfair: 'betfair.replay' };

export function registerReplay(program: Command): void {
  program
    .command('replay')
    .description('replay a recorded venue session through the real parsers and state')
    .requiredOption('--venue <venue>', `venue of the recording: ${REPLAY_VENUES.join('|')}`)
    .requiredOption('--input <file>', 'recording: .jsonl (one raw message per line, optional .recv_ts sidecar) or nbpy .jsonl.gz')
    .option('--speed <n|max>', 'pace: 1 = as recorded, 10 = ten times faster, max = as fast as possible', 'max')
    .option('--output <target>', '"-" prints JSON Lines on stdout; "bus" publishes on --bind', '-')
    .option('--bind <endpoint>', 'with --output bus: the PUB endpoint to bind', 'tcp://127.0.0.1:5599')
    .option('--topic <topic>', 'with --output bus: the topic (default <venue>.replay)')
    .option('--levels <n>', 'book/ladder levels per side in depth records', '10')
    .action(async (opts: { venue: string; input: string; speed: string; output: string; bind: string; topic?: string; levels: string }) => {
      if (!(REPLAY_VENUES as readonly string[]).includes(opts.venue))
        throw new UsageError(`--venue: expected one of ${REPLAY_VENUES.join(', ')}, got "${opts.venue}"`);
      const venue = opts.venue as ReplayVenue;
      if (!existsSync(opts.input)) throw new UsageError(`--input: no such file "${opts.input}"`);
      const speed = opts.speed === 'max' ? 0 : Number(opts.speed);
      if (!Number.isFinite(speed) || speed < 0) throw new UsageError(`--speed: expected a positive number or max, got "${opts.speed}"`);
      if (opts.output !== '-' && opts.output !== 'bus') throw new UsageError(`--output: expected - or bus, got "${opts.output}"`);
      const levels = Number(opts.levels);
      const topic = opts.topic ?? DEFAULT_TOPIC[venue];
      const frames = loadRecording(opts.input);
      const session = openReplaySession(venue, levels);
      const pub = opts.output === 'bus' ? await BusPublisher.bind({ endpoint: opts.bind, publisher: 'replay', venue, topic }) : undefined;
      // For stdout the records get the same bus fields a publisher stamps.
      const sessionId = randomUUID();
      let seq = 0;
      const emit = (drafts: Draft[]) => {
        if (pub) {
          pub.publish(drafts);
          return;
        }
        let out = '';
        for (const d of drafts)
          out += `${JSON.stringify({ v: WIRE_FORMAT_VERSION, topic, publisher: 'replay', session: sessionId, seq: ++seq, ...d })}\n`;
        process.stdout.write(out);
      };
      let errors = 0;
      const t0 = performance.now();
      const first = frames[0]?.receivedAtUs ?? 0;
      for (let i = 0; i < frames.length; i++) {
        const f = frames[i]!;
        if (speed > 0) {
          const due = (f.receivedAtUs - first) / 1000 / speed - (performance.now() - t0);
          if (due > 1) await new Promise((r) => setTimeout(r, due));
        }
        const r = session.onFrame(speed > 0 && pub ? { text: f.text, receivedAtUs: systemClock.nowUs() } : f);
        errors += r.errors.length;
        for (const e of r.errors) process.stderr.write(`nbpy replay: line ${i + 1}: ${e.code}: ${e.message}\n`);
        if (r.records.length) emit(r.records);
      }
      if (pub) {
        await pub.drain();
        await new Promise((r) => setTimeout(r, 200));
        await pub.close();
      }
      process.stderr.write(`nbpy replay: ${frames.length} frames, ${pub ? pub.stats.records_out : seq} records, ${errors} parse errors\n`);
    });
}
