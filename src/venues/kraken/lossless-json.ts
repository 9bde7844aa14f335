/**
 * A strict JSON parser that keeps number lexemes as text.
 *
 * Kraken v2 writes prices and quantities as JSON numbers at full precision (`1797.30`,
 * `0.00000000`) and 64-bit ids (`connection_id`) that exceed 2^53; `JSON.parse` would turn the first
 * into `1797.3` (breaking the book checksum) and round the second. Node 20 has no source-text
 * access in `JSON.parse`, so this parser returns every number as a {@link JsonNum} holding its
 * exact lexeme. It accepts exactly RFC 8259 JSON (what `JSON.parse` accepts) and throws a
 * `SyntaxError` otherwise; nesting is capped so hostile input cannot exhaust the stack.
 */

/** A JSON number kept as its exact source text. */
export class JsonNum {
  constructor(readonly text: string) {}
}

export type JsonValue = null | boolean | string | JsonNum | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

const MAX_DEPTH = 64;
const NUMBER_RE = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

const ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

/** Parse JSON text; numbers come back as {@link JsonNum}. Throws `SyntaxError` on invalid input. */
export function parseLosslessJson(text: string): JsonValue {
  let pos = 0;
  const n = text.length;

  const fail = (what: string): never => {
    throw new SyntaxError(`${what} at position ${pos}`);
  };

  const skipWs = (): void => {
    while (pos < n) {
      const c = text.charCodeAt(pos);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) pos++;
      else break;
    }
  };

  const parseString = (): string => {
    // text[pos] is the opening quote
    pos++;
    const start = pos;
    while (pos < n) {
      const c = text.charCodeAt(pos);
      if (c === 0x22) {
        const s = text.slice(start, pos);
        pos++;
        return s;
      }
      if (c === 0x5c) break;
      if (c < 0x20) fail('control character in string');
      pos++;
    }
    // slow path: escapes
    let out = text.slice(start, pos);
    while (pos < n) {
      const c = text.charCodeAt(pos);
      if (c === 0x22) {
        pos++;
        return out;
      }
      if (c < 0x20) fail('control character in string');
      if (c === 0x5c) {
        const e = text[pos + 1];
        if (e === undefined) fail('unterminated escape');
        if (e === 'u') {
          const hex = text.slice(pos + 2, pos + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('bad unicode escape');
          out += String.fromCharCode(parseInt(hex, 16));
          pos += 6;
        } else {
          const r = ESCAPES[e as string];
          if (r === undefined) fail('bad escape');
          out += r;
          pos += 2;
        }
      } else {
        out += text[pos];
        pos++;
      }
    }
    return fail('unterminated string');
  };

  const parseValue = (depth: number): JsonValue => {
    if (depth > MAX_DEPTH) fail('nesting too deep');
    skipWs();
    if (pos >= n) fail('unexpected end');
    const c = text.charCodeAt(pos);
    if (c === 0x7b) {
      // {
      pos++;
      const obj = Object.create(null) as JsonObject;
      skipWs();
      if (text.charCodeAt(pos) === 0x7d) {
        pos++;
        return obj;
      }
      for (;;) {
        skipWs();
        if (text.charCodeAt(pos) !== 0x22) fail('expected key');
        const key = parseString();
        skipWs();
        if (text.charCodeAt(pos) !== 0x3a) fail("expected ':'");
        pos++;
        obj[key] = parseValue(depth + 1);
        skipWs();
        const d = text.charCodeAt(pos);
        if (d === 0x2c) {
          pos++;
          continue;
        }
        if (d === 0x7d) {
          pos++;
          return obj;
        }
        fail("expected ',' or '}'");
      }
    }
    if (c === 0x5b) {
      // [
      pos++;
      const arr: JsonValue[] = [];
      skipWs();
      if (text.charCodeAt(pos) === 0x5d) {
        pos++;
        return arr;
      }
      for (;;) {
        arr.push(parseValue(depth + 1));
        skipWs();
        const d = text.charCodeAt(pos);
        if (d === 0x2c) {
          pos++;
          continue;
        }
        if (d === 0x5d) {
          pos++;
          return arr;
        }
        fail("expected ',' or ']'");
      }
    }
    if (c === 0x22) return parseString();
    if (c === 0x74 && text.startsWith('true', pos)) {
      pos += 4;
      return true;
    }
    if (c === 0x66 && text.startsWith('false', pos)) {
      pos += 5;
      return false;
    }
    if (c === 0x6e && text.startsWith('null', pos)) {
      pos += 4;
      return null;
    }
    NUMBER_RE.lastIndex = pos;
    const m = NUMBER_RE.exec(text);
    if (!m) return fail('unexpected character');
    pos += m[0].length;
    return new JsonNum(m[0]);
  };

  const v = parseValue(0);
  skipWs();
  if (pos !== n) fail('unexpected trailing text');
  return v;
}
