/**
 * Retransmission on the bus (docs/wire-format.md, "Retransmission"): each publisher answers requests
 * for ranges of its journal on a ZeroMQ ROUTER socket of its own (`retransmitPort`); a subscriber asks
 * on a DEALER socket.
 *
 *   request (one frame, msgpack map):  {id, session, first, last}
 *   reply   (one frame per chunk):     {id, session, first, last, records: [...], unavailable: [[a, b], ...], done}
 *
 * A reply chunk covers `first..last` of the request: every seq of it is either in `records` (bus
 * records exactly as published) or inside one of the `unavailable` ranges (no longer in the journal,
 * or of another session). The chunk with `done: true` is the last one for that request id.
 */
import { Dealer, Router, type Socket } from 'zeromq';
import { Packr } from 'msgpackr';
import type { BusRecord } from '../core/records.js';
import { encodeBatch, WIRE_PACKR_OPTIONS, wireInt } from './codec.js';
import type { PublishJournal } from './journal.js';
import { curveClientSocketOptions, curveServerSocketOptions, type CurveClientKeys, type CurveServerKeys } from './curve.js';

// The bus codec's options and int64 rule: retransmission frames follow the same wire contract.
const packr = new Packr({ ...WIRE_PACKR_OPTIONS });

export interface RetransmitRequest {
  id: number;
  session: string;
  first: number;
  last: number;
}

export interface RetransmitReply extends RetransmitRequest {
  records: BusRecord[];
  unavailable: [number, number][];
  done: boolean;
}

export class RetransmitProtocolError extends Error {
  readonly code = 'E_RETRANSMIT_PROTOCOL';
}

/** Connection events of a retransmission socket worth a log line (not the retries while a peer is down). */
export const CONNECTION_EVENTS = [
  'accept',
  'accept:error',
  'connect',
  'disconnect',
  'handshake',
  'handshake:error:protocol',
  'handshake:error:auth',
  'handshake:error:other',
] as const;
export type ConnectionEvent = (typeof CONNECTION_EVENTS)[number];

/** Reports each connection event of `sock` (ZeroMQ's socket monitor) with its peer address. */
function observeConnections(sock: Socket, on: ((ev: ConnectionEvent, address: string, error?: string) => void) | undefined): void {
  if (!on) return;
  for (const type of CONNECTION_EVENTS)
    sock.events.on(type, (e) =>
      on(type, 'address' in e ? String(e.address) : '', 'error' in e && e.error ? String((e.error as Error).message) : undefined),
    );
}

const isSeq = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

export function encodeRequest(req: RetransmitRequest): Buffer {
  return packr.pack({ id: req.id, session: req.session, first: wireInt(req.first), last: wireInt(req.last) });
}

export function decodeRequest(buf: Uint8Array): RetransmitRequest {
  let v: unknown;
  try {
    v = packr.unpack(buf);
  } catch (e) {
    throw new RetransmitProtocolError(`request is not msgpack: ${(e as Error).message}`);
  }
  const m = v as Record<string, unknown> | null;
  if (!m || typeof m !== 'object' || typeof m.session !== 'string' || !isSeq(m.first) || !isSeq(m.last))
    throw new RetransmitProtocolError('request must be a map {session: str, first: int, last: int}');
  return { id: isSeq(m.id) ? m.id : 0, session: m.session, first: m.first, last: m.last };
}

/**
 * One reply chunk. The records go through the bus codec (so they are byte-for-byte what a bus payload
 * holds) and are spliced into the map: msgpack is concatenative, a map is its header then key, value...
 */
export function encodeReply(r: RetransmitReply): Buffer {
  const parts: Buffer[] = [Buffer.from([0x87])];
  const kv = (k: string, v: unknown) => parts.push(packr.pack(k), packr.pack(v));
  kv('id', r.id);
  kv('session', r.session);
  kv('first', wireInt(r.first));
  kv('last', wireInt(r.last));
  kv(
    'unavailable',
    r.unavailable.map(([a, b]) => [wireInt(a), wireInt(b)]),
  );
  kv('done', r.done);
  parts.push(packr.pack('records'), encodeBatch(r.records));
  return Buffer.concat(parts);
}

export function decodeReply(buf: Uint8Array): RetransmitReply {
  let v: unknown;
  try {
    v = packr.unpack(buf);
  } catch (e) {
    throw new RetransmitProtocolError(`reply is not msgpack: ${(e as Error).message}`);
  }
  const m = v as Record<string, unknown> | null;
  if (!m || typeof m !== 'object' || typeof m.session !== 'string' || !isSeq(m.first) || !isSeq(m.last) || !Array.isArray(m.records))
    throw new RetransmitProtocolError('reply must be a map {session, first, last, records, unavailable}');
  const unavailable = Array.isArray(m.unavailable)
    ? (m.unavailable as unknown[]).filter((x): x is [number, number] => Array.isArray(x) && isSeq(x[0]) && isSeq(x[1]))
    : [];
  const records = (m.records as unknown[]).filter(
    (x): x is BusRecord => typeof x === 'object' && x !== null && isSeq((x as BusRecord).seq) && (x as BusRecord).session === m.session,
  );
  return { id: isSeq(m.id) ? m.id : 0, session: m.session, first: m.first, last: m.last, records, unavailable, done: m.done !== false };
}

