/**
 * Kraken L2 book per symbol and its CRC32 checksum (../shared/reference/venues.md §1.4).
 *
 * Levels are kept sorted best-first in arrays; an update is a binary search plus one splice, so no
 * update re-sorts a side. Prices are ordered by their float value (distinct decimal texts of up to
 * 15 significant digits map to distinct, order-preserving doubles, and "1797.3" / "1797.30" meet at
 * the same level) while the text the venue wrote is kept for output and the checksum.
 */
import type { Decimal, Level } from '../../core/records.js';

/** CRC32 (IEEE 802.3, reflected polynomial 0xEDB88320, as zlib), one table lookup per byte. */
const CRC_TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

/** Feed the (ASCII) characters of `s` into a running CRC32 state (start with -1 / 0xffffffff). */
export function crc32Update(crc: number, s: string): number {
  for (let i = 0; i < s.length; i++) crc = (CRC_TABLE[(crc ^ s.charCodeAt(i)) & 0xff] as number) ^ (crc >>> 8);
  return crc;
}

/** CRC32 of an ASCII string as an unsigned 32-bit integer (equals zlib.crc32). */
export function crc32(s: string): number {
  return (crc32Update(-1, s) ^ -1) >>> 0;
}

/**
 * Rewrite decimal text with exactly `decimals` fraction digits (pad with zeros; extra digits are
 * cut, which only happens if the venue sent more digits than the instrument's precision).
 */
export function fixDecimals(text: string, decimals: number): string {
  if (text.includes('e') || text.includes('E')) {
    const n = Number(text);
    // toFixed is exact while the scaled value stays below 2^53
    if (Math.abs(n) * 10 ** decimals < 2 ** 53) return n.toFixed(decimals);
  }
  const dot = text.indexOf('.');
  const int = dot < 0 ? text : text.slice(0, dot);
  const frac = dot < 0 ? '' : text.slice(dot + 1);
  if (decimals === 0) return int;
  return `${int}.${frac.length >= decimals ? frac.slice(0, decimals) : frac.padEnd(decimals, '0')}`;
}

/** One checksum piece: the decimal text (optionally at a fixed precision) without '.', leading zeros stripped. */
export function checksumPiece(text: string, decimals: number | undefined): string {
  const t = decimals === undefined ? text : fixDecimals(text, decimals);
  let out = '';
  let i = 0;
  const n = t.length;
  while (i < n && (t.charCodeAt(i) === 0x30 || t.charCodeAt(i) === 0x2e)) i++;
  for (; i < n; i++) {
    const c = t.charCodeAt(i);
    if (c !== 0x2e) out += t[i];
  }
  return out;
}

/** True when a decimal text is zero ("0", "0.00000000"). */
export function isZeroDecimal(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x31 && c <= 0x39) return false;
    if (c === 0x65 || c === 0x45) break; // exponent: mantissa digits decided it
  }
  return true;
}

export interface BookLevel {
  /** Sort key: the price as a double. */
  readonly key: number;
  readonly price: Decimal;
  qty: Decimal;
  /** Cached checksum piece (price + qty) at the current precisions. */
  piece: string | undefined;
}

export type BookSide = 'bid' | 'ask';

/** Index of `key` in a best-first side, or -(insertion point) - 1. */
function search(levels: BookLevel[], key: number, ascending: boolean): number {
  let lo = 0;
  let hi = levels.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const k = (levels[mid] as BookLevel).key;
    if (k === key) return mid;
    if (ascending ? k < key : k > key) lo = mid + 1;
    else hi = mid - 1;
  }
  return -lo - 1;
}

/** A Kraken L2 book for one symbol: feed snapshot/update levels, then `truncate()` and `checksum()`. */
export class KrakenBook {
  /** Best first: ascending price. */
  readonly asks: BookLevel[] = [];
  /** Best first: descending price. */
  readonly bids: BookLevel[] = [];
  private pricePrecision: number | undefined;
  private qtyPrecision: number | undefined;

  /**
   * @param depth subscribed depth: levels beyond it are dropped by `truncate()`
   * @param pricePrecision / qtyPrecision from the instrument channel; undefined = the text as received
   */
  constructor(
    public depth: number,
    pricePrecision?: number,
    qtyPrecision?: number,
  ) {
    this.pricePrecision = pricePrecision;
    this.qtyPrecision = qtyPrecision;
  }

  /** Change the checksum formatting precisions (instrument channel update). */
  setPrecision(pricePrecision: number | undefined, qtyPrecision: number | undefined): void {
    if (pricePrecision === this.pricePrecision && qtyPrecision === this.qtyPrecision) return;
    this.pricePrecision = pricePrecision;
    this.qtyPrecision = qtyPrecision;
    for (const l of this.asks) l.piece = undefined;
    for (const l of this.bids) l.piece = undefined;
  }

  clear(): void {
    this.asks.length = 0;
    this.bids.length = 0;
  }

  /**
   * Apply one level: qty 0 deletes the price, anything else inserts or overwrites it. Returns false
   * (and changes nothing) when the price is not a finite number.
   */
  apply(side: BookSide, price: Decimal, qty: Decimal): boolean {
    const key = Number(price);
    if (!Number.isFinite(key)) return false;
    const ascending = side === 'ask';
    const levels = ascending ? this.asks : this.bids;
    const i = search(levels, key, ascending);
    if (isZeroDecimal(qty)) {
      if (i >= 0) levels.splice(i, 1);
    } else if (i >= 0) {
      const l = levels[i] as BookLevel;
      l.qty = qty;
      l.piece = undefined;
    } else {
      levels.splice(-i - 1, 0, { key, price, qty, piece: undefined });
    }
    return true;
  }

  /** Keep the best `depth` levels per side (Kraken sends no deletes for levels leaving the window). */
  truncate(): void {
    if (this.asks.length > this.depth) this.asks.length = this.depth;
    if (this.bids.length > this.depth) this.bids.length = this.depth;
  }

  /** CRC32 over the top 10 asks (ascending) then the top 10 bids (descending), unsigned. */
  checksum(): number {
    let crc = -1;
    crc = this.crcSide(this.asks, crc);
    crc = this.crcSide(this.bids, crc);
    return (crc ^ -1) >>> 0;
  }

  private crcSide(levels: BookLevel[], crc: number): number {
    const n = levels.length < 10 ? levels.length : 10;
    for (let i = 0; i < n; i++) {
      const l = levels[i] as BookLevel;
      let piece = l.piece;
      if (piece === undefined) {
        piece = checksumPiece(l.price, this.pricePrecision) + checksumPiece(l.qty, this.qtyPrecision);
        l.piece = piece;
      }
      crc = crc32Update(crc, piece);
    }
    return crc;
  }

  /** The best `n` levels of a side as [price, qty] text, best first. */
  top(side: BookSide, n: number): Level[] {
    const levels = side === 'ask' ? this.asks : this.bids;
    const m = Math.min(n, levels.length);
    const out: Level[] = new Array<Level>(m);
    for (let i = 0; i < m; i++) {
      const l = levels[i] as BookLevel;
      out[i] = [l.price, l.qty];
    }
    return out;
  }
}
