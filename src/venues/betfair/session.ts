/**
 * The Betfair ESA feed session (pure state machine; connector.ts `FeedSession`).
 *
 * Live: open -> server `connection` -> we send `authentication` -> status SUCCESS -> we send
 * `marketSubscription` -> status SUCCESS -> `mcm` images/deltas/heartbeats. `onOpen` sends nothing
 * because Betfair speaks first.
 *
 * Resume across reconnects (venues.md §3.5, pitfalls §3.7): the session keeps `initialClk` and
 * the latest `clk` through `reset()` and resubscribes with them, with otherwise identical
 * criteria. Betfair then answers `ct: RESUB_DELTA`, a patch on the cache we had, so `reset()`
 * keeps the cache while it holds resume clocks (clearing it would leave the patch applied to an
 * empty cache: betcode-org/betfair#66, #112). Without clocks, `reset()` clears the cache. If the
 * server answers with a `SUB_IMAGE` instead, the cache is cleared then; on `INVALID_CLOCK` the
 * clocks and the cache are dropped and the next connection subscribes fresh.
 *
 * Never throws: malformed frames become `errors`.
 */
import type { BetfairPublisherConfig } from '../../config/schema.js';
import type { Draft } from '../../core/records.js';
import type { FeedSession, Frame, FrameError, FrameResult } from '../connector.js';
import { BetfairCache, SegmentJoiner } from './cache.js';
import { MarketStatusBook, type MarketStatusEntry } from './market-status.js';
import { normaliseMarketChange, statusRecord } from './normalise.js';
import type { ChangeMessage, StatusMessage } from './parse.js';
import { parseBetfairMessage } from './parse.js';
import type { MarketDataField, MarketSubscriptionRequest } from './protocol.js';
import { buildAuthentication, buildMarketSubscription, clampHeartbeatMs, DEFAULT_MARKET_DATA_FIELDS } from './protocol.js';

/** The config fields the session reads (a full `BetfairPublisherConfig` fits). */
export type BetfairSessionConfig = Pick<BetfairPublisherConfig, 'markets' | 'eventTypeIds' | 'marketTypes' | 'ladderLevels'> &
  Partial<Pick<BetfairPublisherConfig, 'staleAfterMs' | 'credentials' | 'dataFields'>>;

export interface BetfairCredentials {
  appKey: string;
  sessionToken: string;
}

export interface BetfairSessionOptions {
  /** Levels per side in runner records (default `cfg.ladderLevels`). */
  depth?: number;
  /** heartbeatMs to request (default: half of staleAfterMs, clamped to 500-5000). */
  heartbeatMs?: number;
  /** Ask for segmented images (default true; recommended by Betfair). */
  segmentationEnabled?: boolean;
}

/** Error codes that mean the credentials are wrong or not enabled for streaming. */
const AUTH_ERRORS = new Set(['NO_APP_KEY', 'INVALID_APP_KEY', 'NO_SESSION', 'INVALID_SESSION_INFORMATION', 'NOT_AUTHORIZED']);

export interface BetfairSessionStats {
  frames: number;
  changeMessages: number;
  heartbeats: number;
  images: number;
  resubDeltas: number;
  /** mcm of a previous subscription id, discarded (betcode-org/betfair#410). */
  staleSubscriptionMessages: number;
  /** mc entries with `con: true` (we read slower than Betfair sends). */
  conflated: number;
  errors: number;
  connectionId: string | null;
}

export interface BetfairFeedSession extends FeedSession {
  readonly cache: BetfairCache;
  /** Resume clocks held (they survive reset()). */
  clocks(): { initialClk: string | null; clk: string | null };
  /** The subscription message the next connection will send (with clocks), for logs and tests. Holds no secrets. */
  subscriptionMessage(): string;
  stats(): BetfairSessionStats;
  /**
   * The status of each market of the subscription (`marketDefinition.status`: OPEN, SUSPENDED,
   * CLOSED, INACTIVE; UNKNOWN before a definition is seen): the configured markets first, then
   * markets a filter subscription brought. Survives reset() (a reconnect does not change them).
   */
  marketStatuses(): MarketStatusEntry[];
}

/** Is this feed session a Betfair one (so it can report its market statuses)? */
export function isBetfairFeedSession(session: FeedSession): session is BetfairFeedSession {
  return typeof (session as Partial<BetfairFeedSession>).marketStatuses === 'function';
}

