/**
 * The publishing side of the bus: a ZeroMQ PUB socket that stamps records with the bus fields
 * (version, topic, publisher, session, seq) and sends them as `[topic, msgpack([records...])]`.
 *
 * Batching: records handed over within `batchMs` of the first one waiting (or, with 0, in the same
 * event-loop turn) go out in one message, up to `maxBatchRecords`. This is what makes 300k+ records/s
 * possible between two processes, and at venue rates (one record per venue message) it is what keeps
 * every reader from paying a ZeroMQ message and a decode per record.
 * Slow subscribers: PUB is lossy by design (ZeroMQ drops at the high-water mark per subscriber);
 * subscribers detect it from holes in `seq`, and the heartbeat's `seq` exposes loss at the tail.
 */
import { randomUUID } from 'node:crypto';
import { Publisher } from 'zeromq';
import { HEARTBEAT_TOPIC, WIRE_FORMAT_VERSION, type BusRecord, type Draft, type HeartbeatRecord, type Venue } from '../core/records.js';
import { systemClock, type Clock } from '../core/clock.js';
import { encodeBatch } from './codec.js';
import { curveServerSocketOptions, type CurveServerKeys } from './curve.js';

export interface BusPublisherOptions {
  /** `tcp://127.0.0.1:5558` */
  endpoint: string;
  publisher: string;
  venue: Venue;
  /** Data topic. */
  topic: string;
  /** Messages queued per subscriber before ZeroMQ drops (each message is a batch). */
  sendHwm?: number;
  /** How long close() waits for queued messages to leave, ms. */
  lingerMs?: number;
  maxBatchRecords?: number;
  /**
   * Longest a record waits for others to share its message, ms (0 = only those handed over in the
   * same event-loop turn). A heartbeat, drain() and a full batch send at once.
   */
  batchMs?: number;
  /** Largest accepted message on the socket (bytes). */
  maxMessageBytes?: number;
  clock?: Clock;
  session?: string;
  /** CURVE server keys (config bus.curve): encrypted bus, readers must hold the public key. */
  curve?: CurveServerKeys;
  /**
   * Called with every data batch and its encoded payload as it is handed to the socket, in seq
   * order (the publisher's journal keeps the payload instead of encoding the records a second time).
   */
  onEncoded?: (records: readonly BusRecord[], payload: Buffer) => void;
}

export interface BusPublisherStats {
  records_out: number;
  messages_out: number;
  send_errors: number;
  heartbeats_out: number;
  last_seq: number;
  /** Drafts handed to publish() after close(): not sent, given no seq. */
  closed_drops: number;
}

export class BusPublisher {
  readonly session: string;
  private readonly sock: Publisher;
  private seq = 0;
  private pending: BusRecord[] = [];
  private flushScheduled = false;
  private flushTimer: NodeJS.Timeout | undefined;
  private sending: Promise<void> = Promise.resolve();
  private readonly clock: Clock;
  private readonly maxBatch: number;
  readonly stats: BusPublisherStats = { records_out: 0, messages_out: 0, send_errors: 0, heartbeats_out: 0, last_seq: 0, closed_drops: 0 };
  private hbTimer: NodeJS.Timeout | undefined;
  private closed = false;

  private constructor(private readonly opts: BusPublisherOptions) {
    this.session = opts.session ?? randomUUID();
    this.clock = opts.clock ?? systemClock;
    this.maxBatch = opts.maxBatchRecords ?? 1024;
    this.sock = new Publisher({
      sendHighWaterMark: opts.sendHwm ?? 100_000,
      linger: opts.lingerMs ?? 5_000,
      ...curveServerSocketOptions(opts.curve),
    });
  }

  static async bind(opts: BusPublisherOptions): Promise<BusPublisher> {
    const p = new BusPublisher(opts);
    await p.sock.bind(opts.endpoint);
    return p;
  }

  /**
   * Stamp and queue drafts for sending; returns the records as published (with seq). After close()
   * nothing is stamped or sent: the drafts are counted in `closed_drops` and [] is returned.
   */
  publish(drafts: readonly Draft[]): BusRecord[] {
    if (this.closed) {
      this.stats.closed_drops += drafts.length;
      return [];
    }
    const out: BusRecord[] = [];
    for (const d of drafts) {
      const rec = {
        v: WIRE_FORMAT_VERSION,
        topic: this.opts.topic,
        publisher: this.opts.publisher,
        session: this.session,
        seq: ++this.seq,
        ...d,
      } as BusRecord;
      out.push(rec);
      this.pending.push(rec);
    }
    if (this.pending.length >= this.maxBatch) this.flushNow();
    else if (!this.flushScheduled && this.pending.length) {
      this.flushScheduled = true;
      const ms = this.opts.batchMs ?? 0;
      if (ms > 0) this.flushTimer = setTimeout(() => this.flushNow(), ms);
      else setImmediate(() => this.flushNow());
    }
    return out;
  }

  private flushNow(): void {
    this.flushScheduled = false;
    if (this.flushTimer) {
      clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
    }
    while (this.pending.length) {
      const batch = this.pending.splice(0, this.maxBatch);
      this.enqueue(this.opts.topic, batch);
    }
  }

  private enqueue(topic: string, batch: BusRecord[]): void {
    const payload = encodeBatch(batch);
    const isHb = topic === HEARTBEAT_TOPIC;
    if (!isHb) this.opts.onEncoded?.(batch, payload);
    this.sending = this.sending.then(async () => {
      try {
        await this.sock.send([topic, payload]);
        this.stats.messages_out++;
        if (isHb) this.stats.heartbeats_out++;
        else {
          this.stats.records_out += batch.length;
          this.stats.last_seq = batch[batch.length - 1]!.seq;
        }
      } catch {
        this.stats.send_errors++;
      }
    });
  }

  /** Send one heartbeat now on the reserved topic. */
  heartbeat(info: { connected: boolean; lastVenueMsgAgeMs: number }): void {
    if (this.closed) return;
    const now = this.clock.nowUs();
    const hb: HeartbeatRecord = {
      v: WIRE_FORMAT_VERSION,
      topic: HEARTBEAT_TOPIC,
      venue: this.opts.venue,
      kind: 'heartbeat',
      publisher: this.opts.publisher,
      session: this.session,
      seq: this.seq,
      ts_event_us: now,
      ts_recv_us: now,
      instrument: '',
      data_topic: this.opts.topic,
      last_venue_msg_age_ms: info.lastVenueMsgAgeMs,
      connected: info.connected,
    };
    // Data queued in this turn goes first, so the heartbeat's seq never runs ahead of the data.
    this.flushNow();
    this.enqueue(HEARTBEAT_TOPIC, [hb]);
  }

  /** Heartbeat every `intervalMs` with the state `info()` reports. */
  startHeartbeats(info: () => { connected: boolean; lastVenueMsgAgeMs: number }, intervalMs = 1000): void {
    this.hbTimer = setInterval(() => this.heartbeat(info()), intervalMs);
    this.hbTimer.unref();
  }

  /** Everything queued so far has been handed to ZeroMQ. */
  async drain(): Promise<void> {
    this.flushNow();
    await this.sending;
  }

  get lastSeq(): number {
    return this.seq;
  }

  async close(): Promise<void> {
    if (this.hbTimer) clearInterval(this.hbTimer);
    // From here publish() refuses: a record stamped now could only be sent on a closed socket.
    this.closed = true;
    await this.drain();
    this.sock.close();
  }
}
