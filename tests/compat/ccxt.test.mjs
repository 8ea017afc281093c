// Unmodified ccxt (the pinned npm package, see package.json) against a real coinage on loopback,
// configured only by URLs and options, exactly as the README's "Bots: Binance-compatible API"
// section shows. Run by `make test-compat` (part of `make test`).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import ccxt from 'ccxt';
import { startServer, api, newUser, deposit, balances, assertInvariants } from '../api/helpers.mjs';
import { createKey } from '../api/bnhelpers.mjs';

let srv;
let user;
let key;
let ex;

// The whole client configuration a bot needs.
function binance(base, apiKey, secret, extra = {}) {
  return new ccxt.binance({
    apiKey,
    secret,
    urls: { api: { public: `${base}/api/v3`, private: `${base}/api/v3` } },
    options: { fetchMarkets: { types: ['spot'] }, fetchCurrencies: false, fetchMargins: false, ...extra },
  });
}

before(async () => {
  srv = await startServer();
  user = await newUser(srv, 'ccxt');
  await deposit(srv, user, 'USDT', '100000');
  await deposit(srv, user, 'BTC', '1');
  key = await createKey(srv, user);
  ex = binance(srv.base, key.api_key, key.secret);
});

after(async () => { await srv?.stop(); });

test('loadMarkets and fetchTime', async () => {
  const markets = await ex.loadMarkets();
  const native = (await api(srv, 'GET', '/api/v1/markets')).body.data;
  assert.equal(Object.keys(markets).length, native.length);
  const btc = markets['BTC/USDT'];
  assert.equal(btc.id, 'BTCUSDT');
  assert.equal(btc.spot, true);
  const n = native.find((m) => m.symbol === 'BTCUSDT');
  assert.equal(btc.precision.price, Number(n.tick_size));
  assert.equal(btc.precision.amount, Number(n.lot_size));
  assert.equal(btc.limits.amount.min, Number(n.min_quantity));
  assert.equal(btc.limits.cost.min, Number(n.min_notional));
  const t = await ex.fetchTime();
  assert.ok(Math.abs(t - Date.now()) < 5000);
});

test('fetchTicker, fetchTickers, fetchOrderBook', async () => {
  const t = await ex.fetchTicker('BTC/USDT');
  assert.equal(t.symbol, 'BTC/USDT');
  assert.ok(t.last > 0 && t.bid > 0 && t.ask > t.bid);
  const ts = await ex.fetchTickers(['BTC/USDT', 'ETH/USDT']);
  assert.deepEqual(Object.keys(ts).sort(), ['BTC/USDT', 'ETH/USDT']);
  const all = await ex.fetchTickers();
  assert.ok(Object.keys(all).length >= 8);
  const ob = await ex.fetchOrderBook('BTC/USDT', 20);
  assert.ok(ob.bids.length >= 5 && ob.bids.length <= 20 && ob.asks.length >= 5);
  assert.ok(ob.bids[0][0] < ob.asks[0][0]);
  assert.ok(Number.isInteger(ob.nonce) && ob.nonce > 0);
  for (let i = 1; i < ob.bids.length; i++) assert.ok(ob.bids[i][0] < ob.bids[i - 1][0]);
});

test('fetchOHLCV pages over 3,000 real 1h bars', async () => {
  const start = Date.UTC(2022, 0, 1);
  let since = start;
  const bars = [];
  while (bars.length < 3000) {
    const page = await ex.fetchOHLCV('BNB/USDT', '1h', since, 1000);
    assert.ok(page.length > 0);
    bars.push(...page);
    since = page[page.length - 1][0] + 3600000;
  }
  assert.ok(bars.length >= 3000);
  assert.equal(bars[0][0], start);
  for (let i = 1; i < bars.length; i++) assert.ok(bars[i][0] > bars[i - 1][0]);
  // the same bars as the native API's imported Binance history
  const native = (await api(srv, 'GET', `/api/v1/markets/BNB-USDT/candles?interval=1h&start=${start}&limit=3`)).body.data;
  for (let i = 0; i < 3; i++) {
    assert.equal(bars[i][0], native[i].open_time);
    assert.equal(bars[i][1], Number(native[i].open));
    assert.equal(bars[i][2], Number(native[i].high));
    assert.equal(bars[i][3], Number(native[i].low));
    assert.equal(bars[i][4], Number(native[i].close));
    assert.equal(bars[i][5], Number(native[i].volume));
  }
  // ccxt's own pagination (startTime/endTime windows of 1000 bars) gives the same bars
  const paged = await ex.fetchOHLCV('BNB/USDT', '1h', start, 3000, { paginate: true, paginationCalls: 3, until: start + 3000 * 3600000 });
  assert.equal(paged.length, 3000);
  assert.deepEqual(paged, bars.slice(0, 3000));
  const daily = await ex.fetchOHLCV('BNB/USDT', '1w', start, 4);
  assert.equal(daily.length, 4);
});