interface Core {
  live: boolean;
  depth: number;
  creds: BetfairCredentials | null;
  subscription: Omit<MarketSubscriptionRequest, 'id' | 'initialClk' | 'clk'> | null;
  credentialHint: string;
  /** Market ids named in the subscription (reported even before they are seen). */
  markets: readonly string[];
}

function createCore(core: Core): BetfairFeedSession {
  const cache = new BetfairCache();
  const joiner = new SegmentJoiner();
  const marketStatus = new MarketStatusBook(core.markets);
  let nextId = 1;
  let authId: number | null = null;
  let subId: number | null = null;
  let upstreamDelayed = false;
  const stats: BetfairSessionStats = {
    frames: 0,
    changeMessages: 0,
    heartbeats: 0,
    images: 0,
    resubDeltas: 0,
    staleSubscriptionMessages: 0,
    conflated: 0,
    errors: 0,
    connectionId: null,
  };

  const secrets = core.creds ? [core.creds.appKey, core.creds.sessionToken].filter((s) => s.length >= 4) : [];
  const redact = (text: string): string => secrets.reduce((t, s) => t.split(s).join('***'), text);

  const subscriptionFor = (id: number): string => {
    const sub = core.subscription;
    if (!sub) return '';
    const resume = cache.initialClk !== null && cache.clk !== null ? { initialClk: cache.initialClk, clk: cache.clk } : {};
    return buildMarketSubscription({ ...sub, id, ...resume });
  };

  function onStatus(m: StatusMessage, frame: Frame, res: FrameResult): void {
    res.counters = { ...res.counters, status_messages: 1 };
    if (m.statusCode === 'SUCCESS') {
      if (core.live && m.id !== null && m.id === authId) {
        authId = null;
        subId = nextId++;
        res.send.push(subscriptionFor(subId));
        res.records.push(
          statusRecord(
            'authenticated',
            m.connectionsAvailable !== null ? `connectionsAvailable=${m.connectionsAvailable}` : '',
            frame.receivedAtUs,
          ),
        );
      } else {
        const what = core.live && m.id !== null && m.id === subId ? 'subscribed' : 'SUCCESS';
        res.records.push(statusRecord(what, m.id !== null ? `id=${m.id}` : '', frame.receivedAtUs));
      }
      return;
    }
    const code = m.errorCode ?? 'UNKNOWN';
    const detail = redact(`${m.statusCode} ${code}: ${m.errorMessage ?? ''}`.trim());
    res.records.push(statusRecord(`${m.statusCode}:${code}`, detail, frame.receivedAtUs));
    if (code === 'INVALID_CLOCK') {
      // The resume tokens are no good: forget them and the state they would have patched.
      cache.forgetClocks();
      cache.clear();
    }
    if (!core.live) return;
    if (code === 'SUBSCRIPTION_LIMIT_EXCEEDED' && !m.connectionClosed) {
      res.errors.push({ code: 'venue_error', message: `betfair ${detail}: subscribe to fewer markets (default limit 200)`, sample: '' });
      return;
    }
    const hint = AUTH_ERRORS.has(code)
      ? ` (check ${core.credentialHint})`
      : code === 'INVALID_CLOCK'
        ? ' (clocks dropped; next subscription starts from a new image)'
        : '';
    res.reconnect = `betfair ${detail}${hint}`;
  }

  function onChange(m: ChangeMessage, frame: Frame, res: FrameResult): void {
    stats.changeMessages++;
    if (core.live && m.id !== null && subId !== null && m.id !== subId) {
      stats.staleSubscriptionMessages++;
      return;
    }
    const delayed = m.status !== null;
    if (delayed !== upstreamDelayed) {
      upstreamDelayed = delayed;
      res.records.push(
        delayed
          ? statusRecord(
              'upstream_delayed',
              `betfair change message status ${m.status}: data may be stale`,
              frame.receivedAtUs,
              m.pt !== null ? m.pt * 1000 : frame.receivedAtUs,
            )
          : statusRecord(
              'upstream_ok',
              'betfair change messages healthy again',
              frame.receivedAtUs,
              m.pt !== null ? m.pt * 1000 : frame.receivedAtUs,
            ),
      );
    }
    if (m.ct === 'HEARTBEAT') {
      stats.heartbeats++;
      res.counters = { ...res.counters, venue_heartbeats: 1 };
      cache.noteClocks(m);
      return;
    }
    const joined = joiner.push(m);
    if (joined.error) res.errors.push({ code: 'segment', message: `betfair: ${joined.error}`, sample: frame.text.slice(0, 200) });
    const msg = joined.message;
    if (!msg) return;
    if (msg.ct === 'SUB_IMAGE') stats.images++;
    if (msg.ct === 'RESUB_DELTA') {
      stats.resubDeltas++;
      res.counters = { ...res.counters, resubscribes: 1 };
      res.records.push(statusRecord('resubscribed', `RESUB_DELTA for ${msg.mc.length} market(s); resumed from clk`, frame.receivedAtUs));
    }
    const ctx = { pt: msg.pt, receivedAtUs: frame.receivedAtUs, clk: msg.clk };
    if (msg.ct === 'SUB_IMAGE') marketStatus.image(msg.mc.map((mc) => mc.id));
    for (const applied of cache.apply(msg)) {
      if (applied.con) stats.conflated++;
      marketStatus.note(applied.market.id, applied.market.definition?.status ?? null);
      for (const r of normaliseMarketChange(applied, ctx, core.depth)) res.records.push(r);
    }
  }

  return {
    cache,
    clocks: () => ({ initialClk: cache.initialClk, clk: cache.clk }),
    subscriptionMessage: () => subscriptionFor(subId ?? nextId),
    stats: () => ({ ...stats }),
    marketStatuses: () => marketStatus.entries(),
    onOpen: () => [],
    onFrame(frame: Frame): FrameResult {
      const res: FrameResult = { records: [] as Draft[], send: [], errors: [] as FrameError[] };
      stats.frames++;
      try {
        const m = parseBetfairMessage(frame.text);
        switch (m.kind) {
          case 'error':
            res.errors.push(m.error);
            break;
          case 'connection':
            stats.connectionId = m.connectionId;
            res.records.push(statusRecord('connected', `connectionId=${m.connectionId}`, frame.receivedAtUs));
            if (core.live && core.creds) {
              authId = nextId++;
              res.send.push(buildAuthentication(authId, core.creds.appKey, core.creds.sessionToken));
            }
            break;
          case 'status':
            onStatus(m, frame, res);
            break;
          case 'mcm':
            onChange(m, frame, res);
            break;
          case 'unknown':
            break;
        }
      } catch (e) {
        // Defensive: parse and cache are written not to throw; if they do, count it, keep going.
        res.errors.push({
          code: 'internal',
          message: `betfair session: ${e instanceof Error ? e.message : String(e)}`,
          sample: frame.text.slice(0, 200),
        });
      }
      stats.errors += res.errors.length;
      return res;
    },
    reset() {
      joiner.reset();
      authId = null;
      subId = null;
      upstreamDelayed = false;
      if (cache.initialClk === null || cache.clk === null) cache.clear();
    },
  };
}

