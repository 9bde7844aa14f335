/** Betfair Exchange Stream API connector: session (pure), transport (TLS), and their parts. */
export { createBetfairSession, createBetfairReplaySession, isBetfairFeedSession } from './session.js';
export type {
  BetfairCredentials,
  BetfairFeedSession,
  BetfairSessionConfig,
  BetfairSessionOptions,
  BetfairSessionStats,
} from './session.js';
export { createBetfairTransport } from './wire.js';
export type { BetfairTransportOptions } from './wire.js';
export { BetfairCache, SegmentJoiner } from './cache.js';
export { MarketStatusBook, UNKNOWN_MARKET_STATUS } from './market-status.js';
export type { MarketStatusEntry } from './market-status.js';
export { parseBetfairMessage } from './parse.js';
export type { BetfairMessage, ChangeMessage, MarketChange, RunnerChange } from './parse.js';
export { normaliseMarketChange } from './normalise.js';
export { createCrlfFramer } from './framing.js';
export { buildAuthentication, buildMarketSubscription, buildHeartbeat, BETFAIR_STREAM_HOST, BETFAIR_STREAM_PORT } from './protocol.js';
