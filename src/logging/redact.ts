/** Secret scrubbing for strings that are logged or shown (error messages, command lines, URLs). Pure. */

export const REDACTED = '[redacted]';

/** Secrets shorter than this are not scrubbed: replacing "1" or "ab" everywhere would mangle every line. */
export const MIN_SECRET_LENGTH = 4;

/**
 * Replace every occurrence of each secret value in `text` with `[redacted]` (longest first, so a secret that
 * contains another is removed whole). Also covers the URL-encoded form, which is how a password shows up in a URL.
 */
export function scrubSecrets(text: string, secrets: Iterable<string | undefined | null>): string {
  const values = new Set<string>();
  for (const s of secrets) {
    if (typeof s !== 'string' || s.length < MIN_SECRET_LENGTH) continue;
    values.add(s);
    values.add(encodeURIComponent(s));
  }
  let out = text;
  for (const v of [...values].sort((a, b) => b.length - a.length)) out = out.split(v).join(REDACTED);
  return out;
}

/** The values of the named environment variables that are set (for `scrubSecrets`). */
export function secretValuesFromEnv(names: Iterable<string | undefined>, env: NodeJS.ProcessEnv = process.env): string[] {
  const out: string[] = [];
  for (const n of names) {
    const v = n ? env[n] : undefined;
    if (v) out.push(v);
  }
  return out;
}

/** Make a scrubber bound to a fixed set of secrets. */
export function makeScrubber(secrets: Iterable<string | undefined | null>): (text: string) => string {
  const list = [...secrets];
  return (text) => scrubSecrets(text, list);
}
