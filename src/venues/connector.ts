/**
 * The connector contract. A venue connector is split three ways (../shared/STYLE.md):
 * - a `Transport` (wire.ts) moves text frames over the venue's socket and knows nothing of messages;
 * - a `FeedSession` (pure parse + normalise + state) turns frames into draft records and tells the
 *   transport what to send; it never touches a socket, so replay and tests drive it directly;
 * - the shared reconnect loop (reconnect.ts) joins the two, detects stale connections, backs off and
 *   reports every reconnect as a gap.
 */
import type { Draft } from '../core/records.js';

/** One raw venue frame as received, with the local receive time. */
export interface Frame {
  /** The frame's text exactly as received (one JSON document, or one line for line-based streams). */
  text: string;
  /** Local wall-clock receive time, µs since epoch. */
  receivedAtUs: number;
}

/** A frame that could not be parsed: counted as a parse error, logged once per kind with a sample. */
export interface FrameError {
  /** Stable short code, e.g. `json`, `schema`, `unknown_channel`. */
  code: string;
  message: string;
  /** The first 200 characters of the offending frame. */
  sample: string;
}

/** What one frame produced. */
export interface FrameResult {
  records: Draft[];
  /** Messages to send to the venue now (resubscribe, pong, ...). */
  send: string[];
  errors: FrameError[];
  /** Counters the publisher exports (e.g. `checksum_failures`). */
  counters?: Partial<Record<FeedCounter, number>>;
  /** Set when the session wants the connection dropped and reopened (fatal venue error). */
  reconnect?: string;
}

export const FEED_COUNTERS = ['checksum_failures', 'resubscribes', 'venue_heartbeats', 'status_messages'] as const;
export type FeedCounter = (typeof FEED_COUNTERS)[number];

/** Pure per-connection state machine for one venue feed. */
export interface FeedSession {
  /** Messages to send once the transport is open (auth, subscribe). */
  onOpen(nowUs: number): string[];
  /** Feed one raw frame. Must never throw: malformed input becomes `errors`. */
  onFrame(frame: Frame): FrameResult;
  /** Forget all derived state (books, caches); called on every reconnect. */
  reset(): void;
  /** Messages to send periodically to keep the connection alive (pings), if the venue wants them. */
  keepAlive?(nowUs: number): string[];
}

/** A connected transport. */
export interface TransportConnection {
  /** Frames as they arrive; ends when the connection closes. */
  frames: AsyncIterable<Frame>;
  send(text: string): void;
  close(): void;
}

/** Opens connections to a venue (the real host, or a simulator on 127.0.0.1). */
export interface Transport {
  connect(signal: AbortSignal): Promise<TransportConnection>;
  /** Human-readable target for logs (`wss://ws.kraken.com/v2`). Never includes secrets. */
  readonly target: string;
}
