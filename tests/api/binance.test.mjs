// API keys (native /api/v1/api-keys) and the Binance-compatible REST API (/api/v3) against a
// real server: signing and its refusals with Binance's codes, orders through /api/v3 visible in
// /api/v1 and back, per-user isolation, market data in Binance's shapes from the same read models.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  startServer, api, newUser, deposit, balances, assertInvariants, waitFor,
} from './helpers.mjs';
import { createKey, signed, pub } from './bnhelpers.mjs';

let srv;
let alice;
let bob;
let key;

before(async () => {
  srv = await startServer();
  alice = await newUser(srv, 'bn-a');
  bob = await newUser(srv, 'bn-b');
  await deposit(srv, alice, 'USDT', '100000');
  await deposit(srv, alice, 'BTC', '1');
  key = await createKey(srv, alice);
});

after(async () => { await srv?.stop(); });

test('API keys: secret shown once, sealed at rest, listed without secret, JWT-only management', async () => {
  assert.match(key.api_key, /^[A-Za-z0-9]{64}$/);
  assert.match(key.secret, /^[A-Za-z0-9]{64}$/);
  assert.deepEqual(key.permissions, ['read', 'trade']);
  const list = await api(srv, 'GET', '/api/v1/api-keys', { token: alice.token });
  assert.equal(list.status, 200);
  const mine = list.body.data.find((k) => k.id === key.id);
  assert.equal(mine.api_key, key.api_key);
  assert.equal(mine.secret, undefined);
  assert.ok(!JSON.stringify(list.body).includes(key.secret));
  // the secret is nowhere in the store files or the log in the clear
  for (const f of fs.readdirSync(srv.dataDir)) {
    const buf = fs.readFileSync(path.join(srv.dataDir, f));
    assert.ok(!buf.includes(key.secret), `secret found in ${f}`);
  }
  assert.ok(!srv.log().includes(key.secret));
  // bob sees none of alice's keys and cannot revoke them
  const lb = await api(srv, 'GET', '/api/v1/api-keys', { token: bob.token });
  assert.equal(lb.body.data.length, 0);
  const rv = await api(srv, 'DELETE', `/api/v1/api-keys/${key.id}`, { token: bob.token });
  assert.equal(rv.status, 404);
  // bad input
  const bad = await api(srv, 'POST', '/api/v1/api-keys', { token: alice.token, body: { permissions: ['withdraw'] } });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.code, 'invalid_request');
  const badIp = await api(srv, 'POST', '/api/v1/api-keys', { token: alice.token, body: { ip_allow: ['not-an-ip'] } });
  assert.equal(badIp.status, 400);
  const noAuth = await api(srv, 'GET', '/api/v1/api-keys');
  assert.equal(noAuth.status, 401);
  // an API key cannot manage keys
  const viaKey = await signed(srv, key, 'GET', '/api/v1/api-keys');
  assert.equal(viaKey.status, 403);
});

test('native /api/v1 endpoints accept API-key auth with the same signing', async () => {
  const b = await signed(srv, key, 'GET', '/api/v1/balances');
  assert.equal(b.status, 200, JSON.stringify(b.body));
  assert.equal(b.body.data.find((x) => x.asset === 'USDT').total, '100000.00000000');
  // a JSON body is signed as it is sent: query + body
  const ts = Date.now();
  const body = JSON.stringify({ market: 'BTC-USDT', side: 'buy', type: 'limit', quantity: '0.01', price: '1000.00' });
  const q = `timestamp=${ts}`;
  const { sign } = await import('./bnhelpers.mjs');
  const r = await fetch(`${srv.base}/api/v1/orders?${q}&signature=${sign(key.secret, q + body)}`, {
    method: 'POST', headers: { 'x-mbx-apikey': key.api_key, 'content-type': 'application/json' }, body,
  });
  assert.equal(r.status, 201, await r.text());
  const bad = await fetch(`${srv.base}/api/v1/orders?${q}&signature=${sign(key.secret, q)}`, {
    method: 'POST', headers: { 'x-mbx-apikey': key.api_key, 'content-type': 'application/json' }, body,
  });
  assert.equal(bad.status, 401);
  const ro = await createKey(srv, alice, { permissions: ['read'], label: 'ro' });
  const roOrder = await fetch(`${srv.base}/api/v1/orders?${q}&signature=${sign(ro.secret, q + body)}`, {
    method: 'POST', headers: { 'x-mbx-apikey': ro.api_key, 'content-type': 'application/json' }, body,
  });
  assert.equal(roOrder.status, 403);
  assert.equal((await signed(srv, ro, 'GET', '/api/v1/orders')).status, 200);
  assert.equal((await signed(srv, key, 'GET', '/api/v1/admin/invariants')).status, 403);
});

