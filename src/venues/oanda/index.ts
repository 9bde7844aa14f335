/** OANDA v20 pricing-stream connector: pure session + HTTP transport. */
export { createOandaSession, createOandaReplaySession } from './session.js';
export {
  createOandaTransport,
  oandaBaseUrl,
  oandaHttpError,
  oandaTransportOptionsFromConfig,
  OANDA_STREAM_HOSTS,
  type OandaTransportOptions,
} from './wire.js';
export { parse, oandaTimeToUs, type OandaMessage, type OandaPrice, type OandaHeartbeat, type OandaParseResult } from './parse.js';
export { normalisePrice, bestBucket, compareDecimal } from './normalise.js';
export { createLineSplitter, DEFAULT_MAX_LINE_BYTES, type LineSplitter, type LineItem } from './lines.js';
