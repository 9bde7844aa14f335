/**
 * `nbpy publisher run <name>`: one publisher process. Venue connector -> normalised drafts -> the bus,
 * with heartbeats, a status/metrics endpoint, optional raw-frame recording, and a clean SIGTERM.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import type { Config, PublisherConfig } from '../config/schema.js';
import { UsageError } from '../core/errors.js';
import { systemClock } from '../core/clock.js';
import type { Draft, GapRecord } from '../core/records.js';
import { BusPublisher } from '../bus/publisher.js';
import { PublishJournal } from '../bus/journal.js';
import { RetransmitServer } from '../bus/retransmit.js';
import { tcpEndpoint } from '../bus/subscriber.js';
import { curveServerKeys } from '../bus/curve.js';
import { runFeed } from '../venues/reconnect.js';
import type { FeedSession } from '../venues/connector.js';
import { isBetfairFeedSession } from '../venues/betfair/index.js';
import { FrameRecorder, recordingTransport } from '../venues/recorder.js';
import { loadRecording } from '../venues/recording.js';
import { createRegistry, mirrorCounter, mirrorGauge, startStatusServer } from '../health/status-server.js';
import { createLogger } from '../logging/logger.js';
import { scrubSecrets } from '../logging/redact.js';
import { signalReady } from '../supervisor/child.js';
import { boundedStep, loadFromCommand } from './common.js';
import { openReplaySession, openVenueSource } from './venue-source.js';
import { readSessionFile, removeJournalFile, sessionFilePath, writeJournalFile, type SessionFile } from './session-file.js';

export function findPublisher(cfg: Config, name: string): PublisherConfig {
  const p = cfg.publishers.find((x) => x.name === name);
  if (!p) throw new UsageError(`no publisher named "${name}" in the config (publishers: ${cfg.publishers.map((x) => x.name).join(', ')})`);
  return p;
}

const STARTUP_GRACE_MS = 400;
/** Most a single step of the shutdown may take before it is named in the log and skipped. */
const STOP_STEP_MS = 8_000;
/** A stop still going this long after the signal says on stderr where it is (it goes on). */
const STOP_WATCHDOG_MS = 20_000;

/** The gap a restart leaves: from the previous session's last heartbeat to now. */
export function restartGap(prev: SessionFile | undefined, nowUs: number, venue: PublisherConfig['venue']): Draft<GapRecord> | undefined {
  if (!prev) return undefined;
  return {
    venue,
    kind: 'gap',
    ts_event_us: nowUs,
    ts_recv_us: nowUs,
    instrument: '',
    reason: 'publisher_restart',
    gap_start_us: prev.last_heartbeat_us,
    gap_end_us: nowUs,
    detail: `previous session ${prev.session} ${prev.clean_stop ? 'stopped cleanly' : 'ended without a clean stop'} after seq ${prev.last_seq}`,
    first_missing_seq: 0,
    last_missing_seq: 0,
  };
}

