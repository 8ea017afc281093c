// Order types end to end: limit GTC partial fills, IOC, FOK, post-only, market orders (by base
// quantity and by quote budget) and the market protection band, stop-loss / take-profit (market and
// limit, both sides), amend, cancel-all, self-trade prevention, client order ids and the private
// WebSocket view of a stop's trigger.
//
// One server on a frozen replay (speed 0.001: the house quotes do not move). Each group works in
// its own market so the groups cannot disturb each other. The kline markets are quoted by the
// house as a ladder around the kline price with empty ticks between the best bid and the best ask:
// two users trading with each other inside that spread set the market's last trade price exactly
// (that is how stops are triggered here).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, api, newUser, deposit, minor, balances, openOrders, assertInvariants, wsConnect, waitFor,
} from './helpers.mjs';

const FEE_PPM = 1000n; // 0.1 % maker and taker in config/markets.json
const fee = (n) => (n * FEE_PPM) / 1000000n; // floor
const PROTECTION_PPM = 50000n; // 5 %, the default band
const TICK = 1000000n; // 0.01 in 8-decimal quote minor units (BNB, SOL, LTC)

// BigInt minor units -> decimal string as the API renders it
function fmt(v, scale = 8) {
  const neg = v < 0n;
  const a = neg ? -v : v;
  const p = 10n ** BigInt(scale);
  return `${neg ? '-' : ''}${a / p}.${(a % p).toString().padStart(scale, '0')}`;
}
// notional in quote minor units: price (quote, 8 dp) x qty (base, bs dp) / 10^bs
const notional = (price, qty, bs = 8) => (minor(price) * minor(qty, bs)) / 10n ** BigInt(bs);
const cost = (price, qty, bs = 8) => notional(price, qty, bs) + fee(notional(price, qty, bs));
// the worst price a stop-market buy may pay once triggered: stop x 1.05, up to the tick
function protectionCap(price, tick = TICK) {
  let v = (minor(price) * (1000000n + PROTECTION_PPM) + 999999n) / 1000000n;
  v += (tick - (v % tick)) % tick;
  return v;
}

let srv;
const everyone = [];

async function user(label, funds = {}) {
  const u = await newUser(srv, label);
  for (const [asset, amount] of Object.entries(funds)) await deposit(srv, u, asset, amount);
  everyone.push(u);
  return u;
}
const post = (u, body) => api(srv, 'POST', '/api/v1/orders', { token: u.token, body });
async function place(u, body, status) {
  const r = await post(u, body);
  assert.equal(r.status, 201, `${JSON.stringify(body)} -> ${r.status} ${JSON.stringify(r.body)}`);
  if (status) assert.equal(r.body.status, status, JSON.stringify(r.body));
  return r.body;
}
async function getOrder(u, id) {
  const r = await api(srv, 'GET', `/api/v1/orders/${id}`, { token: u.token });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}
async function cancel(u, id) {
  const r = await api(srv, 'DELETE', `/api/v1/orders/${id}`, { token: u.token });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.status, 'canceled');
  assert.equal(r.body.held, '0.00000000');
  return r.body;
}
async function book(market) {
  const r = await api(srv, 'GET', `/api/v1/markets/${market}/book?depth=50`);
  assert.equal(r.status, 200);
  return r.body;
}
// The public book is a read model published after the write's response: wait for it to show `want`.
async function bookShows(market, side, want, what) {
  let last;
  try {
    await waitFor(async () => {
      last = (await book(market))[side];
      return want(last) === true;
    }, 5000, what);
  } catch {
    assert.fail(`${what}: book ${side} ${JSON.stringify(last?.slice(0, 3))}`);
  }
  return last;
}
// {asset: {available, held, total}} as BigInt minor units (DOGE has 6 decimals)
async function bal(u) {
  const b = await balances(srv, u);
  const out = {};
  for (const [a, v] of Object.entries(b)) {
    const sc = a === 'DOGE' ? 6 : 8;
    out[a] = { available: minor(v.available, sc), held: minor(v.held, sc), total: minor(v.total, sc) };
  }
  return out; // every configured asset is listed
}
async function expectError(u, body, status, code) {
  const r = await post(u, body);
  assert.equal(r.status, status, `${JSON.stringify(body)} -> ${r.status} ${JSON.stringify(r.body)}`);
  assert.equal(r.body.error.code, code, JSON.stringify(r.body));
  return r;
}

