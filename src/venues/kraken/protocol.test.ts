import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pingRequest, subscribeRequest, unsubscribeRequest } from './protocol.js';

test('v2 requests as documented', () => {
  assert.equal(
    subscribeRequest('book', ['BTC/USD', 'ETH/USD'], { depth: 10, snapshot: true }, 7),
    '{"method":"subscribe","params":{"channel":"book","symbol":["BTC/USD","ETH/USD"],"depth":10,"snapshot":true},"req_id":7}',
  );
  assert.equal(
    unsubscribeRequest('book', ['BTC/USD'], { depth: 10, snapshot: true }, 8),
    '{"method":"unsubscribe","params":{"channel":"book","symbol":["BTC/USD"],"depth":10},"req_id":8}',
  );
  assert.equal(
    subscribeRequest('instrument', undefined, { snapshot: true }),
    '{"method":"subscribe","params":{"channel":"instrument","snapshot":true}}',
  );
  assert.equal(
    subscribeRequest('ticker', ['BTC/USD'], { eventTrigger: 'bbo' }),
    '{"method":"subscribe","params":{"channel":"ticker","symbol":["BTC/USD"],"event_trigger":"bbo"}}',
  );
  assert.equal(pingRequest(9), '{"method":"ping","req_id":9}');
});