export async function runPublisher(cfg: Config, name: string, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const pc = findPublisher(cfg, name);
  const clock = systemClock;
  const log = createLogger({ service: name, level: cfg.logging.level });
  const stats = {
    frames_in: 0,
    parse_errors: {} as Record<string, number>,
    gaps: {} as Record<string, number>,
    reconnects: 0,
    checksum_failures: 0,
    connected: false,
    last_frame_mono_ms: -1,
  };
  const sampled = new Set<string>();
  let secrets: string[] = [];
  const safe = (t: string) => scrubSecrets(t, secrets);

  /**
   * What the process is doing now: named in the line written to stderr when a stop has not finished
   * STOP_WATCHDOG_MS after the signal (a publisher that once did not exit in a test left nothing else).
   */
  let stage = 'binding the bus socket';
  const curveKeys = curveServerKeys(cfg.bus.curve, env);
  // Gap recovery: what this session publishes is journaled (as the bus payloads it went out in) and
  // served on the retransmission port.
  const session = randomUUID();
  const journal = pc.retransmitPort === undefined ? undefined : new PublishJournal(session, { ...pc.journal, nowMs: () => clock.monoMs() });
  const pub = await BusPublisher.bind({
    endpoint: tcpEndpoint(pc.bindHost, pc.port),
    publisher: pc.name,
    session,
    venue: pc.venue,
    topic: pc.topic,
    onEncoded: journal ? (records, payload) => journal.appendEncoded(records, payload) : undefined,
    sendHwm: pc.sendHwm,
    batchMs: pc.batchMs,
    curve: curveKeys,
  }).catch((e: Error) => {
    throw new UsageError(
      `publishers.${pc.name}: cannot bind ${tcpEndpoint(pc.bindHost, pc.port)} (${e.message}); is the port in use by another process?`,
    );
  });

  stage = 'binding the retransmission socket';
  const retransmit =
    journal && pc.retransmitPort !== undefined
      ? await RetransmitServer.bind({
          endpoint: tcpEndpoint(pc.bindHost, pc.retransmitPort),
          journal,
          onRequest: (req, r) =>
            log.info({ session: req.session, first: req.first, last: req.last, ...r }, 'retransmission request answered'),
          onError: (e) => log.warn({}, `retransmission: ${e.message}`),
          onConnectionEvent: (event, address, error) => log.info({ event, address, error }, `retransmission connection: ${event}`),
          curve: curveKeys,
        }).catch(async (e: Error) => {
          await pub.close();
          throw new UsageError(
            `publishers.${pc.name}: cannot bind retransmitPort ${tcpEndpoint(pc.bindHost, pc.retransmitPort!)} (${e.message}); is the port in use by another process?`,
          );
        })
      : undefined;

  // ZeroMQ PUB drops what it sends before subscribers have (re)connected; subscribers retry their
  // connection every 100 ms, so a short grace after bind keeps a restarted publisher's first records.
  stage = 'waiting for subscribers to connect';
  await new Promise((r) => setTimeout(r, STARTUP_GRACE_MS));
  stage = 'starting';

  // Restart gap: a previous session of this publisher left a state file in the run directory.
  const stateFile = sessionFilePath(cfg, pc.name);
  mkdirSync(dirname(stateFile), { recursive: true });
  const prev = readSessionFile(cfg, pc.name);
  const writeState = (clean: boolean) => {
    const s: SessionFile = { session: pub.session, last_seq: pub.lastSeq, last_heartbeat_us: clock.nowUs(), clean_stop: clean };
    writeFileSync(`${stateFile}.tmp`, JSON.stringify(s));
    renameSync(`${stateFile}.tmp`, stateFile);
  };

  const publish = (drafts: Draft[]) => {
    for (const d of drafts) if (d.kind === 'gap') stats.gaps[d.reason] = (stats.gaps[d.reason] ?? 0) + 1;
    pub.publish(drafts);
  };
  const gap = restartGap(prev, clock.nowUs(), pc.venue);
  if (gap) publish([gap]);
  writeState(false);
  // The previous session's saved journal (if any) is of no use to anybody now.
  removeJournalFile(cfg, pc.name);

  const registry = createRegistry(pc.name);
  mirrorCounter(registry, 'nbpy_frames_in_total', 'venue frames received', () => stats.frames_in);
  mirrorCounter(registry, 'nbpy_records_out_total', 'records published on the bus', () => pub.stats.records_out);
  mirrorCounter(
    registry,
    'nbpy_bus_messages_out_total',
    'bus messages sent (each a batch of records; heartbeats included)',
    () => pub.stats.messages_out,
  );
  mirrorCounter(
    registry,
    'nbpy_parse_errors_total',
    'venue frames that could not be parsed, by reason',
    () => stats.parse_errors,
    'reason',
    ['json', 'schema'],
  );
  mirrorCounter(registry, 'nbpy_gaps_total', 'gap records published, by reason', () => stats.gaps, 'reason', [
    'reconnect',
    'stale',
    'checksum',
    'publisher_restart',
  ]);
  mirrorCounter(registry, 'nbpy_reconnects_total', 'venue reconnects', () => stats.reconnects);
  mirrorCounter(registry, 'nbpy_checksum_failures_total', 'order book checksum mismatches', () => stats.checksum_failures);
  mirrorCounter(registry, 'nbpy_bus_send_errors_total', 'bus sends that failed', () => pub.stats.send_errors);
  if (journal && retransmit) {
    mirrorGauge(registry, 'nbpy_journal_records', 'records held in the retransmission journal', () => journal.stats().records);
    mirrorGauge(registry, 'nbpy_journal_bytes', 'bytes held in the retransmission journal', () => journal.stats().bytes);
    mirrorCounter(registry, 'nbpy_retransmit_requests_total', 'retransmission requests answered', () => retransmit.stats.requests);
    mirrorCounter(registry, 'nbpy_retransmit_records_total', 'records sent in retransmission replies', () => retransmit.stats.records_sent);
    mirrorCounter(
      registry,
      'nbpy_retransmit_unavailable_records_total',
      'requested records no longer in the journal',
      () => retransmit.stats.records_unavailable,
    );
  }
  const ageMs = () => (stats.last_frame_mono_ms < 0 ? -1 : Math.round(clock.monoMs() - stats.last_frame_mono_ms));
  mirrorGauge(registry, 'nbpy_last_message_age_seconds', 'age of the last venue frame (-1 before the first)', () =>
    ageMs() < 0 ? -1 : ageMs() / 1000,
  );
  mirrorGauge(registry, 'nbpy_connected', '1 when the venue connection is up', () => (stats.connected ? 1 : 0));
  const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);
  // Set once the venue session exists; Betfair's reports its markets' statuses for health
  // (`market_statuses`: silence from an all-SUSPENDED/CLOSED subscription is expected, docs/HEALTH.md).
  let feedSession: FeedSession | undefined;
  const betfairMarkets = () => {
    const entries = feedSession && isBetfairFeedSession(feedSession) ? feedSession.marketStatuses() : [];
    return {
      market_statuses: entries.map((e) => e.status),
      market_status_by_id: Object.fromEntries(entries.map((e) => [e.marketId, e.status])),
    };
  };
  const status = await startStatusServer({
    host: pc.bindHost === '0.0.0.0' ? '0.0.0.0' : '127.0.0.1',
    port: pc.statusPort,
    registry,
    token: env.NBPY_STATUS_TOKEN,
    health: () => ({
      service: pc.name,
      kind: 'publisher',
      ready: stats.connected || pc.source.type === 'replay',
      status: stats.connected || pc.source.type === 'replay' ? 'ok' : 'degraded',
      venue: pc.venue,
      topic: pc.topic,
      session: pub.session,
      connected: stats.connected,
      last_seq: pub.lastSeq,
      records_out: pub.stats.records_out,
      messages_out: pub.stats.messages_out,
      frames_in: stats.frames_in,
      parse_errors: sum(stats.parse_errors),
      gaps: sum(stats.gaps),
      reconnects: stats.reconnects,
      checksum_failures: stats.checksum_failures,
      last_message_age_ms: ageMs(),
      journal: journal ? { ...journal.stats(), ...retransmit?.stats } : null,
      ...(pc.venue === 'betfair' ? betfairMarkets() : {}),
    }),
  });

  pub.startHeartbeats(() => {
    writeState(false);
    return { connected: stats.connected, lastVenueMsgAgeMs: ageMs() };
  });

  const abort = new AbortController();
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping: intake closed, publishing what is held');
    abort.abort();
    setTimeout(() => {
      const msg = `publisher ${pc.name}: the stop has not finished ${STOP_WATCHDOG_MS / 1000} s after ${signal}; it is at: ${stage}`;
      process.stderr.write(`${msg}\n`);
      log.error({ stage }, msg);
    }, STOP_WATCHDOG_MS).unref();
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));

  const recorder = pc.record ? new FrameRecorder({ dir: join(cfg.dataDir, 'recordings', pc.name), prefix: pc.name }) : undefined;
  const onError = (e: { code: string; message: string; sample: string }) => {
    stats.parse_errors[e.code] = (stats.parse_errors[e.code] ?? 0) + 1;
    if (!sampled.has(e.code)) {
      sampled.add(e.code);
      log.warn({ code: e.code, sample: safe(e.sample) }, `parse error (${safe(e.message)}); further ones of this kind are only counted`);
    }
  };

  let closeSource = async () => {};
  try {
    if (pc.source.type === 'replay') {
      const frames = loadRecording(pc.source.file);
      stage = 'replaying a recording';
      const session = openReplaySession(pc.venue, pc.venue === 'kraken' ? pc.publishLevels : 10);
      feedSession = session;
      stats.connected = true;
      signalReady();
      do {
        session.reset();
        await replayFrames(frames, pc.source.speed, abort.signal, (f) => {
          stats.frames_in++;
          stats.last_frame_mono_ms = clock.monoMs();
          const r = session.onFrame(f);
          r.errors.forEach(onError);
          if (r.records.length) publish(r.records);
        });
      } while (pc.source.loop && !abort.signal.aborted);
      if (!abort.signal.aborted) log.info({ frames: frames.length }, 'replay finished; stays up until stopped');
      if (!abort.signal.aborted) await new Promise((r) => abort.signal.addEventListener('abort', r));
    } else {
      stage = 'opening the venue source';
      const source = await openVenueSource(pc, env);
      stage = 'feeding from the venue';
      feedSession = source.session;
      secrets = source.secrets;
      closeSource = source.close;
      const transport = recorder ? recordingTransport(source.transport, recorder) : source.transport;
      log.info({ target: transport.target, endpoint: tcpEndpoint(pc.bindHost, pc.port), session: pub.session }, 'publisher starting');
      let ready = false;
      await runFeed({
        transport: {
          target: transport.target,
          connect: async (signal) => {
            const conn = await transport.connect(signal);
            async function* counted() {
              for await (const f of conn.frames) {
                stats.frames_in++;
                stats.last_frame_mono_ms = clock.monoMs();
                yield f;
              }
            }
            return { frames: counted(), send: (t: string) => conn.send(t), close: () => conn.close() };
          },
        },
        session: source.session,
        clock,
        venue: pc.venue,
        staleAfterMs: pc.staleAfterMs,
        signal: abort.signal,
        onRecords: publish,
        onError,
        onCounter: (n, k) => {
          if (n === 'checksum_failures') stats.checksum_failures += k;
          if (n === 'reconnects') stats.reconnects += k;
        },
        onState: (s, detail) => {
          stats.connected = s === 'connected';
          if (s === 'connected' && !ready) {
            ready = true;
            signalReady();
          }
          log.info({ state: s, detail: detail && safe(detail) }, `venue ${s}`);
        },
        onConnectError: (err, info) =>
          log.warn({ attempt: info.attempt, retry_in_ms: info.retryInMs }, `connect failed: ${safe(err.message)}`),
      });
    }
  } finally {
    const warn = (msg: string) => log.warn({}, msg);
    const step = (what: string, work: Promise<unknown>) => {
      stage = `stopping: ${what}`;
      return boundedStep(what, work, STOP_STEP_MS, warn);
    };
    await step('handing queued records to the bus', pub.drain());
    pub.heartbeat({ connected: false, lastVenueMsgAgeMs: ageMs() });
    // Saved before the clean-stop session file: a subscriber that reads `clean_stop` finds the journal
    // beside it, and takes from it what it never got from the bus.
    if (journal) {
      stage = 'stopping: saving the journal';
      try {
        const t0 = clock.monoMs();
        const bytes = writeJournalFile(cfg, pc.name, journal);
        const js = journal.stats();
        log.info(
          { records: js.records, first_seq: js.first_seq, last_seq: js.last_seq, bytes, ms: Math.round(clock.monoMs() - t0) },
          'journal saved for subscribers still behind',
        );
      } catch (e) {
        log.warn({}, `cannot save the journal: ${(e as Error).message}; subscribers still behind will report what they miss as a gap`);
      }
    }
    writeState(true);
    await step('closing the bus socket', pub.close());
    await step('closing the retransmission socket', retransmit?.close() ?? Promise.resolve());
    await step('closing the frame recording', recorder?.close() ?? Promise.resolve());
    await step('closing the venue source', closeSource());
    await step('closing the status server', status.close());
    stage = 'exiting';
    log.info(
      { session: pub.session, records_out: pub.stats.records_out, last_seq: pub.lastSeq, closed_drops: pub.stats.closed_drops },
      'publisher stopped',
    );
  }
  return 0;
}

