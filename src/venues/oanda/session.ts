/**
 * The OANDA feed session: pure, one line per frame. OANDA's pricing stream is a plain HTTP GET, so
 * nothing is sent on open; there is no state to reset beyond counters (every PRICE replaces the
 * instrument's quote, venues.md §2.3). Never throws.
 */
import type { OandaPublisherConfig } from '../../config/schema.js';
import type { FeedSession, Frame, FrameError, FrameResult } from '../connector.js';
import { OVERSIZE_MARKER } from './lines.js';
import { normalisePrice } from './normalise.js';
import { parse } from './parse.js';

const sample = (text: string) => text.slice(0, 200);

function createSession(): FeedSession {
  const error = (code: string, message: string, text: string): FrameResult => ({
    records: [],
    send: [],
    errors: [{ code, message, sample: sample(text) } satisfies FrameError],
  });
  return {
    onOpen: () => [],
    reset: () => {},
    onFrame(frame: Frame): FrameResult {
      const text = frame.text;
      if (text.startsWith(OVERSIZE_MARKER)) {
        const rest = text.slice(OVERSIZE_MARKER.length);
        const colon = rest.indexOf(':');
        return error('line_too_long', `dropped a ${rest.slice(0, colon)}-byte line (over the line size limit)`, rest.slice(colon + 1));
      }
      if (text.trim() === '') return { records: [], send: [], errors: [] };
      const m = parse(text);
      switch (m.type) {
        case 'PRICE':
          return { records: [normalisePrice(m, frame.receivedAtUs)], send: [], errors: [] };
        case 'HEARTBEAT':
          return { records: [], send: [], errors: [], counters: { venue_heartbeats: 1 } };
        case 'unknown':
          return error('unknown_type', `unknown message type ${JSON.stringify(m.rawType.slice(0, 40))}`, text);
        case 'error':
          return error(m.code, m.message, text);
      }
    },
  };
}

/**
 * The live session for one OANDA publisher. Every PRICE is kept, whatever its instrument: OANDA
 * sends only what the request named, and dropping data on a naming mismatch would lose it silently.
 */
export function createOandaSession(_cfg: Pick<OandaPublisherConfig, 'instruments'>): FeedSession {
  return createSession();
}

/** A session for recorded files (no config needed). */
export function createOandaReplaySession(): FeedSession {
  return createSession();
}
