/**
 * The consuming side of the bus: a ZeroMQ SUB socket connected to one or more publishers,
 * subscribed to topic prefixes (and the heartbeat topic). Undecodable payloads are counted, one
 * sample is logged per process, and the subscriber goes on.
 */
import { Subscriber } from 'zeromq';
import { HEARTBEAT_TOPIC, type BusRecord } from '../core/records.js';
import { decodeBatch } from './codec.js';
import { curveClientSocketOptions, type CurveClientKeys } from './curve.js';

export interface BusSubscriberOptions {
  endpoints: string[];
  /** Topic prefixes; '' = everything. */
  topics: string[];
  heartbeats?: boolean;
  rcvHwm?: number;
  /** Larger messages drop the connection (ZeroMQ maxMessageSize); config bus.maxMessageBytes. */
  maxMessageBytes?: number;
  /** CURVE client keys (config bus.curve); without the server's public key nothing is received. */
  curve?: CurveClientKeys;
  /** Called once with a sample of the first undecodable payload. */
  onDecodeError?: (err: Error, sampleHex: string) => void;
}

export interface BusSubscriberStats {
  messages_in: number;
  records_in: number;
  decode_errors: number;
}

export class BusSubscriber {
  private readonly sock: Subscriber;
  readonly stats: BusSubscriberStats = { messages_in: 0, records_in: 0, decode_errors: 0 };
  private sampled = false;

  constructor(private readonly opts: BusSubscriberOptions) {
    this.sock = new Subscriber({
      receiveHighWaterMark: opts.rcvHwm ?? 100_000,
      maxMessageSize: opts.maxMessageBytes ?? 64 * 1024 * 1024,
      linger: 0,
      // Reconnect fast after a publisher restart: what it sends before we are back is lost.
      reconnectInterval: 100,
      reconnectMaxInterval: 1000,
      ...curveClientSocketOptions(opts.curve),
    });
    for (const t of opts.topics) this.sock.subscribe(t);
    if (opts.heartbeats !== false && !opts.topics.includes('')) this.sock.subscribe(HEARTBEAT_TOPIC);
    for (const e of opts.endpoints) this.sock.connect(e);
  }

  /** Records in arrival order, one decoded batch at a time. Ends when the socket is closed. */
  async *batches(): AsyncGenerator<BusRecord[]> {
    // An explicit receive loop (not `for await` over the socket): breaking out of the consumer's loop
    // then ends this generator at its `yield` without waiting on a receive that may never complete.
    while (!this.sock.closed) {
      let frames: Buffer[];
      try {
        frames = await this.sock.receive();
      } catch (e) {
        if (this.sock.closed) return;
        throw e;
      }
      this.stats.messages_in++;
      const payload = frames[1];
      if (!payload) {
        this.countError(new Error('message without payload frame'), frames[0] ?? Buffer.alloc(0));
        continue;
      }
      let records: BusRecord[];
      try {
        records = decodeBatch(payload);
      } catch (e) {
        this.countError(e as Error, payload);
        continue;
      }
      this.stats.records_in += records.length;
      yield records;
    }
  }

  private countError(err: Error, payload: Uint8Array): void {
    this.stats.decode_errors++;
    if (!this.sampled) {
      this.sampled = true;
      this.opts.onDecodeError?.(err, Buffer.from(payload.subarray(0, 64)).toString('hex'));
    }
  }

  close(): void {
    if (!this.sock.closed) this.sock.close();
  }
}

/** `tcp://host:port` for a config host and port. */
export function tcpEndpoint(host: string, port: number): string {
  return `tcp://${host.includes(':') ? `[${host}]` : host}:${port}`;
}