test('orders: limit, market by amount and by cost, stop-loss-limit, open/fetch/cancel, trades, balance', async () => {
  const before = await ex.fetchBalance();
  const native = await balances(srv, user);
  assert.equal(before.USDT.total, Number(native.USDT.total));
  assert.equal(before.BTC.free, Number(native.BTC.available));

  const t = await ex.fetchTicker('BTC/USDT');
  const low = Number(ex.priceToPrecision('BTC/USDT', t.bid * 0.8));
  const limit = await ex.createOrder('BTC/USDT', 'limit', 'buy', 0.01, low);
  assert.equal(limit.status, 'open');
  assert.equal(limit.price, low);
  assert.equal(limit.amount, 0.01);
  // the same order through the native API
  const nat = await api(srv, 'GET', `/api/v1/orders/${limit.id}`, { token: user.token });
  assert.equal(nat.body.status, 'new');
  assert.equal(Number(nat.body.price), low);

  const mkt = await ex.createOrder('BTC/USDT', 'market', 'buy', 0.002);
  assert.equal(mkt.status, 'closed');
  assert.equal(mkt.filled, 0.002);
  assert.ok(mkt.trades.length >= 1);
  assert.ok(mkt.average > 0);

  const byCost = await ex.createMarketBuyOrderWithCost('BTC/USDT', 50);
  assert.equal(byCost.status, 'closed');
  assert.ok(byCost.cost <= 50 && byCost.cost > 49);
  const sellCost = await ex.createMarketSellOrderWithCost('BTC/USDT', 20);
  assert.equal(sellCost.status, 'closed');
  assert.ok(sellCost.cost <= 20 && sellCost.cost > 19, JSON.stringify(sellCost.info));

  const stopPx = Number(ex.priceToPrecision('BTC/USDT', t.bid * 0.9));
  const stopLimit = Number(ex.priceToPrecision('BTC/USDT', t.bid * 0.89));
  const sl = await ex.createOrder('BTC/USDT', 'STOP_LOSS_LIMIT', 'sell', 0.001, stopLimit, { triggerPrice: stopPx });
  const slq = await ex.fetchOrder(sl.id, 'BTC/USDT');
  assert.equal(slq.type, 'limit');
  assert.equal(slq.triggerPrice, stopPx);
  assert.equal(slq.status, 'open');

  // ccxt's unified stop parameters: stopLossPrice on a market order -> STOP_LOSS, takeProfitPrice
  // on a limit order -> TAKE_PROFIT_LIMIT
  const slm = await ex.createOrder('BTC/USDT', 'market', 'sell', 0.001, undefined, { stopLossPrice: stopPx });
  const tpPx = Number(ex.priceToPrecision('BTC/USDT', t.ask * 1.1));
  const tpl = await ex.createOrder('BTC/USDT', 'limit', 'sell', 0.001, tpPx, { takeProfitPrice: tpPx });
  const raw = await Promise.all([slm.id, tpl.id].map((id) => api(srv, 'GET', `/api/v1/orders/${id}`, { token: user.token })));
  assert.deepEqual(raw.map((x) => x.body.type), ['stop_loss', 'take_profit_limit']);
  assert.equal(Number(raw[0].body.stop_price), stopPx);
  await ex.cancelOrder(slm.id, 'BTC/USDT');
  await ex.cancelOrder(tpl.id, 'BTC/USDT');

  const open = await ex.fetchOpenOrders('BTC/USDT');
  assert.deepEqual(open.map((o) => o.id).sort(), [limit.id, sl.id].sort());
  const got = await ex.fetchOrder(limit.id, 'BTC/USDT');
  assert.equal(got.id, limit.id);
  assert.equal(got.remaining, 0.01);
  const c = await ex.cancelOrder(limit.id, 'BTC/USDT');
  assert.equal(c.status, 'canceled');
  await ex.cancelOrder(sl.id, 'BTC/USDT');
  assert.deepEqual(await ex.fetchOpenOrders('BTC/USDT'), []);
  await assert.rejects(ex.cancelOrder(limit.id, 'BTC/USDT'), ccxt.OrderNotFound);
  await assert.rejects(ex.fetchOrder('999999999', 'BTC/USDT'), ccxt.OrderNotFound);

  const trades = await ex.fetchMyTrades('BTC/USDT');
  const mine = trades.filter((x) => x.order === mkt.id);
  assert.equal(mine.length, mkt.trades.length);
  assert.ok(mine.every((x) => x.side === 'buy' && x.takerOrMaker === 'taker' && x.fee.currency === 'USDT'));
  const pub = await ex.fetchTrades('BTC/USDT');
  assert.ok(pub.some((x) => x.price === mine[0].price));

  const after = await ex.fetchBalance();
  const nat2 = await balances(srv, user);
  assert.equal(after.USDT.free, Number(nat2.USDT.available));
  assert.equal(after.BTC.total, Number(nat2.BTC.total));
  assert.ok(after.BTC.total > before.BTC.total);
  await assertInvariants(srv, [user]);
});

