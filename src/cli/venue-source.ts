/**
 * Wiring a configured publisher to its venue: the real connector (session + transport) pointed at the
 * venue, or at its simulator started in-process on a free loopback port (source `simulated`), or a
 * replay session for recorded files. The connector code path is the same in every case.
 */
import type { PublisherConfig } from '../config/schema.js';
import { UsageError } from '../core/errors.js';
import type { FeedSession, Transport } from '../venues/connector.js';
import { createKrakenReplaySession, createKrakenSession, createKrakenTransport, krakenUrl } from '../venues/kraken/index.js';
import {
  createOandaReplaySession,
  createOandaSession,
  createOandaTransport,
  oandaTransportOptionsFromConfig,
} from '../venues/oanda/index.js';
import { createBetfairReplaySession, createBetfairSession, createBetfairTransport } from '../venues/betfair/index.js';
import { startKrakenSimulator } from '../simulators/kraken.js';
import { startOandaSimulator } from '../simulators/oanda.js';
import { startBetfairSimulator } from '../simulators/betfair.js';

export interface VenueSource {
  session: FeedSession;
  transport: Transport;
  /** Secrets in use, so logs and errors can be scrubbed of them. */
  secrets: string[];
  /** Stops the in-process simulator, if any. */
  close(): Promise<void>;
}

/** Credentials the simulators expect; they are not secrets (a simulator is local and throwaway). */
const SIM = {
  oandaToken: 'simulated-oanda-token',
  oandaAccount: '101-000-0000000-001',
  betfairAppKey: 'simulated-app-key',
  betfairSession: 'simulated-session',
};

export async function openVenueSource(cfg: PublisherConfig, env: NodeJS.ProcessEnv): Promise<VenueSource> {
  const src = cfg.source;
  if (src.type === 'replay')
    throw new UsageError(`publishers.${cfg.name}: a replay source is read with openReplaySession, not a transport`);
  const simulated = src.type === 'simulated';
  const faults = simulated ? src.faults : undefined;
  switch (cfg.venue) {
    case 'kraken': {
      if (simulated) {
        const sim = await startKrakenSimulator({ instruments: cfg.instruments, ratePerS: src.ratePerS, seed: src.seed, faults });
        return { session: createKrakenSession(cfg), transport: createKrakenTransport(sim.url), secrets: [], close: () => sim.close() };
      }
      return { session: createKrakenSession(cfg), transport: createKrakenTransport(krakenUrl(cfg)), secrets: [], close: async () => {} };
    }
    case 'oanda': {
      if (simulated) {
        const sim = await startOandaSimulator({
          instruments: cfg.instruments,
          ratePerS: src.ratePerS,
          seed: src.seed,
          token: SIM.oandaToken,
          faults,
          weekend: simulated && src.weekend,
        });
        const transport = createOandaTransport({
          baseUrl: sim.url,
          accountId: SIM.oandaAccount,
          token: SIM.oandaToken,
          instruments: cfg.instruments,
        });
        return { session: createOandaSession(cfg), transport, secrets: [], close: () => sim.close() };
      }
      const opts = oandaTransportOptionsFromConfig(cfg, env);
      return { session: createOandaSession(cfg), transport: createOandaTransport(opts), secrets: [opts.token], close: async () => {} };
    }
    case 'betfair': {
      if (simulated) {
        const sim = await startBetfairSimulator({
          markets: cfg.markets.length ? cfg.markets : ['1.100000001', '1.100000002'],
          ratePerS: src.ratePerS,
          seed: src.seed,
          appKey: SIM.betfairAppKey,
          sessionToken: SIM.betfairSession,
          faults,
        });
        const session = createBetfairSession(
          { ...cfg, markets: cfg.markets.length ? cfg.markets : ['1.100000001', '1.100000002'] },
          { appKey: SIM.betfairAppKey, sessionToken: SIM.betfairSession },
        );
        return {
          session,
          transport: createBetfairTransport({ host: sim.host, port: sim.port, ca: sim.ca }),
          secrets: [],
          close: () => sim.close(),
        };
      }
      const appKey = env[cfg.credentials.appKeyEnv];
      const sessionToken = env[cfg.credentials.sessionTokenEnv];
      const missing = [!appKey && cfg.credentials.appKeyEnv, !sessionToken && cfg.credentials.sessionTokenEnv].filter(Boolean);
      if (missing.length)
        throw new UsageError(`publishers.${cfg.name}: the Betfair stream needs ${missing.join(' and ')} set in the environment`);
      const session = createBetfairSession(cfg, { appKey: appKey!, sessionToken: sessionToken! });
      return { session, transport: createBetfairTransport({ host: cfg.host }), secrets: [appKey!, sessionToken!], close: async () => {} };
    }
  }
}

export const REPLAY_VENUES = ['kraken', 'oanda', 'betfair'] as const;
export type ReplayVenue = (typeof REPLAY_VENUES)[number];

/** A session that accepts recorded frames of a venue (any protocol version the venue's recordings use). */
export function openReplaySession(venue: ReplayVenue, publishLevels = 10): FeedSession {
  switch (venue) {
    case 'kraken':
      return createKrakenReplaySession({ publishLevels });
    case 'oanda':
      return createOandaReplaySession();
    case 'betfair':
      return createBetfairReplaySession();
  }
}
