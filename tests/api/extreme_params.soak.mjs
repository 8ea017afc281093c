// Every read route with boundary values in every integer/time parameter it reads: the server (the
// sanitizer build under `make test`) must answer each with a 2xx or a clean 4xx JSON error and
// must not die. Undefined behaviour on such input (signed overflow in time arithmetic, a
// zero-length memcpy/qsort on NULL) only shows under UBSan, and only for the values that reach it,
// so this test feeds them on purpose.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, newUser, deposit, api } from './helpers.mjs';
import { createKey, signed } from './bnhelpers.mjs';

const EXTREME = ['9223372036854775807', '-9223372036854775808', '9223372036854775808',
  '99999999999999999999999', '-1', '0', '1', '253402300799999', '-62135596800000'];

const NATIVE = [
  ['/api/v1/markets/BTC-USDT/candles', ['start', 'end', 'limit'], { interval: '1m' }],
  ['/api/v1/markets/BTC-USDT/candles', ['start', 'end'], { interval: '1d' }],
  ['/api/v1/markets/BTC-USDT/book', ['depth'], {}],
  ['/api/v1/markets/BTC-USDT/trades', ['limit', 'cursor'], {}],
  ['/api/v1/markets/BTC-USDT/indicators', ['end', 'period', 'limit'], { name: 'sma' }],
  ['/api/v1/markets/BTC-USDT/indicators', ['end', 'period'], { name: 'macd' }],
  ['/api/v1/markets/BTC-USDT/stats/volatility', ['end', 'window', 'period', 'limit'], {}],
  ['/api/v1/markets/BTC-USDT/stats/beta', ['end', 'window', 'limit'], { benchmark: 'ETH-USDT' }],
  ['/api/v1/markets/BTC-USDT/stats/drawdown', ['end', 'limit'], {}],
  ['/api/v1/analytics/correlation', ['end', 'window', 'limit'], { markets: 'BTC-USDT,ETH-USDT' }],
  ['/api/v1/coins', ['limit', 'cursor'], {}],
  ['/api/v1/coins/BTC/candles', ['start', 'end', 'limit'], {}],
  ['/api/v1/orders', ['limit', 'cursor'], { status: 'all' }],
  ['/api/v1/fills', ['limit', 'cursor'], {}],
  ['/api/v1/ledger', ['limit', 'cursor'], {}],
  ['/api/v1/portfolio/history', ['start', 'end'], {}],
  ['/api/v1/portfolio/history', ['start', 'end'], { resolution: '1h' }],
  ['/api/v1/portfolio/performance', ['start', 'end'], {}],
  ['/api/v1/risk', ['start', 'end', 'window'], {}],
];

const BINANCE_PUBLIC = [
  ['/api/v3/depth', ['limit'], { symbol: 'BTCUSDT' }],
  ['/api/v3/trades', ['limit'], { symbol: 'BTCUSDT' }],
  ['/api/v3/aggTrades', ['startTime', 'endTime', 'fromId', 'limit'], { symbol: 'BTCUSDT' }],
  ['/api/v3/klines', ['startTime', 'endTime', 'limit'], { symbol: 'BTCUSDT', interval: '1m' }],
  ['/api/v3/klines', ['startTime', 'endTime'], { symbol: 'BTCUSDT', interval: '1M' }],
  ['/api/v3/uiKlines', ['startTime', 'endTime', 'limit'], { symbol: 'ETHUSDT', interval: '1h' }],
];

const BINANCE_SIGNED = [
  ['/api/v3/allOrders', ['startTime', 'endTime', 'orderId', 'limit'], { symbol: 'BTCUSDT' }],
  ['/api/v3/myTrades', ['startTime', 'endTime', 'fromId', 'orderId', 'limit'], { symbol: 'BTCUSDT' }],
  ['/api/v3/order', ['orderId'], { symbol: 'BTCUSDT' }],
];

function qs(params) {
  return new URLSearchParams(params).toString();
}

// one parameter extreme at a time, then all of them at once with the same value
function* variants(keys, fixed) {
  for (const k of keys) for (const v of EXTREME) yield { ...fixed, [k]: v };
  for (const v of EXTREME) yield { ...fixed, ...Object.fromEntries(keys.map((k) => [k, v])) };
  // start/end swapped around the epoch
  if (keys.includes('start') && keys.includes('end')) yield { ...fixed, start: EXTREME[1], end: EXTREME[0] };
  if (keys.includes('startTime') && keys.includes('endTime')) yield { ...fixed, startTime: '0', endTime: EXTREME[0] };
}

function checkAnswer(path, params, r) {
  assert.ok(r.status < 500, `${path}?${qs(params)} -> ${r.status} ${JSON.stringify(r.body)}`);
  if (r.status >= 400) {
    const code = r.body?.error?.code ?? r.body?.code;
    assert.ok(code !== undefined, `${path}?${qs(params)} -> ${r.status} without an error code: ${JSON.stringify(r.body)}`);
  }
}

describe('extreme integer and time parameters', () => {
  let srv;
  let user;
  let key;
  before(async () => {
    srv = await startServer({ speed: 5 });
    user = await newUser(srv, 'extreme');
    await deposit(srv, user, 'USDT', '1000');
    const o = await api(srv, 'POST', '/api/v1/orders', {
      token: user.token, body: { market: 'BTC-USDT', side: 'buy', type: 'market', quantity: '0.001' },
    });
    assert.equal(o.status, 201, JSON.stringify(o.body));
    key = await createKey(srv, user);
  });
  after(async () => { await srv.stop(); });

  it('native routes answer 2xx or a 4xx with an error code, and the server lives', async () => {
    let n = 0;
    for (const [path, keys, fixed] of NATIVE) {
      for (const params of variants(keys, fixed)) {
        const r = await api(srv, 'GET', `${path}?${qs(params)}`, { token: user.token });
        checkAnswer(path, params, r);
        n++;
      }
    }
    assert.ok(n > 300, `${n} requests`);
    assert.equal((await api(srv, 'GET', '/health')).status, 200);
  });

  it('Binance routes, public and signed, the same', async () => {
    for (const [path, keys, fixed] of BINANCE_PUBLIC) {
      for (const params of variants(keys, fixed)) {
        const r = await api(srv, 'GET', `${path}?${qs(params)}`);
        checkAnswer(path, params, r);
      }
    }
    for (const [path, keys, fixed] of BINANCE_SIGNED) {
      for (const params of variants(keys, fixed)) {
        const r = await signed(srv, key, 'GET', path, params);
        checkAnswer(path, params, r);
      }
    }
    // the signature's own numbers: timestamp and recvWindow at their limits
    for (const ts of EXTREME) {
      const r = await signed(srv, key, 'GET', '/api/v3/account', {}, { timestamp: ts });
      checkAnswer('/api/v3/account', { timestamp: ts }, r);
      const w = await signed(srv, key, 'GET', '/api/v3/account', {}, { recvWindow: ts });
      checkAnswer('/api/v3/account', { recvWindow: ts }, w);
    }
    assert.equal((await api(srv, 'GET', '/health')).status, 200);
  });
});