test('refusals map to ccxt exceptions', async () => {
  const t = await ex.fetchTicker('BTC/USDT');
  // limit-maker that would take (2% through the ask: crosses even if the replay moves meanwhile)
  const through = Number(ex.priceToPrecision('BTC/USDT', t.ask * 1.02));
  await assert.rejects(ex.createOrder('BTC/USDT', 'limit', 'buy', 0.001, through, { postOnly: true }),
    (e) => e instanceof ccxt.OrderImmediatelyFillable && e instanceof ccxt.InvalidOrder);
  // too big for the balance
  await assert.rejects(ex.createOrder('BTC/USDT', 'limit', 'buy', 5, through),
    ccxt.InsufficientFunds);
  // wrong signature
  const wrong = binance(srv.base, key.api_key, key.secret.replace(/.$/, (ch) => (ch === 'a' ? 'b' : 'a')));
  await wrong.loadMarkets();
  await assert.rejects(wrong.fetchBalance(), ccxt.AuthenticationError);
  // stale timestamp: a client clock two minutes behind
  const stale = binance(srv.base, key.api_key, key.secret, { timeDifference: 120000 });
  await stale.loadMarkets();
  await assert.rejects(stale.fetchBalance(), ccxt.InvalidNonce);
  // read-only key placing an order
  const ro = await createKey(srv, user, { permissions: ['read'] });
  const roEx = binance(srv.base, ro.api_key, ro.secret);
  await roEx.loadMarkets();
  await assert.rejects(roEx.createOrder('BTC/USDT', 'market', 'buy', 0.001), ccxt.AuthenticationError);
  // revoked key
  const tmp = await createKey(srv, user);
  const r = await api(srv, 'DELETE', `/api/v1/api-keys/${tmp.id}`, { token: user.token });
  assert.equal(r.status, 200);
  const revoked = binance(srv.base, tmp.api_key, tmp.secret);
  await revoked.loadMarkets();
  await assert.rejects(revoked.fetchBalance(), ccxt.AuthenticationError);
  // unknown symbol
  await assert.rejects(ex.publicGetTicker24hr({ symbol: 'NOPEUSDT' }), ccxt.BadSymbol);
  assert.deepEqual(await ex.fetchOpenOrders('BTC/USDT'), []);
  await assertInvariants(srv, [user]);
});

test('ccxt default discovery calls (sapi/fapi/dapi) are answered, empty', async () => {
  const base = srv.base;
  const full = new ccxt.binance({
    apiKey: key.api_key,
    secret: key.secret,
    urls: {
      api: {
        public: `${base}/api/v3`, private: `${base}/api/v3`, sapi: `${base}/sapi/v1`,
        fapiPublic: `${base}/fapi/v1`, dapiPublic: `${base}/dapi/v1`,
      },
    },
    options: { fetchMarkets: { types: ['spot', 'linear', 'inverse'] } },
  });
  const markets = await full.loadMarkets();
  assert.ok(markets['BTC/USDT']);
  assert.ok(Object.values(markets).every((m) => m.spot));
});