export interface RetransmitServerOptions {
  /** `tcp://127.0.0.1:6658` */
  endpoint: string;
  journal: PublishJournal;
  /** Records per reply chunk. */
  maxChunkRecords?: number;
  onRequest?: (req: RetransmitRequest, result: { records: number; unavailable: number }) => void;
  onError?: (err: Error) => void;
  /** CURVE server keys, the bus's own (config bus.curve): retransmitted records are as private as live ones. */
  curve?: CurveServerKeys;
  /**
   * The receive loop wakes up at least this often (ms) and asks the socket again: a guard against a
   * missed wake-up of ZeroMQ's edge-triggered socket descriptor, which would leave requests unread.
   * (The case it was added for, recovery-gaps (a) with requests never answered, was the test stopping
   * the publisher before the subscriber asked; the connection events in the log showed it.)
   */
  receiveTimeoutMs?: number;
  /** A reply chunk that cannot be queued for this long (the subscriber gone, its queue full) is given up. */
  sendTimeoutMs?: number;
  /** Each subscriber connection accepted, handshaken or lost (for the log: a request that never arrives is then placed). */
  onConnectionEvent?: (ev: ConnectionEvent, address: string, error?: string) => void;
}

export interface RetransmitServerStats {
  requests: number;
  records_sent: number;
  records_unavailable: number;
  bad_requests: number;
}

/** The publisher's side: answers range requests from its journal. */
export class RetransmitServer {
  private readonly sock: Router;
  readonly stats: RetransmitServerStats = { requests: 0, records_sent: 0, records_unavailable: 0, bad_requests: 0 };
  private loop: Promise<void> = Promise.resolve();

  private constructor(private readonly opts: RetransmitServerOptions) {
    // Replies to a slow subscriber queue here rather than being dropped; linger 0: a stopping publisher
    // does not wait for a subscriber that went away.
    this.sock = new Router({
      sendHighWaterMark: 10_000,
      linger: 0,
      maxMessageSize: 64 * 1024 * 1024,
      receiveTimeout: opts.receiveTimeoutMs ?? 1000,
      sendTimeout: opts.sendTimeoutMs ?? 10_000,
      ...curveServerSocketOptions(opts.curve),
    });
    observeConnections(this.sock, opts.onConnectionEvent);
  }

  static async bind(opts: RetransmitServerOptions): Promise<RetransmitServer> {
    const s = new RetransmitServer(opts);
    await s.sock.bind(opts.endpoint);
    s.loop = s.run();
    return s;
  }

  private async run(): Promise<void> {
    while (!this.sock.closed) {
      let frames: Buffer[];
      try {
        frames = await this.sock.receive();
      } catch (e) {
        if (this.sock.closed) return;
        // The receive timeout: nothing came; ask again (see receiveTimeoutMs).
        if ((e as { code?: string }).code !== 'EAGAIN') this.opts.onError?.(e as Error);
        continue;
      }
      const [identity, payload] = frames;
      if (!identity || !payload) continue;
      let req: RetransmitRequest;
      try {
        req = decodeRequest(payload);
      } catch (e) {
        this.stats.bad_requests++;
        this.opts.onError?.(e as Error);
        continue;
      }
      try {
        await this.answer(identity, req);
      } catch (e) {
        if (this.sock.closed) return;
        this.opts.onError?.(e as Error);
      }
    }
  }

  private async answer(identity: Buffer, req: RetransmitRequest): Promise<void> {
    this.stats.requests++;
    const max = this.opts.maxChunkRecords ?? 2000;
    let sent = 0;
    let missing = 0;
    let from = req.first;
    // An absurd range (a subscriber down for days) must not cost a reply per page of nothing: the part
    // outside what the journal holds is named in one chunk.
    this.opts.journal.seal();
    const st = this.opts.journal.stats();
    const holds = this.opts.journal.session === req.session && st.records > 0;
    do {
      let to: number;
      let chunk: { records: BusRecord[]; unavailable: [number, number][] };
      if (!holds || from < st.first_seq || from > st.last_seq) {
        to = !holds ? req.last : from < st.first_seq ? Math.min(req.last, st.first_seq - 1) : req.last;
        chunk = { records: [], unavailable: [[from, to]] };
      } else {
        to = Math.min(req.last, from + max - 1);
        chunk = this.opts.journal.range(req.session, from, to);
      }
      const done = to >= req.last;
      for (const [a, b] of chunk.unavailable) missing += b - a + 1;
      sent += chunk.records.length;
      await this.sock.send([identity, encodeReply({ ...req, first: from, last: to, ...chunk, done })]);
      from = to + 1;
      if (done) break;
    } while (!this.sock.closed);
    this.stats.records_sent += sent;
    this.stats.records_unavailable += missing;
    this.opts.onRequest?.(req, { records: sent, unavailable: missing });
  }

