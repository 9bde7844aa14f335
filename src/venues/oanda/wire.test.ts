/** Pure parts of wire.ts: error mapping, URL and credentials from config. Socket tests: test/integration/oanda-*. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { oandaPublisherSchema } from '../../config/schema.js';
import { UsageError } from '../../core/errors.js';
import { createOandaTransport, oandaBaseUrl, oandaHttpError, oandaTransportOptionsFromConfig, OANDA_STREAM_HOSTS } from './wire.js';

const TOKEN = 'abcd1234-secret';
const base = { token: TOKEN, baseUrl: 'https://stream-fxpractice.oanda.com' };

test('HTTP errors name the cause and the fix, and never carry the token', () => {
  const e401 = oandaHttpError(401, `{"errorMessage":"Insufficient authorization to perform request. token ${TOKEN}"}`, {
    ...base,
    tokenEnv: 'MY_TOKEN',
  });
  assert.equal(e401.code, 'E_OANDA_UNAUTHORIZED');
  assert.equal(e401.retriable, false);
  assert.match(e401.message, /MY_TOKEN/);
  assert.ok(!e401.message.includes(TOKEN));
  assert.equal(oandaHttpError(403, '', base).code, 'E_OANDA_FORBIDDEN');
  assert.match(oandaHttpError(404, '{"errorMessage":"x"}', base).message, /NBPY_OANDA_ACCOUNT_ID/);
  assert.match(oandaHttpError(405, 'Method Not Allowed', base).message, /stream-\* host/);
  assert.equal(oandaHttpError(429, '', base).retriable, true);
  assert.equal(oandaHttpError(503, '<html>', base).retriable, true);
  assert.equal(
    oandaHttpError(400, '{"errorMessage":"Invalid value specified for \'instruments\'","errorCode":"INVALID"}', base).retriable,
    false,
  );
});

test('base URL: environment host, or source.url (simulator) when set', () => {
  const cfg = oandaPublisherSchema.parse({
    name: 'oanda_tick',
    venue: 'oanda',
    feed: 'pricing',
    topic: 'oanda.tick',
    port: 5562,
    statusPort: 6562,
    instruments: ['EUR_USD'],
    source: { type: 'live' },
  });
  assert.equal(oandaBaseUrl(cfg), OANDA_STREAM_HOSTS.practice);
  assert.equal(oandaBaseUrl({ ...cfg, environment: 'live' }), 'https://stream-fxtrade.oanda.com');
  assert.equal(oandaBaseUrl({ ...cfg, source: { type: 'live', url: 'http://127.0.0.1:9' } }), 'http://127.0.0.1:9');
  assert.throws(
    () => oandaTransportOptionsFromConfig(cfg, {}),
    (e: unknown) => e instanceof UsageError && /NBPY_OANDA_TOKEN and NBPY_OANDA_ACCOUNT_ID/.test(e.message),
  );
  const o = oandaTransportOptionsFromConfig(cfg, { NBPY_OANDA_TOKEN: TOKEN, NBPY_OANDA_ACCOUNT_ID: '101-1' });
  assert.deepEqual([o.baseUrl, o.token, o.accountId, o.instruments], [OANDA_STREAM_HOSTS.practice, TOKEN, '101-1', ['EUR_USD']]);
  const t = createOandaTransport(o);
  assert.equal(t.target, 'https://stream-fxpractice.oanda.com/v3/accounts/<account>/pricing/stream?instruments=EUR_USD&snapshot=true');
  assert.ok(!t.target.includes(TOKEN));
});