describe('order types (frozen replay)', () => {
  before(async () => { srv = await startServer({ speed: 0.001 }); });
  after(async () => { await srv.stop(); });

  // ---------------------------------------------------------------- limit / IOC / FOK / post-only
  describe('limit time-in-force and post-only (ADA-USDT)', () => {
    const MK = 'ADA-USDT';
    let A;
    let B;
    before(async () => {
      A = await user('ada-a', { USDT: '1000', ADA: '1000' });
      B = await user('ada-b', { USDT: '1000', ADA: '1000' });
      const b = await book(MK);
      // the tests below trade inside the house spread
      assert.ok(minor(b.bids[0][0]) < minor('1.1795') && minor(b.asks[0][0]) > minor('1.1800'),
        `unexpected ADA book ${JSON.stringify([b.bids[0], b.asks[0]])}`);
    });

    it('GTC: a resting buy partially filled stays open (partially_filled) with its hold reduced exactly, then fills', async () => {
      const a0 = await bal(A);
      const b0 = await bal(B);
      const o = await place(A, { market: MK, side: 'buy', type: 'limit', quantity: '30', price: '1.1800' }, 'new');
      assert.equal(o.time_in_force, 'gtc');
      assert.equal(minor(o.held), cost('1.18', '30'));
      assert.equal((await bal(A)).USDT.held, cost('1.18', '30'));

      const t1 = await place(B, { market: MK, side: 'sell', type: 'limit', quantity: '10', price: '1.1800' }, 'filled');
      assert.equal(t1.fills.length, 1);
      assert.equal(t1.fills[0].role, 'taker');
      assert.equal(t1.fills[0].price, '1.18000000');
      let ao = await getOrder(A, o.id);
      assert.equal(ao.status, 'partially_filled');
      assert.equal(ao.filled_quantity, '10.00000000');
      assert.equal(ao.remaining_quantity, '20.00000000');
      assert.equal(minor(ao.held), cost('1.18', '20'), 'hold = notional(remaining) + max fee');
      assert.equal(ao.fills.length, 1);
      assert.equal(ao.fills[0].role, 'maker');
      assert.equal(minor(ao.fills[0].fee), fee(notional('1.18', '10')));
      let a1 = await bal(A);
      assert.equal(a1.USDT.total, a0.USDT.total - cost('1.18', '10'));
      assert.equal(a1.USDT.held, cost('1.18', '20'));
      assert.equal(a1.ADA.total, a0.ADA.total + minor('10'));
      assert.ok((await openOrders(srv, A)).some((x) => x.id === o.id && x.status === 'partially_filled'));
      await assertInvariants(srv, [A, B]);

      await place(B, { market: MK, side: 'sell', type: 'limit', quantity: '20', price: '1.1800' }, 'filled');
      ao = await getOrder(A, o.id);
      assert.equal(ao.status, 'filled');
      assert.equal(ao.filled_quantity, '30.00000000');
      assert.equal(ao.remaining_quantity, '0.00000000');
      assert.equal(ao.held, '0.00000000');
      assert.equal(ao.fills.length, 2);
      a1 = await bal(A);
      assert.equal(a1.USDT.total, a0.USDT.total - notional('1.18', '10') - fee(notional('1.18', '10'))
        - notional('1.18', '20') - fee(notional('1.18', '20')));
      assert.equal(a1.USDT.held, 0n);
      assert.equal(a1.ADA.total, a0.ADA.total + minor('30'));
      const b1 = await bal(B);
      assert.equal(b1.ADA.total, b0.ADA.total - minor('30'));
      assert.equal(b1.USDT.total, b0.USDT.total + notional('1.18', '10') - fee(notional('1.18', '10'))
        + notional('1.18', '20') - fee(notional('1.18', '20')));
      assert.equal(b1.ADA.held, 0n);
      await assertInvariants(srv, [A, B]);
    });

    it('IOC: fills what crosses, the remainder expires (no_liquidity) and its hold is released', async () => {
      const b0 = await bal(B);
      const mk = await place(A, { market: MK, side: 'sell', type: 'limit', quantity: '10', price: '1.1798' }, 'new');
      const t = await place(B, { market: MK, side: 'buy', type: 'limit', quantity: '25', price: '1.1799', time_in_force: 'ioc' }, 'expired');
      assert.equal(t.time_in_force, 'ioc');
      assert.equal(t.reason, 'no_liquidity');
      assert.equal(t.filled_quantity, '10.00000000');
      assert.equal(t.remaining_quantity, '0.00000000');
      assert.equal(t.held, '0.00000000');
      assert.equal(t.fills.length, 1);
      assert.equal(t.fills[0].price, '1.17980000', 'at the maker price');
      const b1 = await bal(B);
      assert.equal(b1.USDT.held, 0n);
      assert.equal(b1.USDT.total, b0.USDT.total - cost('1.1798', '10'));
      assert.equal(b1.ADA.total, b0.ADA.total + minor('10'));
      assert.equal((await getOrder(A, mk.id)).status, 'filled');
      assert.ok(!(await openOrders(srv, B)).some((x) => x.id === t.id));
      // an IOC that crosses nothing: expires whole, nothing held
      const none = await place(B, { market: MK, side: 'buy', type: 'limit', quantity: '10', price: '1.1790', time_in_force: 'ioc' }, 'expired');
      assert.equal(none.reason, 'no_liquidity');
      assert.equal(none.fills.length, 0);
      assert.equal((await bal(B)).USDT.total, b1.USDT.total);
      assert.equal((await bal(B)).USDT.held, 0n);
      await assertInvariants(srv, [A, B]);
    });

    it('FOK: expires whole (fill_or_kill, no fills) when the book cannot fill it all; fills completely when it can', async () => {
      const a0 = await bal(A);
      const b0 = await bal(B);
      const mk = await place(A, { market: MK, side: 'sell', type: 'limit', quantity: '10', price: '1.1798' }, 'new');
      const k = await place(B, { market: MK, side: 'buy', type: 'limit', quantity: '15', price: '1.1799', time_in_force: 'fok' }, 'expired');
      assert.equal(k.time_in_force, 'fok');
      assert.equal(k.reason, 'fill_or_kill');
      assert.equal(k.filled_quantity, '0.00000000');
      assert.equal(k.fills.length, 0);
      assert.equal(k.held, '0.00000000');
      assert.deepEqual(await bal(B), b0, 'a killed FOK changes nothing');
      const still = await getOrder(A, mk.id);
      assert.equal(still.status, 'new');
      assert.equal(still.remaining_quantity, '10.00000000');
      await assertInvariants(srv, [A, B]);

      const f = await place(B, { market: MK, side: 'buy', type: 'limit', quantity: '10', price: '1.1799', time_in_force: 'fok' }, 'filled');
      assert.equal(f.fills.length, 1);
      assert.equal(f.fills[0].price, '1.17980000');
      assert.equal(f.held, '0.00000000');
      // across two levels: a user's ask and the house's best ask
      const b = await book(MK);
      const houseAsk = b.asks[0][0];
      const mk2 = await place(A, { market: MK, side: 'sell', type: 'limit', quantity: '5', price: '1.1797' }, 'new');
      const f2 = await place(B, { market: MK, side: 'buy', type: 'limit', quantity: '20', price: houseAsk, time_in_force: 'fok' }, 'filled');
      assert.deepEqual(f2.fills.map((x) => [x.price, x.quantity]),
        [['1.17970000', '5.00000000'], [houseAsk, '15.00000000']]);
      assert.equal((await getOrder(A, mk2.id)).status, 'filled');
      const b1 = await bal(B);
      assert.equal(b1.USDT.total, b0.USDT.total - cost('1.1798', '10') - cost('1.1797', '5') - cost(houseAsk, '15'));
      assert.equal(b1.USDT.held, 0n);
      assert.equal(b1.ADA.total, b0.ADA.total + minor('30'));
      const a1 = await bal(A);
      assert.equal(a1.ADA.total, a0.ADA.total - minor('15'));
      assert.equal(a1.USDT.total, a0.USDT.total + notional('1.1798', '10') - fee(notional('1.1798', '10'))
        + notional('1.1797', '5') - fee(notional('1.1797', '5')));
      await assertInvariants(srv, [A, B]);
    });

    it('FOK with expire_taker never fills partly when the taker\'s own order sits inside its price range', async () => {
      // B's own ask sits between two of A's: the FOK can only fill completely by trading through it,
      // which expire_taker forbids -> it must end with no fills at all
      const b0 = await bal(B);
      try {
        await place(A, { market: MK, side: 'sell', type: 'limit', quantity: '5', price: '1.1796' }, 'new');
        const own = await place(B, { market: MK, side: 'sell', type: 'limit', quantity: '10', price: '1.1797' }, 'new');
        await place(A, { market: MK, side: 'sell', type: 'limit', quantity: '10', price: '1.1798' }, 'new');
        const k = await place(B, { market: MK, side: 'buy', type: 'limit', quantity: '10', price: '1.1798', time_in_force: 'fok', self_trade_prevention: 'expire_taker' });
        assert.equal(k.status, 'expired');
        assert.equal(k.held, '0.00000000');
        assert.deepEqual(k.fills.map((f) => [f.price, f.quantity]), [], `a FOK order filled partly: ${k.filled_quantity} of 10`);
        assert.equal(k.filled_quantity, '0.00000000');
        assert.equal((await getOrder(B, own.id)).status, 'new');
        const b1 = await bal(B);
        assert.equal(b1.USDT.total, b0.USDT.total);
        assert.equal(b1.ADA.total, b0.ADA.total);
      } finally {
        await api(srv, 'DELETE', `/api/v1/orders?market=${MK}`, { token: A.token });
        await api(srv, 'DELETE', `/api/v1/orders?market=${MK}`, { token: B.token });
        await assertInvariants(srv, [A, B]);
      }
    });

    it('post_only: rests when it does not cross; rejected (post_only_would_take) when it would, nothing held', async () => {
      const a0 = await bal(A);
      const ok = await place(A, { market: MK, side: 'buy', type: 'limit', quantity: '10', price: '1.1795', post_only: true }, 'new');
      assert.equal(ok.post_only, true);
      assert.equal(minor(ok.held), cost('1.1795', '10'));
      const b = await book(MK);
      const rj = await place(A, { market: MK, side: 'buy', type: 'limit', quantity: '10', price: b.asks[0][0], post_only: true }, 'rejected');
      assert.equal(rj.reason, 'post_only_would_take');
      assert.equal(rj.held, '0.00000000');
      assert.equal(rj.fills.length, 0);
      assert.equal(rj.filled_quantity, '0.00000000');
      // a post-only sell at the best bid (here A's own 1.1795) would take too
      const rj2 = await place(A, { market: MK, side: 'sell', type: 'limit', quantity: '10', price: '1.1795', post_only: true }, 'rejected');
      assert.equal(rj2.reason, 'post_only_would_take');
      const a1 = await bal(A);
      assert.equal(a1.USDT.held, cost('1.1795', '10'));
      assert.equal(a1.USDT.total, a0.USDT.total);
      assert.equal(a1.ADA.held, 0n);
      assert.equal((await getOrder(A, rj.id)).status, 'rejected');
      const open = (await openOrders(srv, A)).map((x) => x.id);
      assert.deepEqual(open, [ok.id]);
      assert.deepEqual((await book(MK)).asks[0], b.asks[0], 'the book is unchanged');
      // post_only is for GTC limit orders only
      await expectError(A, { market: MK, side: 'buy', type: 'limit', quantity: '10', price: '1.1790', post_only: true, time_in_force: 'ioc' }, 400, 'invalid_request');
      await expectError(A, { market: MK, side: 'buy', type: 'market', quantity: '10', post_only: true }, 400, 'invalid_request');
      await cancel(A, ok.id);
      assert.equal((await bal(A)).USDT.held, 0n);
      await assertInvariants(srv, [A, B]);
    });
  });

  // ---------------------------------------------------------------- market orders
  describe('market orders (SOL-USDT) and the protection band (XRP-USDT)', () => {
    it('market buy and sell by base quantity fill at the best levels and settle exactly', async () => {
      const U = await user('mkt', { USDT: '1000', SOL: '10' });
      const b = await book('SOL-USDT');
      const ask = b.asks[0][0];
      const bid = b.bids[0][0];
      assert.ok(minor(b.asks[0][1]) >= minor('1') && minor(b.bids[0][1]) >= minor('0.5'));
      const buy = await place(U, { market: 'SOL-USDT', side: 'buy', type: 'market', quantity: '1' }, 'filled');
      assert.equal(buy.type, 'market');
      assert.equal(buy.time_in_force, 'ioc');
      assert.equal(buy.price, null);
      assert.deepEqual(buy.fills.map((f) => [f.price, f.quantity, f.role]), [[ask, '1.00000000', 'taker']]);
      assert.equal(minor(buy.fee), fee(notional(ask, '1')));
      assert.equal(buy.held, '0.00000000');
      const sell = await place(U, { market: 'SOL-USDT', side: 'sell', type: 'market', quantity: '0.5' }, 'filled');
      assert.deepEqual(sell.fills.map((f) => [f.price, f.quantity]), [[bid, '0.50000000']]);
      const u1 = await bal(U);
      assert.equal(u1.USDT.total, minor('1000') - cost(ask, '1') + notional(bid, '0.5') - fee(notional(bid, '0.5')));
      assert.equal(u1.SOL.total, minor('10.5'));
      assert.equal(u1.USDT.held, 0n);
      assert.equal(u1.SOL.held, 0n);
      await assertInvariants(srv, [U]);
    });

    it('market buy by quote_quantity: spends at most the budget incl. fee, releases the rest, quantity = filled', async () => {
      const U = await user('mktq', { USDT: '100' });
      const b = await book('SOL-USDT');
      const ask = b.asks[0][0];
      // the largest lot multiple whose cost including the fee fits 50 USDT at the best ask
      const lot = minor('0.001');
      let q = (minor('50') * 10n ** 8n) / minor(ask);
      q -= q % lot;
      while ((minor(ask) * q) / 10n ** 8n + fee((minor(ask) * q) / 10n ** 8n) > minor('50')) q -= lot;
      assert.ok(minor(b.asks[0][1]) > q);
      const o = await place(U, { market: 'SOL-USDT', side: 'buy', type: 'market', quote_quantity: '50' }, 'filled');
      assert.equal(o.quote_quantity, '50.00000000');
      assert.equal(o.quantity, fmt(q));
      assert.equal(o.filled_quantity, fmt(q));
      assert.equal(o.held, '0.00000000');
      assert.deepEqual(o.fills.map((f) => [f.price, f.quantity]), [[ask, fmt(q)]]);
      const spent = minor(o.quote_filled) + minor(o.fee);
      assert.equal(minor(o.quote_filled), (minor(ask) * q) / 10n ** 8n);
      assert.equal(minor(o.fee), fee(minor(o.quote_filled)));
      assert.ok(spent <= minor('50'), `spent ${fmt(spent)} > 50`);
      const u1 = await bal(U);
      assert.equal(u1.USDT.total, minor('100') - spent);
      assert.equal(u1.USDT.held, 0n);
      assert.equal(u1.SOL.total, q);
      await assertInvariants(srv, [U]);
    });

    it('market sell by quote_quantity: sells whole lots while the proceeds stay within the target, fee out of them', async () => {
      const U = await user('mktqs', { SOL: '10' });
      const b = await book('SOL-USDT');
      const bid = b.bids[0][0];
      // the largest lot multiple whose notional at the best bid is within 50 USDT
      const lot = minor('0.001');
      let q = (minor('50') * 10n ** 8n) / minor(bid);
      q -= q % lot;
      while ((minor(bid) * q) / 10n ** 8n > minor('50')) q -= lot;
      assert.ok(minor(b.bids[0][1]) > q);
      const o = await place(U, { market: 'SOL-USDT', side: 'sell', type: 'market', quote_quantity: '50' }, 'filled');
      assert.equal(o.quote_quantity, '50.00000000');
      assert.equal(o.quantity, fmt(q));
      assert.equal(o.filled_quantity, fmt(q));
      assert.equal(o.held, '0.00000000');
      assert.deepEqual(o.fills.map((f) => [f.price, f.quantity]), [[bid, fmt(q)]]);
      const gross = (minor(bid) * q) / 10n ** 8n;
      assert.equal(minor(o.quote_filled), gross);
      assert.ok(gross <= minor('50') && gross + minor(bid) * lot / 10n ** 8n > minor('50'), 'one more lot would pass the target');
      assert.equal(minor(o.fee), fee(gross));
      const u1 = await bal(U);
      assert.equal(u1.SOL.total, minor('10') - q);
      assert.equal(u1.SOL.held, 0n);
      assert.equal(u1.USDT.total, gross - fee(gross));
      // without the base it would sell, nothing happens
      const P = await user('mktqs-poor', { SOL: '0.01' });
      await expectError(P, { market: 'SOL-USDT', side: 'sell', type: 'market', quote_quantity: '50' }, 400, 'insufficient_funds');
      const p1 = await bal(P);
      assert.equal(p1.SOL.total, minor('0.01'));
      assert.equal(p1.SOL.held, 0n);
      await assertInvariants(srv, [U, P]);
    });

    it('a market order that could only trade beyond 5% of the last price is refused (market_protection) and changes nothing', async () => {
      const MK = 'XRP-USDT';
      // a whale takes every house ask; the last price is then the top ask level
      const W = await user('whale', { USDT: '300000' });
      const b0 = await book(MK);
      let total = 0n;
      for (const [, q] of b0.asks) total += minor(q);
      const top = b0.asks.at(-1)[0];
      const sweep = await place(W, { market: MK, side: 'buy', type: 'limit', quantity: fmt(total), price: top, time_in_force: 'ioc' }, 'filled');
      assert.equal(sweep.fills.at(-1).price, top);
      await bookShows(MK, 'asks', (a) => a.length === 0, 'the whale took every ask');
      const cap = protectionCap(top, minor('0.0001')); // last x 1.05, up to the tick
      const X = await user('prot-x', { XRP: '1000' });
      const Y = await user('prot-y', { USDT: '1000' });
      const far = await place(X, { market: MK, side: 'sell', type: 'limit', quantity: '100', price: fmt(cap + minor('0.0001')) }, 'new');
      const y0 = await bal(Y);
      const x0 = await bal(X);
      const farLevel = [fmt(cap + minor('0.0001')), '100.00000000'];
      await bookShows(MK, 'asks', (a) => JSON.stringify(a) === JSON.stringify([farLevel]), 'only the far ask');
      await expectError(Y, { market: MK, side: 'buy', type: 'market', quantity: '10' }, 400, 'market_protection');
      await expectError(Y, { market: MK, side: 'buy', type: 'market', quote_quantity: '50' }, 400, 'market_protection');
      assert.deepEqual(await bal(Y), y0);
      assert.deepEqual(await bal(X), x0);
      assert.deepEqual((await book(MK)).asks, [farLevel]);
      const farNow = await getOrder(X, far.id);
      assert.equal(farNow.status, 'new');
      assert.equal(farNow.remaining_quantity, '100.00000000');
      const yOrders = await api(srv, 'GET', '/api/v1/orders?status=all', { token: Y.token });
      assert.equal(yOrders.body.data.length, 0, 'a refused order is not recorded');
      await assertInvariants(srv, [W, X, Y]);

      // within the band (at the cap) it fills; what would need more expires (market_protection)
      const edge = await place(X, { market: MK, side: 'sell', type: 'limit', quantity: '100', price: fmt(cap) }, 'new');
      const part = await place(Y, { market: MK, side: 'buy', type: 'market', quantity: '150' }, 'expired');
      assert.equal(part.reason, 'market_protection');
      assert.equal(part.filled_quantity, '100.00000000');
      assert.deepEqual(part.fills.map((f) => f.price), [fmt(cap)]);
      assert.equal(part.held, '0.00000000');
      const y1 = await bal(Y);
      assert.equal(y1.USDT.total, y0.USDT.total - cost(fmt(cap), '100'));
      assert.equal(y1.USDT.held, 0n);
      assert.equal(y1.XRP.total, minor('100'));
      assert.equal((await getOrder(X, edge.id)).status, 'filled');
      assert.equal((await getOrder(X, far.id)).remaining_quantity, '100.00000000');
      await cancel(X, far.id);
      await assertInvariants(srv, [W, X, Y]);
    });
  });

  // ---------------------------------------------------------------- stops
  describe('stop-loss and take-profit (BNB-USDT)', () => {
    const MK = 'BNB-USDT';
    let M; // price setters: M rests a sell inside the spread, T buys it -> last = that price
    let T;
    let bestBid; // the house's best bid / ask (nothing here trades them away)
    let bestAsk;
    const sockets = [];
    async function setLast(price) {
      const s = await place(M, { market: MK, side: 'sell', type: 'limit', quantity: '0.020', price }, 'new');
      const b = await place(T, { market: MK, side: 'buy', type: 'limit', quantity: '0.020', price, time_in_force: 'ioc' }, 'filled');
      assert.deepEqual(b.fills.map((f) => minor(f.price)), [minor(price)], `last trade at ${price}`);
      assert.equal((await getOrder(M, s.id)).status, 'filled');
    }
    const stop = (u, side, type, quantity, stopPrice, price) => post(u, {
      market: MK, side, type, quantity, stop_price: stopPrice, ...(price ? { price } : {}),
    });
    async function placeStop(u, side, type, quantity, stopPrice, price) {
      const r = await stop(u, side, type, quantity, stopPrice, price);
      assert.equal(r.status, 201, JSON.stringify(r.body));
      assert.equal(r.body.status, 'new');
      assert.equal(r.body.type, type);
      assert.equal(r.body.triggered, false);
      assert.equal(minor(r.body.stop_price), minor(stopPrice));
      assert.equal(r.body.price, price ? fmt(minor(price)) : null);
      assert.equal(r.body.fills.length, 0);
      return r.body;
    }
    // The private WebSocket channel: every change of the user's orders, as the engine made it.
    async function watch(u) {
      const ws = await wsConnect(srv);
      sockets.push(ws);
      ws.send({ op: 'auth', token: u.token });
      await ws.next((m) => m.op === 'auth');
      ws.send({ op: 'subscribe', channel: 'orders' });
      await ws.next((m) => m.op === 'subscribed' && m.channel === 'orders');
      return ws;
    }
    // the orders event of a stop's trigger (triggered: true, in the given status)
    async function triggered(ws, id, status) {
      const m = await ws.next((x) => !x.op && x.channel === 'orders' && x.data.id === id
        && x.data.triggered === true && x.data.status === status, 5000);
      return m.data;
    }
    function notTriggered(ws, id) {
      const m = ws.msgs.find((x) => !x.op && x.channel === 'orders' && x.data.id === id && x.data.triggered !== false);
      assert.equal(m, undefined, `order ${id} triggered too early: ${JSON.stringify(m)}`);
    }

    before(async () => {
      M = await user('setter-m', { BNB: '50' });
      T = await user('setter-t', { USDT: '20000' });
      const b = await book(MK);
      bestBid = b.bids[0][0];
      bestAsk = b.asks[0][0];
      // every price used below lies strictly inside the house spread
      assert.ok(minor(bestBid) < minor('351.62') && minor(bestAsk) > minor('351.96'),
        `unexpected BNB book ${JSON.stringify([b.bids[0], b.asks[0]])}`);
    });
    after(() => { for (const ws of sockets) ws.close(); });

    it('stop_loss sell: holds the base, refuses a stop already reached, triggers when the last price falls to it (WS orders event: triggered)', async () => {
      const U = await user('sl-sell', { BNB: '1' });
      const ws = await watch(U);
      await setLast('351.80');
      let r = await stop(U, 'sell', 'stop_loss', '0.1', '351.80');
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.equal(r.body.error.code, 'stop_would_trigger');
      r = await stop(U, 'sell', 'stop_loss', '0.1', '351.90');
      assert.equal(r.body.error?.code, 'stop_would_trigger');
      assert.equal((await bal(U)).BNB.held, 0n);
      assert.equal((await api(srv, 'GET', '/api/v1/orders?status=all', { token: U.token })).body.data.length, 0);

      const o = await placeStop(U, 'sell', 'stop_loss', '0.1', '351.70');
      assert.equal(o.held, '0.10000000');
      assert.equal((await bal(U)).BNB.held, minor('0.1'));
      const w0 = await ws.next((m) => !m.op && m.channel === 'orders' && m.data.id === o.id);
      assert.equal(w0.data.triggered, false);
      assert.equal(w0.data.status, 'new');
      await assertInvariants(srv, [U, M, T]);

      await setLast('351.75'); // not yet
      const g = await getOrder(U, o.id);
      assert.equal(g.status, 'new');
      assert.equal(g.held, '0.10000000');
      notTriggered(ws, o.id);

      await setLast('351.70'); // reaches the stop: sells at market into the bids
      const w = await triggered(ws, o.id, 'filled');
      assert.equal(w.type, 'stop_loss');
      assert.equal(w.stop_price, '351.70000000');
      assert.equal(w.held, '0.00000000');
      const g2 = await getOrder(U, o.id);
      assert.equal(g2.status, 'filled');
      assert.equal(g2.held, '0.00000000');
      assert.deepEqual(g2.fills.map((f) => [f.price, f.quantity, f.role]), [[bestBid, '0.10000000', 'taker']]);
      const u1 = await bal(U);
      assert.equal(u1.BNB.total, minor('0.9'));
      assert.equal(u1.BNB.held, 0n);
      assert.equal(u1.USDT.total, notional(bestBid, '0.1') - fee(notional(bestBid, '0.1')));
      await assertInvariants(srv, [U, M, T]);
    });

    it('stop_loss_limit sell: triggered, it rests as a limit or trades as one', async () => {
      const U = await user('sll-sell', { BNB: '1' });
      const ws = await watch(U);
      await setLast('351.80');
      const rest = await placeStop(U, 'sell', 'stop_loss_limit', '0.1', '351.70', '351.65');
      const take = await placeStop(U, 'sell', 'stop_loss_limit', '0.1', '351.69', '351.50');
      assert.equal(rest.held, '0.10000000');
      assert.equal((await bal(U)).BNB.held, minor('0.2'));
      await assertInvariants(srv, [U, M, T]);

      await setLast('351.69'); // both trigger
      const w1 = await triggered(ws, rest.id, 'new');
      assert.equal(w1.held, '0.10000000');
      assert.equal(w1.price, '351.65000000');
      const g1 = await getOrder(U, rest.id);
      assert.equal(g1.status, 'new', 'no bid at 351.65 or better: rests as a limit sell');
      assert.equal(g1.held, '0.10000000');
      assert.equal(g1.fills.length, 0);
      await bookShows(MK, 'asks', (a) => a[0][0] === '351.65000000' && a[0][1] === '0.10000000', 'the triggered limit rests at 351.65');
      await triggered(ws, take.id, 'filled');
      const g2 = await getOrder(U, take.id);
      assert.equal(g2.status, 'filled');
      assert.deepEqual(g2.fills.map((f) => [f.price, f.role]), [[bestBid, 'taker']]);
      assert.equal((await bal(U)).BNB.held, minor('0.1'));
      await assertInvariants(srv, [U, M, T]);

      // the resting triggered limit is taken like any ask
      const t = await place(T, { market: MK, side: 'buy', type: 'limit', quantity: '0.1', price: '351.65', time_in_force: 'ioc' }, 'filled');
      assert.equal(t.fills[0].price, '351.65000000');
      const g3 = await getOrder(U, rest.id);
      assert.equal(g3.status, 'filled');
      assert.equal(g3.fills[0].role, 'maker');
      const u1 = await bal(U);
      assert.equal(u1.BNB.total, minor('0.8'));
      assert.equal(u1.BNB.held, 0n);
      assert.equal(u1.USDT.total, notional(bestBid, '0.1') - fee(notional(bestBid, '0.1'))
        + notional('351.65', '0.1') - fee(notional('351.65', '0.1')));
      await assertInvariants(srv, [U, M, T]);
    });

    it('take_profit / take_profit_limit sell trigger when the last price rises to the stop', async () => {
      const U = await user('tp-sell', { BNB: '1' });
      const ws = await watch(U);
      await setLast('351.80');
      let r = await stop(U, 'sell', 'take_profit', '0.1', '351.80');
      assert.equal(r.status, 400);
      assert.equal(r.body.error.code, 'stop_would_trigger');
      r = await stop(U, 'sell', 'take_profit_limit', '0.1', '351.70', '351.70');
      assert.equal(r.body.error?.code, 'stop_would_trigger');
      const tp = await placeStop(U, 'sell', 'take_profit', '0.1', '351.85');
      const tpl = await placeStop(U, 'sell', 'take_profit_limit', '0.1', '351.90', '351.95');
      assert.equal((await bal(U)).BNB.held, minor('0.2'));

      await setLast('351.85');
      await triggered(ws, tp.id, 'filled');
      const g1 = await getOrder(U, tp.id);
      assert.equal(g1.status, 'filled');
      assert.deepEqual(g1.fills.map((f) => [f.price, f.quantity]), [[bestBid, '0.10000000']]);
      notTriggered(ws, tpl.id); // 351.85 has not reached 351.90
      assert.equal((await getOrder(U, tpl.id)).status, 'new');

      await setLast('351.90');
      const w = await triggered(ws, tpl.id, 'new');
      assert.equal(w.held, '0.10000000');
      assert.equal((await getOrder(U, tpl.id)).status, 'new');
      await bookShows(MK, 'asks', (a) => a[0][0] === '351.95000000' && a[0][1] === '0.10000000', 'rests as a limit sell at 351.95');
      await assertInvariants(srv, [U, M, T]);
      await cancel(U, tpl.id);
      const u1 = await bal(U);
      assert.equal(u1.BNB.held, 0n);
      assert.equal(u1.BNB.total, minor('0.9'));
      assert.equal(u1.USDT.total, notional(bestBid, '0.1') - fee(notional(bestBid, '0.1')));
      await assertInvariants(srv, [U, M, T]);
    });

    it('buy stops: stop-loss buys trigger on a rise, take-profit buys on a fall; holds at the limit (or the protection cap) + max fee', async () => {
      const U = await user('stop-buy', { USDT: '1000' });
      const ws = await watch(U);
      await setLast('351.80');
      let r = await stop(U, 'buy', 'stop_loss', '0.1', '351.80');
      assert.equal(r.status, 400);
      assert.equal(r.body.error.code, 'stop_would_trigger');
      r = await stop(U, 'buy', 'take_profit', '0.1', '351.80');
      assert.equal(r.body.error?.code, 'stop_would_trigger');
      r = await stop(U, 'buy', 'take_profit_limit', '0.1', '351.81', '351.81');
      assert.equal(r.body.error?.code, 'stop_would_trigger');
      assert.equal((await bal(U)).USDT.held, 0n);

      const sll = await placeStop(U, 'buy', 'stop_loss_limit', '0.1', '351.85', '351.90');
      const sl = await placeStop(U, 'buy', 'stop_loss', '0.1', '351.92');
      const tp = await placeStop(U, 'buy', 'take_profit', '0.1', '351.70');
      const tpl = await placeStop(U, 'buy', 'take_profit_limit', '0.1', '351.65', '351.66');
      const capSl = (protectionCap('351.92') * minor('0.1')) / 10n ** 8n;
      const capTp = (protectionCap('351.70') * minor('0.1')) / 10n ** 8n;
      assert.equal(minor(sll.held), cost('351.90', '0.1'), 'stop-limit buy: notional at the limit + max fee');
      assert.equal(minor(tpl.held), cost('351.66', '0.1'));
      assert.equal(minor(sl.held), capSl + fee(capSl), 'stop-market buy: at its protection cap + max fee');
      assert.equal(minor(tp.held), capTp + fee(capTp));
      const held0 = cost('351.90', '0.1') + cost('351.66', '0.1') + capSl + fee(capSl) + capTp + fee(capTp);
      assert.equal((await bal(U)).USDT.held, held0);
      await assertInvariants(srv, [U, M, T]);

      await setLast('351.85'); // stop_loss_limit: a limit buy at 351.90, below the asks: rests
      const w1 = await triggered(ws, sll.id, 'new');
      assert.equal(minor(w1.held), cost('351.90', '0.1'));
      assert.equal((await getOrder(U, sll.id)).status, 'new');
      await bookShows(MK, 'bids', (a) => a[0][0] === '351.90000000' && a[0][1] === '0.10000000', 'the triggered limit buy rests at 351.90');
      notTriggered(ws, sl.id);
      // ... and trades as a limit: a seller hits it
      await place(M, { market: MK, side: 'sell', type: 'limit', quantity: '0.1', price: '351.90', time_in_force: 'ioc' }, 'filled');
      let g = await getOrder(U, sll.id);
      assert.equal(g.status, 'filled');
      assert.deepEqual(g.fills.map((f) => [f.price, f.role]), [['351.90000000', 'maker']]);
      await assertInvariants(srv, [U, M, T]);

      await setLast('351.92'); // stop_loss (market) buy: takes the best ask
      await triggered(ws, sl.id, 'filled');
      g = await getOrder(U, sl.id);
      assert.equal(g.status, 'filled');
      assert.deepEqual(g.fills.map((f) => [f.price, f.quantity, f.role]), [[bestAsk, '0.10000000', 'taker']]);
      assert.equal(g.held, '0.00000000');
      notTriggered(ws, tp.id);
      assert.equal((await bal(U)).USDT.held, cost('351.66', '0.1') + capTp + fee(capTp));
      await assertInvariants(srv, [U, M, T]);

      await setLast('351.70'); // take_profit (market) buy
      await triggered(ws, tp.id, 'filled');
      g = await getOrder(U, tp.id);
      assert.equal(g.status, 'filled');
      assert.deepEqual(g.fills.map((f) => [f.price, f.quantity]), [[bestAsk, '0.10000000']]);
      notTriggered(ws, tpl.id);

      await setLast('351.65'); // take_profit_limit buy: rests at 351.66
      await triggered(ws, tpl.id, 'new');
      g = await getOrder(U, tpl.id);
      assert.equal(g.status, 'new');
      assert.equal(minor(g.held), cost('351.66', '0.1'));
      await bookShows(MK, 'bids', (a) => a[0][0] === '351.66000000' && a[0][1] === '0.10000000', 'the triggered limit buy rests at 351.66');
      await assertInvariants(srv, [U, M, T]);
      await cancel(U, tpl.id);
      const u1 = await bal(U);
      assert.equal(u1.USDT.held, 0n);
      assert.equal(u1.USDT.total, minor('1000') - cost('351.90', '0.1') - 2n * cost(bestAsk, '0.1'));
      assert.equal(u1.BNB.total, minor('0.3'));
      await assertInvariants(srv, [U, M, T]);
    });

    it('cancel of an untriggered stop releases its hold exactly', async () => {
      const U = await user('stop-cancel', { USDT: '1000', BNB: '1' });
      const s1 = await placeStop(U, 'sell', 'stop_loss', '0.25', '300.00');
      const s2 = await placeStop(U, 'buy', 'stop_loss_limit', '0.1', '400.00', '401.00');
      const s3 = await placeStop(U, 'buy', 'stop_loss', '0.1', '400.00');
      const c3 = (protectionCap('400.00') * minor('0.1')) / 10n ** 8n;
      let u = await bal(U);
      assert.equal(u.BNB.held, minor('0.25'));
      assert.equal(u.USDT.held, cost('401', '0.1') + c3 + fee(c3));
      await assertInvariants(srv, [U]);
      const c1 = await cancel(U, s1.id);
      assert.equal(c1.reason, 'canceled_by_user');
      assert.equal(c1.triggered, false);
      u = await bal(U);
      assert.equal(u.BNB.held, 0n);
      assert.equal(u.BNB.available, minor('1'));
      await cancel(U, s2.id);
      assert.equal((await bal(U)).USDT.held, c3 + fee(c3));
      await cancel(U, s3.id);
      u = await bal(U);
      assert.equal(u.USDT.held, 0n);
      assert.equal(u.USDT.available, minor('1000'));
      const again = await api(srv, 'DELETE', `/api/v1/orders/${s1.id}`, { token: U.token });
      assert.equal(again.status, 400);
      assert.equal(again.body.error.code, 'order_not_open');
      await assertInvariants(srv, [U]);
    });

    it('several stops reached by one trade trigger in stop-price order (nearest first, then time)', async () => {
      const U = await user('stops-order', { BNB: '1' });
      const V = await user('stops-order2', { BNB: '1' });
      const wu = await watch(U);
      const wv = await watch(V);
      await setLast('351.80');
      const o72 = await placeStop(U, 'sell', 'stop_loss', '0.05', '351.72');
      const o76 = await placeStop(U, 'sell', 'stop_loss', '0.05', '351.76');
      const o74 = await placeStop(U, 'sell', 'stop_loss', '0.05', '351.74');
      const o76b = await placeStop(V, 'sell', 'stop_loss', '0.05', '351.76');
      await setLast('351.70');
      const ids = [];
      for (const [u, ws, o] of [[U, wu, o76], [V, wv, o76b], [U, wu, o74], [U, wu, o72]]) {
        await triggered(ws, o.id, 'filled');
        const g = await getOrder(u, o.id);
        assert.equal(g.status, 'filled');
        assert.equal(g.fills.length, 1);
        ids.push(g.fills[0].id);
      }
      const sorted = [...ids].sort((a, b) => a - b);
      assert.deepEqual(ids, sorted, `fills in trigger order 351.76, 351.76 (later), 351.74, 351.72: ${ids}`);
      assert.equal((await bal(U)).BNB.total, minor('0.85'));
      await assertInvariants(srv, [U, V, M, T]);
    });

    it('a stop_loss_limit with time_in_force fok keeps fill-or-kill once triggered (or is refused)', async () => {
      const U = await user('stop-fok', { BNB: '1' });
      const ws = await watch(U);
      try {
        await setLast('351.80');
        const r = await post(U, {
          market: MK, side: 'sell', type: 'stop_loss_limit', quantity: '0.1', stop_price: '351.70', price: '351.62', time_in_force: 'fok',
        });
        if (r.status === 400) return; // refusing FOK on stop-limits would be consistent too
        const body = { ...r.body };
        assert.equal(r.status, 201, JSON.stringify(r.body));
        assert.equal(body.time_in_force, 'fok');
        // only 0.02 bid at 351.62 or better once it triggers (the house bids lower)
        await place(T, { market: MK, side: 'buy', type: 'limit', quantity: '0.020', price: '351.63' }, 'new');
        await setLast('351.70');
        const w = await ws.next((x) => !x.op && x.channel === 'orders' && x.data.id === body.id && x.data.triggered === true, 5000);
        const g = await getOrder(U, body.id);
        assert.equal(g.status, 'expired', JSON.stringify(w.data));
        assert.deepEqual(g.fills.map((f) => [f.price, f.quantity]), [],
          `a triggered FOK stop-limit filled partly: ${g.filled_quantity} of 0.1 (reason ${g.reason})`);
        assert.equal((await bal(U)).BNB.total, minor('1'));
      } finally {
        await api(srv, 'DELETE', `/api/v1/orders?market=${MK}`, { token: T.token });
        await api(srv, 'DELETE', `/api/v1/orders?market=${MK}`, { token: U.token });
        await assertInvariants(srv, [U, M, T]);
      }
    });

    it('GET /orders/{id} and GET /orders show a stop\'s stop_price and triggered flag (and post_only, quote_quantity, self_trade_prevention) as placed', async () => {
      const U = await user('stop-read', { BNB: '1', USDT: '1000' });
      const ws = await watch(U);
      await setLast('351.80');
      const placed = [
        await placeStop(U, 'sell', 'stop_loss_limit', '0.1', '351.75', '351.74'),
        await placeStop(U, 'sell', 'stop_loss', '0.1', '300.00'),
        await place(U, { market: MK, side: 'buy', type: 'limit', quantity: '0.1', price: '300.00', post_only: true, self_trade_prevention: 'expire_both' }, 'new'),
        await place(U, { market: 'SOL-USDT', side: 'buy', type: 'market', quote_quantity: '10' }, 'filled'),
      ];
      const fields = ['type', 'stop_price', 'triggered', 'post_only', 'quote_quantity', 'self_trade_prevention', 'held'];
      const pick = (o) => Object.fromEntries(fields.map((k) => [k, o[k]]));
      const list = (await api(srv, 'GET', '/api/v1/orders?status=all', { token: U.token })).body.data;
      const problems = [];
      for (const p of placed) {
        const g = await getOrder(U, p.id);
        const l = list.find((x) => x.id === p.id);
        if (JSON.stringify(pick(g)) !== JSON.stringify(pick(p))) problems.push(`GET /orders/${p.id}: ${JSON.stringify(pick(g))} != POST ${JSON.stringify(pick(p))}`);
        if (JSON.stringify(pick(l)) !== JSON.stringify(pick(p))) problems.push(`GET /orders (list) ${p.id}: ${JSON.stringify(pick(l))} != POST ${JSON.stringify(pick(p))}`);
      }
      // after the trigger: the stop-limit rests at 351.74, triggered
      await setLast('351.75');
      const w = await triggered(ws, placed[0].id, 'new');
      const g = await getOrder(U, placed[0].id);
      if (g.triggered !== true || g.stop_price !== '351.75000000') {
        problems.push(`GET /orders/${g.id} after its trigger: triggered ${g.triggered}, stop_price ${g.stop_price} (WS: triggered ${w.triggered}, stop_price ${w.stop_price})`);
      }
      const all = await api(srv, 'DELETE', '/api/v1/orders', { token: U.token });
      assert.equal(all.body.canceled.length, 3);
      await assertInvariants(srv, [U, M, T]);
      assert.deepEqual(problems, []);
    });
  });

  // ---------------------------------------------------------------- amend
  describe('amend (LTC-USDT)', () => {
    const MK = 'LTC-USDT';
    let A;
    let B;
    let S;
    const P = '201.30';
    before(async () => {
      A = await user('am-a', { USDT: '1000' });
      B = await user('am-b', { USDT: '1000' });
      S = await user('am-s', { LTC: '10' });
      const b = await book(MK);
      assert.ok(minor(b.bids[0][0]) < minor('201.29') && minor(b.asks[0][0]) > minor('201.31'),
        `unexpected LTC book ${JSON.stringify([b.bids[0], b.asks[0]])}`);
    });
    const buy = (u, quantity, price = P) => place(u, { market: MK, side: 'buy', type: 'limit', quantity, price }, 'new');
    const amend = (u, id, body) => api(srv, 'PATCH', `/api/v1/orders/${id}`, { token: u.token, body });
    const hit = (quantity, price = P) => place(S, { market: MK, side: 'sell', type: 'limit', quantity, price, time_in_force: 'ioc' }, 'filled');

    it('reducing the quantity keeps the queue position; the hold shrinks exactly', async () => {
      const a = await buy(A, '0.2');
      const b = await buy(B, '0.1');
      assert.equal(minor(a.held), cost(P, '0.2'));
      const r = await amend(A, a.id, { quantity: '0.1' });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.status, 'new');
      assert.equal(r.body.quantity, '0.10000000');
      assert.equal(r.body.remaining_quantity, '0.10000000');
      assert.equal(minor(r.body.held), cost(P, '0.1'));
      assert.equal((await bal(A)).USDT.held, cost(P, '0.1'));
      await bookShows(MK, 'bids', (a) => a[0][0] === '201.30000000' && a[0][1] === '0.20000000', 'A 0.1 + B 0.1 at 201.30');
      await assertInvariants(srv, [A, B, S]);
      await hit('0.1');
      assert.equal((await getOrder(A, a.id)).status, 'filled', 'A kept its place ahead of B');
      const gb = await getOrder(B, b.id);
      assert.equal(gb.status, 'new');
      assert.equal(gb.filled_quantity, '0.00000000');
      const ua = await bal(A);
      assert.equal(ua.USDT.held, 0n);
      assert.equal(ua.USDT.total, minor('1000') - cost(P, '0.1'));
      await cancel(B, b.id);
      await assertInvariants(srv, [A, B, S]);
    });

    it('raising the quantity loses the queue position; the hold grows exactly', async () => {
      const a0 = await bal(A);
      const a = await buy(A, '0.1');
      const b = await buy(B, '0.1');
      const r = await amend(A, a.id, { quantity: '0.2' });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.status, 'new');
      assert.equal(r.body.quantity, '0.20000000');
      assert.equal(minor(r.body.held), cost(P, '0.2'));
      assert.equal((await bal(A)).USDT.held, cost(P, '0.2'));
      await hit('0.1');
      assert.equal((await getOrder(B, b.id)).status, 'filled', 'B is now first');
      const ga = await getOrder(A, a.id);
      assert.equal(ga.status, 'new');
      assert.equal(ga.filled_quantity, '0.00000000');
      assert.equal(minor(ga.held), cost(P, '0.2'));
      assert.equal((await bal(A)).USDT.total, a0.USDT.total);
      await cancel(A, a.id);
      assert.equal((await bal(A)).USDT.held, 0n);
      await assertInvariants(srv, [A, B, S]);
    });

    it('changing the price loses the queue position; the hold follows the new price exactly', async () => {
      const a = await buy(A, '0.1');
      const b = await buy(B, '0.1');
      let r = await amend(A, a.id, { price: '201.29' });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.price, '201.29000000');
      assert.equal(minor(r.body.held), cost('201.29', '0.1'));
      assert.equal((await bal(A)).USDT.held, cost('201.29', '0.1'));
      r = await amend(A, a.id, { price: P });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(minor(r.body.held), cost(P, '0.1'));
      assert.equal((await bal(A)).USDT.held, cost(P, '0.1'));
      await hit('0.1');
      assert.equal((await getOrder(B, b.id)).status, 'filled', 'B is now first');
      assert.equal((await getOrder(A, a.id)).status, 'new');
      await assertInvariants(srv, [A, B, S]);
      // a partially filled order amended: the hold covers only the remaining quantity
      await hit('0.04');
      const pa = await getOrder(A, a.id);
      assert.equal(pa.status, 'partially_filled');
      r = await amend(A, a.id, { quantity: '0.08' });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.status, 'partially_filled');
      assert.equal(r.body.remaining_quantity, '0.04000000');
      assert.equal(minor(r.body.held), cost(P, '0.04'));
      assert.equal((await bal(A)).USDT.held, cost(P, '0.04'));
      await cancel(A, a.id);
      await assertInvariants(srv, [A, B, S]);
    });

    it('amending a filled or canceled order -> 400 order_not_open; another user\'s -> 404', async () => {
      const a = await buy(A, '0.1');
      await hit('0.1');
      assert.equal((await getOrder(A, a.id)).status, 'filled');
      let r = await amend(A, a.id, { quantity: '0.05' });
      assert.equal(r.status, 400);
      assert.equal(r.body.error.code, 'order_not_open');
      const c = await buy(A, '0.1');
      await cancel(A, c.id);
      r = await amend(A, c.id, { price: '201.00' });
      assert.equal(r.status, 400);
      assert.equal(r.body.error.code, 'order_not_open');
      const o = await buy(A, '0.1');
      const bb = await bal(B);
      r = await amend(B, o.id, { quantity: '0.05' });
      assert.equal(r.status, 404);
      assert.equal(r.body.error.code, 'not_found');
      const go = await getOrder(A, o.id);
      assert.equal(go.quantity, '0.10000000');
      assert.equal(minor(go.held), cost(P, '0.1'));
      assert.deepEqual(await bal(B), bb);
      await cancel(A, o.id);
      await assertInvariants(srv, [A, B, S]);
    });
  });

  // ---------------------------------------------------------------- cancel all
  describe('cancel all (SOL-USDT, ETH-USDT)', () => {
    it('DELETE ?market= cancels only that market\'s open orders (stops too) of the caller; DELETE cancels all', async () => {
      const U = await user('ca-u', { USDT: '1000', SOL: '5' });
      const V = await user('ca-v', { USDT: '1000' });
      const mine = [
        await place(U, { market: 'SOL-USDT', side: 'buy', type: 'limit', quantity: '1', price: '20.00' }, 'new'),
        await place(U, { market: 'SOL-USDT', side: 'sell', type: 'limit', quantity: '1', price: '30.00' }, 'new'),
        await place(U, { market: 'SOL-USDT', side: 'sell', type: 'stop_loss', quantity: '1', stop_price: '15.00' }, 'new'),
        await place(U, { market: 'SOL-USDT', side: 'buy', type: 'stop_loss_limit', quantity: '1', stop_price: '30.00', price: '30.10' }, 'new'),
      ];
      const eth = await place(U, { market: 'ETH-USDT', side: 'buy', type: 'limit', quantity: '0.01', price: '1000.00' }, 'new');
      const other = await place(V, { market: 'SOL-USDT', side: 'buy', type: 'limit', quantity: '1', price: '20.00' }, 'new');
      let u = await bal(U);
      assert.equal(u.SOL.held, minor('2'));
      assert.equal(u.USDT.held, cost('20', '1') + cost('30.10', '1') + cost('1000', '0.01'));
      await assertInvariants(srv, [U, V]);

      const r = await api(srv, 'DELETE', '/api/v1/orders?market=SOL-USDT', { token: U.token });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(Object.keys(r.body), ['canceled']);
      assert.deepEqual(r.body.canceled.map((o) => o.id).sort((a, b) => a - b), mine.map((o) => o.id).sort((a, b) => a - b));
      for (const o of r.body.canceled) {
        assert.equal(o.status, 'canceled');
        assert.equal(o.reason, 'canceled_by_user');
        assert.equal(o.market, 'SOL-USDT');
        assert.equal(o.held, '0.00000000');
      }
      u = await bal(U);
      assert.equal(u.SOL.held, 0n);
      assert.equal(u.SOL.available, minor('5'));
      assert.equal(u.USDT.held, cost('1000', '0.01'));
      assert.deepEqual((await openOrders(srv, U)).map((o) => o.id), [eth.id]);
      assert.equal((await getOrder(V, other.id)).status, 'new', 'other users untouched');
      for (const o of mine) assert.equal((await getOrder(U, o.id)).status, 'canceled');
      await assertInvariants(srv, [U, V]);

      await place(U, { market: 'SOL-USDT', side: 'buy', type: 'limit', quantity: '1', price: '20.00' }, 'new');
      const all = await api(srv, 'DELETE', '/api/v1/orders', { token: U.token });
      assert.equal(all.status, 200, JSON.stringify(all.body));
      assert.equal(all.body.canceled.length, 2);
      assert.deepEqual(all.body.canceled.map((o) => o.market).sort(), ['ETH-USDT', 'SOL-USDT']);
      u = await bal(U);
      assert.equal(u.USDT.held, 0n);
      assert.equal(u.USDT.available, minor('1000'));
      assert.equal((await openOrders(srv, U)).length, 0);
      const none = await api(srv, 'DELETE', '/api/v1/orders', { token: U.token });
      assert.equal(none.status, 200);
      assert.deepEqual(none.body, { canceled: [] });
      const bad = await api(srv, 'DELETE', '/api/v1/orders?market=NOPE-USDT', { token: U.token });
      assert.equal(bad.status, 404);
      assert.equal(bad.body.error.code, 'unknown_market');
      assert.equal((await getOrder(V, other.id)).status, 'new');
      assert.equal((await bal(V)).USDT.held, cost('20', '1'));
      await cancel(V, other.id);
      await assertInvariants(srv, [U, V]);
    });
  });

  // ---------------------------------------------------------------- self-trade prevention
  describe('self-trade prevention (DOGE-USDT)', () => {
    const MK = 'DOGE-USDT';
    let U;
    let V;
    const n6 = (p, q) => notional(p, q, 6); // DOGE has 6 decimals
    const c6 = (p, q) => n6(p, q) + fee(n6(p, q));
    before(async () => {
      U = await user('stp-u', { USDT: '100', DOGE: '1000' });
      V = await user('stp-v', { DOGE: '1000' });
      const b = await book(MK);
      assert.ok(minor(b.bids[0][0]) < minor('0.05705') && minor(b.asks[0][0]) > minor('0.05707'),
        `unexpected DOGE book ${JSON.stringify([b.bids[0], b.asks[0]])}`);
    });

    it('expire_maker (default): the own resting order is canceled, the taker continues', async () => {
      const u0 = await bal(U);
      const own = await place(U, { market: MK, side: 'sell', type: 'limit', quantity: '200', price: '0.05706' }, 'new');
      assert.equal(own.self_trade_prevention, 'expire_maker');
      assert.equal(own.held, '200.000000');
      const v = await place(V, { market: MK, side: 'sell', type: 'limit', quantity: '200', price: '0.05707' }, 'new');
      const t = await place(U, { market: MK, side: 'buy', type: 'limit', quantity: '300', price: '0.05707' }, 'partially_filled');
      assert.deepEqual(t.fills.map((f) => [f.price, f.quantity]), [['0.05707000', '200.000000']]);
      assert.equal(t.remaining_quantity, '100.000000');
      assert.equal(minor(t.held), c6('0.05707', '100'));
      const g = await getOrder(U, own.id);
      assert.equal(g.status, 'canceled');
      assert.equal(g.reason, 'self_trade_prevention');
      assert.equal(g.held, '0.000000');
      assert.equal(g.fills.length, 0);
      assert.equal((await getOrder(V, v.id)).status, 'filled');
      const u1 = await bal(U);
      assert.equal(u1.DOGE.held, 0n);
      assert.equal(u1.DOGE.total, u0.DOGE.total + minor('200', 6));
      assert.equal(u1.USDT.total, u0.USDT.total - c6('0.05707', '200'));
      assert.equal(u1.USDT.held, c6('0.05707', '100'));
      await assertInvariants(srv, [U, V]);
      await cancel(U, t.id);
      await assertInvariants(srv, [U, V]);
    });

    it('expire_taker: the taker expires at its own order (after what it filled), the maker is untouched', async () => {
      const u0 = await bal(U);
      await place(V, { market: MK, side: 'sell', type: 'limit', quantity: '100', price: '0.05705' }, 'new');
      const own = await place(U, { market: MK, side: 'sell', type: 'limit', quantity: '200', price: '0.05706' }, 'new');
      const t = await place(U, { market: MK, side: 'buy', type: 'limit', quantity: '300', price: '0.05706', self_trade_prevention: 'expire_taker' }, 'expired');
      assert.equal(t.reason, 'self_trade_prevention');
      assert.equal(t.self_trade_prevention, 'expire_taker');
      assert.equal(t.filled_quantity, '100.000000');
      assert.deepEqual(t.fills.map((f) => f.price), ['0.05705000']);
      assert.equal(t.held, '0.00000000');
      const g = await getOrder(U, own.id);
      assert.equal(g.status, 'new');
      assert.equal(g.remaining_quantity, '200.000000');
      assert.equal(g.held, '200.000000');
      const u1 = await bal(U);
      assert.equal(u1.USDT.held, 0n);
      assert.equal(u1.USDT.total, u0.USDT.total - c6('0.05705', '100'));
      assert.equal(u1.DOGE.held, minor('200', 6));
      assert.equal(u1.DOGE.total, u0.DOGE.total + minor('100', 6));
      await assertInvariants(srv, [U, V]);
    });

    it('expire_both: the resting order is canceled and the taker expires', async () => {
      const u0 = await bal(U);
      const [own] = (await openOrders(srv, U)).filter((o) => o.market === MK);
      assert.ok(own && own.side === 'sell' && own.price === '0.05706000');
      const t = await place(U, { market: MK, side: 'buy', type: 'limit', quantity: '200', price: '0.05706', self_trade_prevention: 'expire_both' }, 'expired');
      assert.equal(t.reason, 'self_trade_prevention');
      assert.equal(t.fills.length, 0);
      assert.equal(t.held, '0.00000000');
      const g = await getOrder(U, own.id);
      assert.equal(g.status, 'canceled');
      assert.equal(g.reason, 'self_trade_prevention');
      const u1 = await bal(U);
      assert.equal(u1.DOGE.held, 0n);
      assert.equal(u1.USDT.held, 0n);
      assert.equal(u1.USDT.total, u0.USDT.total);
      assert.equal(u1.DOGE.total, u0.DOGE.total);
      assert.equal((await openOrders(srv, U)).length, 0);
      await assertInvariants(srv, [U, V]);
    });
  });

  // ---------------------------------------------------------------- client_order_id
  describe('client_order_id (ETH-USDT)', () => {
    it('is unique among a user\'s open orders, reusable once closed, per user, and searchable', async () => {
      const U = await user('coid-u', { USDT: '1000', BNB: '1' });
      const V = await user('coid-v', { USDT: '1000' });
      const body = { market: 'ETH-USDT', side: 'buy', type: 'limit', quantity: '0.01', price: '1000.00', client_order_id: 'my-order.1' };
      const first = await place(U, body, 'new');
      assert.equal(first.client_order_id, 'my-order.1');
      const held = (await bal(U)).USDT.held;
      await expectError(U, body, 409, 'duplicate_client_order_id');
      await expectError(U, { ...body, price: '999.00' }, 409, 'duplicate_client_order_id');
      // an untriggered stop holds its id too
      await place(U, { market: 'BNB-USDT', side: 'sell', type: 'stop_loss', quantity: '0.1', stop_price: '300.00', client_order_id: 'stop-1' }, 'new');
      await expectError(U, { ...body, client_order_id: 'stop-1' }, 409, 'duplicate_client_order_id');
      assert.equal((await bal(U)).USDT.held, held, 'a refused duplicate holds nothing');
      const other = await place(V, body, 'new');
      assert.equal(other.client_order_id, 'my-order.1');

      let q = await api(srv, 'GET', '/api/v1/orders?client_order_id=my-order.1', { token: U.token });
      assert.equal(q.status, 200);
      assert.deepEqual(q.body.data.map((o) => o.id), [first.id]);
      q = await api(srv, 'GET', '/api/v1/orders?client_order_id=my-order.1', { token: V.token });
      assert.deepEqual(q.body.data.map((o) => o.id), [other.id]);
      q = await api(srv, 'GET', '/api/v1/orders?client_order_id=nope', { token: U.token });
      assert.deepEqual(q.body.data, []);

      await cancel(U, first.id);
      const again = await place(U, body, 'new');
      assert.equal(again.client_order_id, 'my-order.1');
      q = await api(srv, 'GET', '/api/v1/orders?client_order_id=my-order.1&status=open', { token: U.token });
      assert.deepEqual(q.body.data.map((o) => o.id), [again.id]);
      q = await api(srv, 'GET', '/api/v1/orders?client_order_id=my-order.1', { token: U.token });
      assert.deepEqual(q.body.data.map((o) => o.id).sort((a, b) => a - b), [first.id, again.id]);
      // a closed-at-once order (IOC that crosses nothing) never blocks the id
      const ioc = await place(U, { ...body, client_order_id: 'ioc-1', time_in_force: 'ioc' }, 'expired');
      assert.equal(ioc.client_order_id, 'ioc-1');
      await place(U, { ...body, client_order_id: 'ioc-1' }, 'new');
      await expectError(U, { ...body, client_order_id: 'bad id!' }, 400, 'invalid_request');
      await assertInvariants(srv, [U, V]);
      const all = await api(srv, 'DELETE', '/api/v1/orders', { token: U.token });
      assert.equal(all.body.canceled.length, 3);
      await cancel(V, other.id);
      await assertInvariants(srv, [U, V]);
    });
  });

  it('the ledger and every hold stay consistent for everyone', async () => {
    await assertInvariants(srv, everyone);
  });
});