test('signed /api/v3 refusals carry Binance codes, messages and statuses', async () => {
  const cases = [
    [await signed(srv, key, 'GET', '/api/v3/account', {}, { badSig: true }), 400, -1022, 'Signature for this request is not valid.'],
    [await signed(srv, key, 'GET', '/api/v3/account', {}, { timestamp: Date.now() - 10000 }), 400, -1021, 'Timestamp for this request is outside of the recvWindow.'],
    [await signed(srv, key, 'GET', '/api/v3/account', {}, { timestamp: Date.now() + 5000 }), 400, -1021, "Timestamp for this request was 1000ms ahead of the server's time."],
    [await signed(srv, key, 'GET', '/api/v3/account', {}, { recvWindow: 60001 }), 400, -1131, 'recvWindow must be less than 60000'],
    [await signed(srv, key, 'GET', '/api/v3/account', {}, { noTimestamp: true }), 400, -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed."],
    [await signed(srv, key, 'GET', '/api/v3/account', {}, { apiKey: 'x'.repeat(64) }), 401, -2015, 'Invalid API-key, IP, or permissions for action.'],
    [await signed(srv, key, 'GET', '/api/v3/account', {}, { apiKey: '' }), 401, -2014, 'API-key format invalid.'],
  ];
  for (const [r, status, code, msg] of cases) {
    assert.equal(r.status, status, JSON.stringify(r.body));
    assert.deepEqual(r.body, { code, msg });
  }
  // a generous recvWindow accepts an older timestamp
  const ok = await signed(srv, key, 'GET', '/api/v3/account', {}, { timestamp: Date.now() - 10000, recvWindow: 60000 });
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  // read-only key placing an order; revoked key
  const ro = await createKey(srv, alice, { permissions: ['read'] });
  const order = { symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity: '0.01', price: '1000' };
  const r1 = await signed(srv, ro, 'POST', '/api/v3/order', order);
  assert.equal(r1.status, 401);
  assert.deepEqual(r1.body, { code: -2015, msg: 'Invalid API-key, IP, or permissions for action.' });
  assert.equal((await signed(srv, ro, 'GET', '/api/v3/account')).status, 200);
  const tmp = await createKey(srv, alice);
  assert.equal((await signed(srv, tmp, 'GET', '/api/v3/account')).status, 200);
  const rv = await api(srv, 'DELETE', `/api/v1/api-keys/${tmp.id}`, { token: alice.token });
  assert.equal(rv.status, 200);
  const r2 = await signed(srv, tmp, 'GET', '/api/v3/account');
  assert.equal(r2.status, 401);
  assert.equal(r2.body.code, -2015);
  // IP allow-list
  const elsewhere = await createKey(srv, alice, { permissions: ['read'], ip_allow: ['10.1.2.3'] });
  assert.equal((await signed(srv, elsewhere, 'GET', '/api/v3/account')).body.code, -2015);
  const here = await createKey(srv, alice, { permissions: ['read'], ip_allow: ['127.0.0.1'] });
  assert.equal((await signed(srv, here, 'GET', '/api/v3/account')).status, 200);
  // nothing was placed by the refused requests
  const open = await signed(srv, key, 'GET', '/api/v3/openOrders', { symbol: 'BTCUSDT' });
  assert.ok(!open.body.some((o) => o.price === '1000.00000000' && o.clientOrderId.length === 22));
});

test('signatures over the query as the client encoded it (%20, +, UTF-8, unescaped : and /)', async () => {
  const { sign } = await import('./bnhelpers.mjs');
  for (const note of ['a%20b', 'a+b', '%E2%82%AC', 'a:b/c', 'A-Z_0.9~']) {
    const q = `symbol=BTCUSDT&note=${note}&timestamp=${Date.now()}`;
    const r = await fetch(`${srv.base}/api/v3/allOrders?${q}&signature=${sign(key.secret, q)}`, { headers: { 'x-mbx-apikey': key.api_key } });
    assert.equal(r.status, 200, `${note}: ${await r.text()}`);
    // the same request with a tampered parameter fails
    const bad = await fetch(`${srv.base}/api/v3/allOrders?${q.replace('note=', 'note=x')}&signature=${sign(key.secret, q)}`, { headers: { 'x-mbx-apikey': key.api_key } });
    assert.equal(bad.status, 400);
  }
});

test('orders: /api/v3 and /api/v1 are one engine, one ledger', async () => {
  const r = await signed(srv, key, 'POST', '/api/v3/order', {
    symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity: '0.01', price: '1500.00', newClientOrderId: 'bn-limit-1',
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.status, 'NEW');
  assert.equal(r.body.clientOrderId, 'bn-limit-1');
  assert.equal(r.body.origQty, '0.01000000');
  assert.equal(r.body.price, '1500.00000000');
  assert.deepEqual(r.body.fills, []);
  const native = await api(srv, 'GET', `/api/v1/orders/${r.body.orderId}`, { token: alice.token });
  assert.equal(native.status, 200);
  assert.equal(native.body.client_order_id, 'bn-limit-1');
  assert.equal(native.body.status, 'new');
  // a native order shows in /api/v3/openOrders
  const n = await api(srv, 'POST', '/api/v1/orders', { token: alice.token, body: { market: 'BTC-USDT', side: 'sell', type: 'limit', quantity: '0.01', price: '990000.00', client_order_id: 'native-1' } });
  assert.equal(n.status, 201);
  const open = await signed(srv, key, 'GET', '/api/v3/openOrders', { symbol: 'BTCUSDT' });
  assert.equal(open.status, 200);
  const ids = open.body.map((o) => o.orderId);
  assert.ok(ids.includes(n.body.id) && ids.includes(r.body.orderId));
  const q = await signed(srv, key, 'GET', '/api/v3/order', { symbol: 'BTCUSDT', origClientOrderId: 'native-1' });
  assert.equal(q.body.orderId, n.body.id);
  assert.equal(q.body.side, 'SELL');
  assert.equal(q.body.isWorking, true);
  // cancel through /api/v3 by client id; /api/v1 sees it canceled
  const c = await signed(srv, key, 'DELETE', '/api/v3/order', { symbol: 'BTCUSDT', origClientOrderId: 'bn-limit-1' });
  assert.equal(c.status, 200, JSON.stringify(c.body));
  assert.equal(c.body.status, 'CANCELED');
  assert.equal(c.body.origClientOrderId, 'bn-limit-1');
  assert.equal((await api(srv, 'GET', `/api/v1/orders/${r.body.orderId}`, { token: alice.token })).body.status, 'canceled');
  const again = await signed(srv, key, 'DELETE', '/api/v3/order', { symbol: 'BTCUSDT', orderId: r.body.orderId });
  assert.deepEqual(again.body, { code: -2011, msg: 'Unknown order sent.' });
  // cancel all open orders of the symbol
  const all = await signed(srv, key, 'DELETE', '/api/v3/openOrders', { symbol: 'BTCUSDT' });
  assert.equal(all.status, 200, JSON.stringify(all.body));
  assert.ok(all.body.some((o) => o.orderId === n.body.id && o.status === 'CANCELED'));
  assert.deepEqual((await signed(srv, key, 'GET', '/api/v3/openOrders', { symbol: 'BTCUSDT' })).body, []);
  await assertInvariants(srv, [alice]);
});

test('market orders by quantity and by quoteOrderQty fill at the real book; FULL fills, myTrades, account', async () => {
  const before = await balances(srv, alice);
  const m = await signed(srv, key, 'POST', '/api/v3/order', { symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: '0.01' });
  assert.equal(m.status, 200, JSON.stringify(m.body));
  assert.equal(m.body.status, 'FILLED');
  assert.equal(m.body.executedQty, '0.01000000');
  assert.ok(m.body.fills.length >= 1);
  let qty = 0n;
  for (const f of m.body.fills) {
    qty += BigInt(f.qty.replace('.', ''));
    assert.equal(f.commissionAsset, 'USDT');
  }
  assert.equal(qty, 1000000n);
  const byCost = await signed(srv, key, 'POST', '/api/v3/order', { symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quoteOrderQty: '100', newOrderRespType: 'RESULT' });
  assert.equal(byCost.status, 200, JSON.stringify(byCost.body));
  assert.equal(byCost.body.fills, undefined);
  assert.equal(byCost.body.origQuoteOrderQty, '100.00000000');
  assert.ok(Number(byCost.body.cummulativeQuoteQty) <= 100 && Number(byCost.body.cummulativeQuoteQty) > 99);
  const ack = await signed(srv, key, 'POST', '/api/v3/order', { symbol: 'BTCUSDT', side: 'SELL', type: 'MARKET', quantity: '0.001', newOrderRespType: 'ACK' });
  assert.deepEqual(Object.keys(ack.body).sort(), ['clientOrderId', 'orderId', 'orderListId', 'symbol', 'transactTime']);
  // quoteOrderQty on a SELL: receive at most 50 USDT (before the fee), in whole lots
  const sellCost = await signed(srv, key, 'POST', '/api/v3/order', { symbol: 'BTCUSDT', side: 'SELL', type: 'MARKET', quoteOrderQty: '50' });
  assert.equal(sellCost.status, 200, JSON.stringify(sellCost.body));
  assert.equal(sellCost.body.status, 'FILLED');
  assert.equal(sellCost.body.origQuoteOrderQty, '50.00000000');
  assert.equal(sellCost.body.origQty, sellCost.body.executedQty);
  assert.ok(Number(sellCost.body.cummulativeQuoteQty) <= 50 && Number(sellCost.body.cummulativeQuoteQty) > 49, JSON.stringify(sellCost.body));
  assert.ok(sellCost.body.fills.every((f) => f.commissionAsset === 'USDT'));
  const trades = await signed(srv, key, 'GET', '/api/v3/myTrades', { symbol: 'BTCUSDT' });
  assert.equal(trades.status, 200);
  const mine = trades.body.filter((t) => t.orderId === m.body.orderId);
  assert.equal(mine.length, m.body.fills.length);
  assert.ok(mine.every((t) => t.isBuyer === true && t.isMaker === false && t.symbol === 'BTCUSDT'));
  const acct = await signed(srv, key, 'GET', '/api/v3/account');
  const usdt = acct.body.balances.find((b) => b.asset === 'USDT');
  const now = await balances(srv, alice);
  assert.equal(usdt.free, now.USDT.available);
  assert.equal(usdt.locked, now.USDT.held);
  assert.notEqual(now.USDT.total, before.USDT.total);
  assert.equal(acct.body.canTrade, true);
  assert.equal(acct.body.accountType, 'SPOT');
  await assertInvariants(srv, [alice]);
});

test('order refusals: filters, limit-maker that would take, stop that would trigger, funds', async () => {
  const book = await pub(srv, '/api/v3/depth?symbol=BTCUSDT&limit=5');
  // 2% through the best ask: crosses even if the replay moves the book meanwhile
  const through = (Number(book.body.asks[0][0]) * 1.02).toFixed(2);
  const expect = async (params, status, code, msg) => {
    const r = await signed(srv, key, 'POST', '/api/v3/order', { symbol: 'BTCUSDT', ...params });
    assert.equal(r.status, status, JSON.stringify(r.body));
    assert.equal(r.body.code, code, JSON.stringify(r.body));
    if (msg) assert.equal(r.body.msg, msg);
  };
  await expect({ side: 'BUY', type: 'LIMIT_MAKER', quantity: '0.001', price: through }, 400, -2010, 'Order would immediately match and take.');
  await expect({ side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity: '5', price: through }, 400, -2010, 'Account has insufficient balance for requested action.');
  await expect({ side: 'BUY', type: 'STOP_LOSS_LIMIT', timeInForce: 'GTC', quantity: '0.01', price: '1000.00', stopPrice: '1000.00' }, 400, -2010, 'Stop price would trigger immediately.');
  await expect({ side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity: '0.000001', price: '1000' }, 400, -1013, 'Filter failure: LOT_SIZE');
  await expect({ side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity: '0.01', price: '1000.000000001' }, 400, -1111);
  await expect({ side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity: '0.01', price: '1000.001' }, 400, -1013, 'Filter failure: PRICE_FILTER');
  await expect({ side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity: '0.00001', price: '1000.00' }, 400, -1013, 'Filter failure: NOTIONAL');
  await expect({ side: 'BUY', type: 'LIMIT', quantity: '0.001', price: '1000' }, 400, -1102, "Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed.");
  await expect({ side: 'BUY', type: 'LIMIT', timeInForce: 'GTD', quantity: '0.001', price: '1000' }, 400, -1115, 'Invalid timeInForce.');
  await expect({ side: 'BUY', type: 'OCO', quantity: '0.001' }, 400, -1116, 'Invalid orderType.');
  await expect({ side: 'BUY', type: 'MARKET', quantity: '0.001', price: '1000' }, 400, -1106, "Parameter 'price' sent when not required.");
  // a malformed form body
  const mal = await fetch(`${srv.base}/api/v3/order`, { method: 'POST', headers: { 'x-mbx-apikey': key.api_key, 'content-type': 'application/x-www-form-urlencoded' }, body: 'symbol=%zz' });
  assert.deepEqual(await mal.json(), { code: -1100, msg: 'Illegal characters found in a parameter.' });
  const bad = await signed(srv, key, 'POST', '/api/v3/order', { symbol: 'NOPEUSDT', side: 'BUY', type: 'MARKET', quantity: '1' });
  assert.deepEqual(bad.body, { code: -1121, msg: 'Invalid symbol.' });
  // order/test validates without placing
  const t = await signed(srv, key, 'POST', '/api/v3/order/test', { symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity: '0.01', price: '1000' });
  assert.deepEqual(t.body, {});
  assert.deepEqual((await signed(srv, key, 'GET', '/api/v3/openOrders', { symbol: 'BTCUSDT' })).body, []);
  await assertInvariants(srv, [alice]);
});

test('per-user isolation: another user cannot see, query or cancel the orders', async () => {
  const bobKey = await createKey(srv, bob);
  const o = await signed(srv, key, 'POST', '/api/v3/order', { symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity: '0.01', price: '1200.00', newClientOrderId: 'iso-1' });
  assert.equal(o.status, 200);
  const g = await signed(srv, bobKey, 'GET', '/api/v3/order', { symbol: 'BTCUSDT', orderId: o.body.orderId });
  assert.deepEqual(g.body, { code: -2013, msg: 'Order does not exist.' });
  const g2 = await signed(srv, bobKey, 'GET', '/api/v3/order', { symbol: 'BTCUSDT', origClientOrderId: 'iso-1' });
  assert.equal(g2.body.code, -2013);
  const c = await signed(srv, bobKey, 'DELETE', '/api/v3/order', { symbol: 'BTCUSDT', orderId: o.body.orderId });
  assert.deepEqual(c.body, { code: -2011, msg: 'Unknown order sent.' });
  assert.deepEqual((await signed(srv, bobKey, 'GET', '/api/v3/openOrders')).body, []);
  assert.deepEqual((await signed(srv, bobKey, 'GET', '/api/v3/allOrders', { symbol: 'BTCUSDT' })).body, []);
  assert.deepEqual((await signed(srv, bobKey, 'GET', '/api/v3/myTrades', { symbol: 'BTCUSDT' })).body, []);
  const still = await signed(srv, key, 'GET', '/api/v3/order', { symbol: 'BTCUSDT', orderId: o.body.orderId });
  assert.equal(still.body.status, 'NEW');
  const all = await signed(srv, key, 'GET', '/api/v3/allOrders', { symbol: 'BTCUSDT' });
  assert.ok(all.body.some((x) => x.orderId === o.body.orderId));
});

test('market data: exchangeInfo from the market rules, depth seq, tickers, trades, rate-limit headers', async () => {
  const info = await pub(srv, '/api/v3/exchangeInfo');
  assert.equal(info.status, 200);
  const markets = (await api(srv, 'GET', '/api/v1/markets')).body.data;
  assert.equal(info.body.symbols.length, markets.length);
  for (const m of markets) {
    const s = info.body.symbols.find((x) => x.symbol === m.symbol);
    const f = Object.fromEntries(s.filters.map((x) => [x.filterType, x]));
    assert.equal(Number(f.PRICE_FILTER.tickSize), Number(m.tick_size));
    assert.equal(Number(f.LOT_SIZE.stepSize), Number(m.lot_size));
    assert.equal(Number(f.LOT_SIZE.minQty), Number(m.min_quantity));
    assert.equal(Number(f.LOT_SIZE.maxQty), Number(m.max_quantity));
    assert.equal(Number(f.MARKET_LOT_SIZE.stepSize), Number(m.lot_size));
    assert.equal(Number(f.NOTIONAL.minNotional), Number(m.min_notional));
    assert.equal(s.baseAsset, m.base);
    assert.equal(s.quoteAsset, m.quote);
  }
  assert.ok(info.headers.get('x-mbx-used-weight-1m') > 0);
  const one = await pub(srv, '/api/v3/exchangeInfo?symbol=ETHUSDT');
  assert.equal(one.body.symbols.length, 1);
  assert.deepEqual((await pub(srv, '/api/v3/exchangeInfo?symbol=FOO')).body, { code: -1121, msg: 'Invalid symbol.' });
  // depth lastUpdateId is the native book's seq
  const s1 = (await api(srv, 'GET', '/api/v1/markets/BTC-USDT/book?depth=1')).body.seq;
  const d = await pub(srv, '/api/v3/depth?symbol=BTCUSDT&limit=10');
  const s2 = (await api(srv, 'GET', '/api/v1/markets/BTC-USDT/book?depth=1')).body.seq;
  assert.ok(d.body.lastUpdateId >= s1 && d.body.lastUpdateId <= s2, `${s1} <= ${d.body.lastUpdateId} <= ${s2}`);
  assert.equal(d.body.bids.length, 10);
  assert.ok(Number(d.body.bids[0][0]) < Number(d.body.asks[0][0]));
  assert.equal(Number(d.headers.get('x-mbx-used-weight-1m')) > 0, true);
  // tickers: one, a list, all
  const t1 = await pub(srv, '/api/v3/ticker/24hr?symbol=BTCUSDT');
  assert.equal(t1.body.symbol, 'BTCUSDT');
  assert.ok(Number(t1.body.lastPrice) > 0);
  const tl = await pub(srv, `/api/v3/ticker/24hr?symbols=${encodeURIComponent('["BTCUSDT","ETHUSDT"]')}`);
  assert.deepEqual(tl.body.map((x) => x.symbol), ['BTCUSDT', 'ETHUSDT']);
  const ta = await pub(srv, '/api/v3/ticker/24hr');
  assert.equal(ta.body.length, markets.length);
  const bt = await pub(srv, '/api/v3/ticker/bookTicker?symbol=BTCUSDT');
  assert.ok(Number(bt.body.bidPrice) > 0 && Number(bt.body.askPrice) > Number(bt.body.bidPrice));
  const tp = await pub(srv, '/api/v3/ticker/price');
  assert.equal(tp.body.length, markets.length);
  // trades and aggTrades, oldest first, after the market orders above
  const tr = await pub(srv, '/api/v3/trades?symbol=BTCUSDT&limit=5');
  assert.ok(tr.body.length >= 1);
  for (let i = 1; i < tr.body.length; i++) assert.ok(tr.body[i].id > tr.body[i - 1].id);
  const ag = await pub(srv, '/api/v3/aggTrades?symbol=BTCUSDT&limit=3');
  assert.ok(ag.body.length >= 1);
  for (const a of ag.body) assert.ok(a.f <= a.l && a.a === a.f);
  const from = await pub(srv, `/api/v3/aggTrades?symbol=BTCUSDT&fromId=${ag.body[0].a}&limit=1`);
  assert.deepEqual(from.body[0], ag.body[0]);
  assert.equal((await pub(srv, '/api/v3/ping')).status, 200);
  const time = await pub(srv, '/api/v3/time');
  assert.ok(Math.abs(time.body.serverTime - Date.now()) < 5000);
  for (const p of ['/sapi/v1/capital/config/getall', '/sapi/v1/margin/allPairs', '/sapi/v1/margin/isolated/allPairs']) {
    assert.deepEqual((await pub(srv, p)).body, []);
  }
  assert.deepEqual((await pub(srv, '/fapi/v1/exchangeInfo')).body.symbols, []);
});

test('klines: every interval, paging over real 1h bars, aggregates equal their 1h parts', async () => {
  for (const iv of ['1s', '1m', '3m', '5m', '15m', '30m', '1h', '2h', '4h', '6h', '8h', '12h', '1d', '3d', '1w', '1M']) {
    const r = await pub(srv, `/api/v3/klines?symbol=BNBUSDT&interval=${iv}&limit=5`);
    assert.equal(r.status, 200, `${iv}: ${JSON.stringify(r.body)}`);
    assert.ok(Array.isArray(r.body));
  }
  assert.deepEqual((await pub(srv, '/api/v3/klines?symbol=BNBUSDT&interval=2m')).body, { code: -1120, msg: 'Invalid interval.' });
  // times far past the data (once an overflow in the calendar arithmetic) are "no bound"
  for (const iv of ['1M', '1w', '3d']) {
    const far = await pub(srv, `/api/v3/klines?symbol=BNBUSDT&interval=${iv}&endTime=9223372036854775807&limit=2`);
    assert.equal(far.status, 200, JSON.stringify(far.body));
    assert.equal(far.body.length, 2);
    const none = await pub(srv, `/api/v3/klines?symbol=BNBUSDT&interval=${iv}&startTime=9223372036854775807`);
    assert.deepEqual(none.body, []);
  }
  assert.equal((await pub(srv, '/api/v3/klines?symbol=BNBUSDT&interval=1d&startTime=-1')).body.code, -1100);
  // page forward through 3000 real 1h bars
  const start = Date.UTC(2022, 0, 1);
  let since = start;
  const bars = [];
  while (bars.length < 3000) {
    const r = await pub(srv, `/api/v3/klines?symbol=BNBUSDT&interval=1h&startTime=${since}&limit=1000`);
    assert.equal(r.status, 200);
    assert.ok(r.body.length > 0);
    bars.push(...r.body);
    since = r.body[r.body.length - 1][0] + 3600000;
  }
  for (let i = 1; i < bars.length; i++) assert.ok(bars[i][0] > bars[i - 1][0]);
  assert.equal(bars[0][0], start);
  assert.equal(bars[0][6], start + 3600000 - 1);
  // 4h = the four 1h bars it holds
  const h4 = (await pub(srv, `/api/v3/klines?symbol=BNBUSDT&interval=4h&startTime=${start}&limit=3`)).body;
  assert.equal(h4.length, 3);
  for (const k of h4) {
    const parts = bars.filter((b) => b[0] >= k[0] && b[0] < k[0] + 4 * 3600000);
    assert.equal(parts.length, 4);
    assert.equal(k[1], parts[0][1]);
    assert.equal(k[4], parts[3][4]);
    assert.equal(k[2], parts.map((p) => p[2]).sort((a, b) => Number(b) - Number(a))[0]);
    assert.equal(k[3], parts.map((p) => p[3]).sort((a, b) => Number(a) - Number(b))[0]);
    const vol = parts.reduce((s, p) => s + BigInt(p[5].replace('.', '')), 0n);
    assert.equal(BigInt(k[5].replace('.', '')), vol);
  }
  // endTime: the latest bars up to it, oldest first
  const end = Date.UTC(2022, 5, 1);
  const last = (await pub(srv, `/api/v3/klines?symbol=BNBUSDT&interval=1d&endTime=${end}&limit=3`)).body;
  assert.equal(last.length, 3);
  assert.equal(last[2][0], end);
  // weekly bars open on Mondays, monthly on the 1st
  const w = (await pub(srv, `/api/v3/klines?symbol=BNBUSDT&interval=1w&startTime=${start}&limit=2`)).body;
  assert.equal(new Date(w[0][0]).getUTCDay(), 1);
  const mo = (await pub(srv, `/api/v3/klines?symbol=BNBUSDT&interval=1M&startTime=${start}&limit=2`)).body;
  assert.equal(mo[0][0], start);
  assert.equal(mo[1][0], Date.UTC(2022, 1, 1));
  assert.equal(mo[0][6], Date.UTC(2022, 1, 1) - 1);
});
