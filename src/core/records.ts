/**
 * Normalised records: what publishers put on the bus and subscribers store.
 *
 * Conventions (see docs/wire-format.md, the contract for non-TypeScript consumers):
 * - field names are snake_case, identical on the wire (msgpack map keys) and in JSON output;
 * - times are integer microseconds since the Unix epoch (`*_us`): exact in a msgpack int and in a
 *   JS number (2^53 us is the year 2255), never a float of seconds;
 * - prices and quantities are decimal strings exactly as the venue wrote them (`"1797.30"`), so
 *   nothing is rounded through a binary float between the venue and the store;
 * - `seq` counts 1, 2, 3, ... per publisher session with no holes, across every record a
 *   publisher puts on its data topic (gaps included).
 */

/** Version of the record layout on the bus. Bumped on any incompatible change. */
export const WIRE_FORMAT_VERSION = 1 as const;

export const VENUES = ['kraken', 'oanda', 'betfair', 'nbpy'] as const;
export type Venue = (typeof VENUES)[number];

export const RECORD_KINDS = ['tick', 'depth', 'trade', 'runner', 'market', 'gap', 'heartbeat', 'status'] as const;
export type RecordKind = (typeof RECORD_KINDS)[number];

/** Reserved topic on which every publisher sends a heartbeat record each second. */
export const HEARTBEAT_TOPIC = '_hb' as const;

/** A decimal number as text, exactly as received ("0.00000000", "1797.30"). */
export type Decimal = string;
/** One book or ladder level: [price, quantity]. */
export type Level = readonly [Decimal, Decimal];

/** Fields every record carries. */
export interface RecordBase {
  /** Wire format version ({@link WIRE_FORMAT_VERSION}). */
  v: number;
  /** The bus topic the record was published on. */
  topic: string;
  venue: Venue;
  kind: RecordKind;
  /** Publisher name from the config (`kraken_tick`). */
  publisher: string;
  /** Publisher session id: a UUID, new on each publisher start. */
  session: string;
  /** 1, 2, 3, ... per session, no holes (heartbeats repeat the last data seq instead). */
  seq: number;
  /** Venue event time, microseconds since epoch (receive time when the venue gives none). */
  ts_event_us: number;
  /** Local wall-clock receive time of the venue frame, microseconds since epoch. */
  ts_recv_us: number;
  /** Venue-native instrument id (`BTC/USD`, `EUR_USD`, Betfair `1.180770798:12345:0`). Empty for system records. */
  instrument: string;
}

/** Level 1 quote: Kraken `ticker`, OANDA PRICE. */
export interface TickRecord extends RecordBase {
  kind: 'tick';
  bid: Decimal | null;
  bid_qty: Decimal | null;
  ask: Decimal | null;
  ask_qty: Decimal | null;
  last: Decimal | null;
  /** 24 h volume where the venue sends one. */
  volume: Decimal | null;
  /** OANDA: false while the market is closed or halted; true elsewhere. */
  tradeable: boolean;
}

/** Level 2 book after applying one venue update (top levels only). */
export interface DepthRecord extends RecordBase {
  kind: 'depth';
  /** Best first (descending price). */
  bids: Level[];
  /** Best first (ascending price). */
  asks: Level[];
  /** True when this record comes from a snapshot (the book was replaced). */
  snapshot: boolean;
  /** The venue's CRC32 for the book after this update, when it sent one. */
  checksum: number | null;
  /** Whether our book's CRC32 matched `checksum` (true when the venue sent none). */
  checksum_ok: boolean;
}

/** One executed trade. */
export interface TradeRecord extends RecordBase {
  kind: 'trade';
  price: Decimal;
  qty: Decimal;
  /** Taker side. */
  side: 'buy' | 'sell';
  /** Venue trade id as text (Kraken v2 integer ids; v1 has none: ""). */
  trade_id: string;
  ord_type: string;
  /** True for historical trades sent on subscribe (not live prints). */
  snapshot: boolean;
}

/** Betfair: the state of one runner after applying a market change. */
export interface RunnerRecord extends RecordBase {
  kind: 'runner';
  market_id: string;
  selection_id: number;
  /** Handicap (0 when the market has none). */
  hc: number;
  /** Best available to back, best first (highest price first). */
  back: Level[];
  /** Best available to lay, best first (lowest price first). */
  lay: Level[];
  /** Last traded price. */
  ltp: Decimal | null;
  /** Total traded volume on this runner. */
  tv: Decimal | null;
  /** Betfair `clk` of the change message, for resume. */
  clk: string | null;
  /** True when this change came from an image (state replaced). */
  snapshot: boolean;
}

/** Betfair market-level status (definition changes: OPEN/SUSPENDED/CLOSED, in-play). */
export interface MarketRecord extends RecordBase {
  kind: 'market';
  market_id: string;
  status: string;
  in_play: boolean;
  /** marketDefinition.version. */
  version: number | null;
  /** Market total traded volume. */
  tv: Decimal | null;
}

export const GAP_REASONS = ['reconnect', 'checksum', 'stale', 'resubscribe', 'publisher_restart', 'sequence', 'venue_status'] as const;
export type GapReason = (typeof GAP_REASONS)[number];

/**
 * A discontinuity: data between `gap_start_us` and `gap_end_us` may be missing, and state derived
 * downstream (books, caches) must be reset. Stored and counted like any record.
 */
export interface GapRecord extends RecordBase {
  kind: 'gap';
  reason: GapReason;
  gap_start_us: number;
  gap_end_us: number;
  detail: string;
  /** For sequence gaps seen by a consumer: first and last missing seq (0 when unknown). */
  first_missing_seq: number;
  last_missing_seq: number;
}

/** Venue status / system events (Kraken `status`, Betfair `status`, OANDA stream start). */
export interface StatusRecord extends RecordBase {
  kind: 'status';
  status: string;
  detail: string;
}

/**
 * Published on {@link HEARTBEAT_TOPIC} every second. `seq` is the last data seq published in this
 * session (0 before the first), so a consumer can detect loss at the tail of a stream.
 */
export interface HeartbeatRecord extends RecordBase {
  kind: 'heartbeat';
  /** The publisher's data topic this heartbeat speaks for. */
  data_topic: string;
  /** Age of the last venue frame, milliseconds (-1 before the first). */
  last_venue_msg_age_ms: number;
  connected: boolean;
}

export type BusRecord = TickRecord | DepthRecord | TradeRecord | RunnerRecord | MarketRecord | GapRecord | StatusRecord | HeartbeatRecord;

/** A record as produced by a connector, before the publisher stamps the bus fields on it. */
export type Draft<R extends BusRecord = BusRecord> = R extends BusRecord ? Omit<R, 'v' | 'topic' | 'publisher' | 'session' | 'seq'> : never;

export type RecordOfKind<K extends RecordKind> = Extract<BusRecord, { kind: K }>;