/**
 * A live session: authenticates with `creds` (never logged: failure reasons are redacted) and
 * subscribes with the markets/filters of `cfg`.
 */
export function createBetfairSession(
  cfg: BetfairSessionConfig,
  creds: BetfairCredentials,
  opts: BetfairSessionOptions = {},
): BetfairFeedSession {
  const fields: MarketDataField[] = [...(cfg.dataFields ?? DEFAULT_MARKET_DATA_FIELDS)];
  const heartbeatMs = opts.heartbeatMs ?? clampHeartbeatMs((cfg.staleAfterMs ?? 10_000) / 2);
  const envs = cfg.credentials
    ? `${cfg.credentials.appKeyEnv} and ${cfg.credentials.sessionTokenEnv}`
    : 'the Betfair app key and session token';
  return createCore({
    live: true,
    depth: opts.depth ?? cfg.ladderLevels,
    creds,
    credentialHint: `${envs}; the session token expires and must be refreshed`,
    markets: cfg.markets,
    subscription: {
      marketFilter: { marketIds: cfg.markets, eventTypeIds: cfg.eventTypeIds, marketTypes: cfg.marketTypes },
      marketDataFilter: { fields, ladderLevels: cfg.ladderLevels },
      heartbeatMs: clampHeartbeatMs(heartbeatMs),
      conflateMs: 0,
      segmentationEnabled: opts.segmentationEnabled ?? true,
    },
  });
}

/**
 * A replay session for recorded files: no handshake, nothing sent, messages of any subscription id
 * accepted, failures reported as status records without reconnecting. Reads both raw stream logs
 * (`esa_*`) and recorder output that drops `id`, `ct`, `initialClk` and heartbeats (flumine).
 */
export function createBetfairReplaySession(opts: { depth?: number } = {}): BetfairFeedSession {
  return createCore({ live: false, depth: opts.depth ?? 3, creds: null, subscription: null, credentialHint: '', markets: [] });
}