/** Feed recorded frames at their recorded pace times `speed` (0 = as fast as possible). */
async function replayFrames(
  frames: { text: string; receivedAtUs: number }[],
  speed: number,
  signal: AbortSignal,
  on: (f: { text: string; receivedAtUs: number }) => void,
) {
  const t0 = performance.now();
  const first = frames[0]?.receivedAtUs ?? 0;
  for (let i = 0; i < frames.length && !signal.aborted; i++) {
    const f = frames[i]!;
    if (speed > 0) {
      const due = (f.receivedAtUs - first) / 1000 / speed - (performance.now() - t0);
      if (due > 1) await new Promise((r) => setTimeout(r, due));
    } else if (i % 500 === 0) await new Promise((r) => setImmediate(r));
    on({ text: f.text, receivedAtUs: speed > 0 ? systemClock.nowUs() : f.receivedAtUs });
  }
}

export function registerPublisher(program: Command): void {
  const publisher = program.command('publisher').description('venue publishers');
  publisher
    .command('run <name>')
    .description('run one publisher in the foreground (venue -> bus), as the service manager does')
    .action(async (name: string, _opts, cmd: Command) => {
      const { config } = loadFromCommand(cmd);
      process.exitCode = await runPublisher(config, name);
    });
  publisher
    .command('list')
    .description('list the configured publishers')
    .option('--json', 'print as JSON')
    .action((_opts, cmd: Command) => {
      const { config } = loadFromCommand(cmd);
      const rows = config.publishers.map((p) => ({
        name: p.name,
        venue: p.venue,
        topic: p.topic,
        endpoint: tcpEndpoint(p.connectHost, p.port),
        status_port: p.statusPort,
        source: p.source.type,
      }));
      if ((cmd.optsWithGlobals() as { json?: boolean }).json) console.log(JSON.stringify(rows));
      else
        for (const r of rows)
          console.log(
            `${r.name.padEnd(16)} ${r.venue.padEnd(8)} ${r.topic.padEnd(16)} ${r.endpoint.padEnd(24)} status :${r.status_port}  ${r.source}`,
          );
    });
}
