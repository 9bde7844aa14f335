/**
 * The one poll helper of the integration tests. It imports only `stretch`, so a test that needs no
 * stack helpers does not load them.
 */
import { stretch } from './cli.js';

/**
 * Poll `fn` until it returns a truthy value or the deadline passes. The deadline bounds failure only
 * and is stretched for slow machines (`stretch`); the error names what was awaited and the last error
 * `fn` threw.
 */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 30_000,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + stretch(timeoutMs);
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