  async close(): Promise<void> {
    if (!this.sock.closed) this.sock.close();
    await this.loop;
  }
}

export interface RetransmitClientOptions {
  /** `tcp://127.0.0.1:6658` */
  endpoint: string;
  onReply: (reply: RetransmitReply) => void;
  onError?: (err: Error) => void;
  /** CURVE client keys (config bus.curve); without the server's public key no request gets through. */
  curve?: CurveClientKeys;
  /**
   * A request asked while an earlier one has had no reply chunk at all for this long opens a new
   * connection first (the old socket is closed), in case the old one is wedged. Default 8 s: above the
   * gap recovery's repeat interval, so the second repeat of an unanswered request goes out afresh.
   */
  resetAfterMs?: number;
  /** Called when the connection is replaced (for the log). */
  onReset?: (waitedMs: number) => void;
  /** Each connection made, handshaken or lost (for the log). */
  onConnectionEvent?: (ev: ConnectionEvent, address: string, error?: string) => void;
  /** Monotonic ms (tests). */
  nowMs?: () => number;
}

export interface RetransmitClientStats {
  /** Requests asked for. */
  requests: number;
  /** Requests handed to ZeroMQ (the send resolved). */
  sent: number;
  /** Reply chunks received. */
  replies: number;
  /** Times the connection was replaced because nothing answered (resetAfterMs). */
  resets: number;
}

/** The subscriber's side: one per publisher it reads. */
export class RetransmitClient {
  private sock!: Dealer;
  private nextId = 1;
  private readonly loops = new Set<Promise<void>>();
  private sending: Promise<void> = Promise.resolve();
  private closing = false;
  /** Since when a request has been waiting with no reply chunk since (undefined: nothing waiting). */
  private waitingSinceMs: number | undefined;
  private readonly nowMs: () => number;
  readonly stats: RetransmitClientStats = { requests: 0, sent: 0, replies: 0, resets: 0 };

  constructor(private readonly opts: RetransmitClientOptions) {
    this.nowMs = opts.nowMs ?? (() => performance.now());
    this.open();
  }

  private open(): void {
    const sock = new Dealer({
      linger: 0,
      maxMessageSize: 64 * 1024 * 1024,
      receiveHighWaterMark: 10_000,
      reconnectInterval: 100,
      reconnectMaxInterval: 1000,
      ...curveClientSocketOptions(this.opts.curve),
    });
    observeConnections(sock, this.opts.onConnectionEvent);
    sock.connect(this.opts.endpoint);
    this.sock = sock;
    this.sending = Promise.resolve();
    const loop: Promise<void> = this.run(sock).finally(() => this.loops.delete(loop));
    this.loops.add(loop);
  }

  private async run(sock: Dealer): Promise<void> {
    while (!sock.closed) {
      let frames: Buffer[];
      try {
        frames = await sock.receive();
      } catch (e) {
        if (sock.closed) return;
        this.opts.onError?.(e as Error);
        continue;
      }
      const payload = frames[frames.length - 1];
      if (!payload) continue;
      this.stats.replies++;
      this.waitingSinceMs = undefined;
      try {
        this.opts.onReply(decodeReply(payload));
      } catch (e) {
        this.opts.onError?.(e as Error);
      }
    }
  }

  /** Ask for `first..last` of `session`; replies arrive through `onReply`. Returns the request id. */
  request(session: string, first: number, last: number): number {
    if (this.closing) return 0;
    const now = this.nowMs();
    const resetAfterMs = this.opts.resetAfterMs ?? 8000;
    if (this.waitingSinceMs !== undefined && now - this.waitingSinceMs >= resetAfterMs) {
      // Nothing has come back for a while although we asked: start over on a new connection (a reply
      // to the old one is lost with it, which the caller's repeat covers).
      const waited = now - this.waitingSinceMs;
      this.sock.close();
      this.stats.resets++;
      this.waitingSinceMs = undefined;
      this.open();
      this.opts.onReset?.(waited);
    }
    this.waitingSinceMs ??= now;
    const id = this.nextId++;
    this.stats.requests++;
    // DEALER queues while connecting; a publisher that is gone never answers and the hold deadline
    // of the caller settles it.
    // One send at a time on a zeromq.js socket: requests queue behind each other.
    const msg = encodeRequest({ id, session, first, last });
    const sock = this.sock;
    this.sending = this.sending
      .then(() => sock.send(msg))
      .then(() => {
        this.stats.sent++;
      })
      .catch((e: Error) => {
        if (!sock.closed) this.opts.onError?.(e);
      });
    return id;
  }

  async close(): Promise<void> {
    this.closing = true;
    if (!this.sock.closed) this.sock.close();
    await Promise.all([...this.loops]);
  }
}
