// Portfolio, performance, risk and watchlists (issue 6) against a real server.
//
// The hand-computed ledger: two users trade BNB-USDT with each other at prices we choose inside
// the house spread (the replay is frozen at speed 0.001, so the house ladder does not move and
// never takes part), so every fill price is ours. The subject S:
//   deposit 1000 USDT
//   buy  1.0 BNB at P1 = bid + 0.05 (S is taker): n1 = P1,        fee f1 = floor(n1 x 0.1%)
//   buy  0.5 BNB at P2 = bid + 0.10 (S is maker): n2 = P2 x 0.5,  fee f2 = floor(n2 x 0.1%)
//   sell 0.6 BNB at P3 = ask - 0.05 (S is taker): n3 = P3 x 0.6,  fee f3 = floor(n3 x 0.1%)
//   withdraw 100 USDT
// Weighted average cost, fees included (src/analytics/portfolio.h):
//   cost after the buys C = n1 + f1 + n2 + f2 for 1.5 BNB; the sale releases floor(C x 0.6/1.5);
//   realized = (n3 - f3) - released; cost basis left = C - released for 0.9 BNB;
//   cash = 1000 - (n1 + f1) - (n2 + f2) + (n3 - f3) - 100; fees = f1 + f2 + f3.
// Worked example with the book seen while writing this (bid 351.61, ask 351.97):
//   P1 = 351.66: n1 = 351.66, f1 = 0.35166; P2 = 351.71: n2 = 175.855, f2 = 0.175855;
//   C = 528.041515, average 352.02767667 per BNB; P3 = 351.92: n3 = 211.152, f3 = 0.211152;
//   released = floor(528.041515 x 0.4) = 211.216606; realized = 210.940848 - 211.216606 =
//   -0.275758; cost left 316.824909 (average still 352.02767667); cash = 583.06783.
// At the live price p (read from the response): market value = floor(0.9 x p), unrealized =
// market value - cost left, equity = cash + market value, and equity - net deposits (900) =
// realized + unrealized exactly.
// TWR: the withdrawal cuts the range; just before it BNB is valued at the close of the current
// 1h candle, which is P3 (our last fill), so V- = cash + 100 + floor(0.9 x P3) and
// TWR = (V- / 1000) x (V_end / (V- - 100)) - 1. MWR solves 1000 = 100 (1+m)^-tau + V_end (1+m)^-1
// with tau the withdrawal's place in the range; we solve it here independently by bisection.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, api, newUser, deposit, minor, balances, assertInvariants,
} from './helpers.mjs';

const E8 = 100000000n;
const fee = (n) => (n * 1000n) / 1000000n; // 0.1 %, floor (engine.h)
const fmt = (v) => {
  const neg = v < 0n;
  const a = neg ? -v : v;
  return `${neg ? '-' : ''}${a / E8}.${(a % E8).toString().padStart(8, '0')}`;
};

async function order(srv, user, body) {
  const r = await api(srv, 'POST', '/api/v1/orders', { token: user.token, body });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

async function withdraw(srv, user, asset, amount) {
  const r = await api(srv, 'POST', '/api/v1/withdrawals', {
    token: user.token, body: { asset, amount },
    headers: { 'idempotency-key': `wd-${Date.now()}-${Math.random()}` },
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

function mwrBisect(t0, v0, flows, tE, vE) {
  // v0 + sum F exp(-x tau) - vE exp(-x) = 0, tau = (t - t0)/(tE - t0); m = exp(x) - 1
  const f = (x) => v0 + flows.reduce((s, [t, a]) => s + a * Math.exp(-x * (t - t0) / (tE - t0)), 0)
    - vE * Math.exp(-x);
  let lo = -40; let hi = 40; let flo = f(lo);
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2; const fm = f(mid);
    if ((fm > 0) === (flo > 0)) { lo = mid; flo = fm; } else hi = mid;
  }
  return Math.exp((lo + hi) / 2) - 1;
}

describe('portfolio of a hand-computed ledger', () => {
  let srv; let s; let c;
  const x = {};
  before(async () => {
    srv = await startServer({ speed: 0.001 });
    s = await newUser(srv, 'pf-s');
    c = await newUser(srv, 'pf-c');
    await deposit(srv, c, 'BNB', '10');
    await deposit(srv, c, 'USDT', '10000');
    const dep = await deposit(srv, s, 'USDT', '1000');
    x.t0 = Date.parse(dep.created_at);
    const book = (await api(srv, 'GET', '/api/v1/markets/BNB-USDT/book?depth=1')).body;
    const bid = minor(book.bids[0][0]); const ask = minor(book.asks[0][0]);
    assert.ok(ask - bid >= 20000000n, `BNB spread too narrow for the test: ${bid} ${ask}`);
    x.p1 = bid + 5000000n; x.p2 = bid + 10000000n; x.p3 = ask - 5000000n;
    // 1: S buys 1.0 from C's resting sell (S taker)
    await order(srv, c, { market: 'BNB-USDT', side: 'sell', type: 'limit', quantity: '1', price: fmt(x.p1) });
    let o = await order(srv, s, { market: 'BNB-USDT', side: 'buy', type: 'limit', quantity: '1', price: fmt(x.p1), time_in_force: 'ioc' });
    assert.equal(o.status, 'filled');
    // 2: S rests a buy of 0.5, C sells into it (S maker)
    const rest = await order(srv, s, { market: 'BNB-USDT', side: 'buy', type: 'limit', quantity: '0.5', price: fmt(x.p2) });
    assert.equal(rest.status, 'new');
    o = await order(srv, c, { market: 'BNB-USDT', side: 'sell', type: 'limit', quantity: '0.5', price: fmt(x.p2), time_in_force: 'ioc' });
    assert.equal(o.status, 'filled');
    // 3: C rests a buy of 0.6, S sells into it (S taker)
    await order(srv, c, { market: 'BNB-USDT', side: 'buy', type: 'limit', quantity: '0.6', price: fmt(x.p3) });
    o = await order(srv, s, { market: 'BNB-USDT', side: 'sell', type: 'limit', quantity: '0.6', price: fmt(x.p3), time_in_force: 'ioc' });
    assert.equal(o.status, 'filled');
    const w = await withdraw(srv, s, 'USDT', '100');
    x.tw = Date.parse(w.created_at);
    // every fill was between S and C at our prices
    const fills = (await api(srv, 'GET', '/api/v1/fills', { token: s.token })).body.data;
    assert.equal(fills.length, 3);
    assert.deepEqual(fills.map((f) => minor(f.price)).sort(), [x.p1, x.p2, x.p3].sort());
  });
  after(async () => { await srv.stop(); });

  it('overview: quantity, average cost, realized/unrealized P&L, fees, cash, equity', async () => {
    const n1 = x.p1; const f1 = fee(n1);
    const n2 = x.p2 / 2n; const f2 = fee(n2);
    const n3 = (x.p3 * 6n) / 10n; const f3 = fee(n3);
    const C = n1 + f1 + n2 + f2;
    const released = (C * 6n) / 15n;
    const cost = C - released;
    const realized = n3 - f3 - released;
    const cash = 1000n * E8 - (n1 + f1) - (n2 + f2) + (n3 - f3) - 100n * E8;
    const qty = 90000000n;
    const avg = (cost * E8 * 2n + qty) / (2n * qty); // half up

    const r = await api(srv, 'GET', '/api/v1/portfolio', { token: s.token });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const p = r.body;
    assert.equal(p.valuation_asset, 'USDT');
    assert.equal(minor(p.cash), cash);
    assert.equal(minor(p.deposits), 1000n * E8);
    assert.equal(minor(p.withdrawals), 100n * E8);
    assert.equal(minor(p.net_deposits), 900n * E8);
    assert.equal(p.fills, 3);
    assert.equal(p.holdings.length, 1);
    const h = p.holdings[0];
    assert.equal(h.asset, 'BNB');
    assert.equal(minor(h.quantity), qty);
    assert.equal(minor(h.cost_basis), cost);
    assert.equal(minor(h.average_cost), avg);
    assert.equal(minor(h.realized_pnl), realized);
    assert.equal(minor(h.fees_paid), f1 + f2 + f3);
    assert.equal(minor(p.fees_paid), f1 + f2 + f3);
    assert.equal(h.trades, 3);
    const price = minor(h.price);
    assert.ok(price > 0n);
    const mv = (qty * price) / E8;
    assert.equal(minor(h.market_value), mv);
    assert.equal(minor(h.unrealized_pnl), mv - cost);
    assert.equal(minor(p.equity), cash + mv);
    assert.equal(minor(p.equity) - minor(p.net_deposits), minor(p.realized_pnl) + minor(p.unrealized_pnl));
    const shares = p.allocation.reduce((a, e) => a + e.share, 0);
    assert.ok(Math.abs(shares - 1) < 1e-12, `allocation sums to ${shares}`);
    // the holdings agree with the ledger's balances
    const bal = await balances(srv, s);
    assert.equal(minor(bal.BNB.total), qty);
    assert.equal(minor(bal.USDT.total), cash);
    // the counterparty: 10 BNB deposited, 1.5 sold, 0.6 bought
    const pc = (await api(srv, 'GET', '/api/v1/portfolio', { token: c.token })).body;
    const hc = pc.holdings.find((e) => e.asset === 'BNB');
    assert.equal(minor(hc.quantity), 910000000n);
    await assertInvariants(srv, [s, c]);
    x.equity = minor(p.equity); x.cash = cash; x.price = price;
  });

  it('performance: TWR neutralises the withdrawal, MWR, absolute P&L, BTC benchmark', async () => {
    const r = await api(srv, 'GET', '/api/v1/portfolio/performance?range=MAX', { token: s.token });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const p = r.body;
    assert.equal(p.start, x.t0);
    assert.equal(minor(p.start_equity), 1000n * E8);
    assert.equal(minor(p.end_equity), x.equity);
    assert.equal(minor(p.withdrawals), 100n * E8);
    assert.equal(minor(p.net_flows), -100n * E8);
    assert.equal(minor(p.absolute_pnl), x.equity - 1000n * E8 + 100n * E8);
    const vMinus = x.cash + 100n * E8 + (90000000n * x.p3) / E8;
    const twr = (Number(vMinus) / 1e11) * (Number(x.equity) / Number(vMinus - 100n * E8)) - 1;
    assert.ok(Math.abs(p.twr - twr) < 1e-12, `twr ${p.twr} vs ${twr}`);
    const mwr = mwrBisect(x.t0, 1000, [[x.tw, -100]], p.end, Number(x.equity) / 1e8);
    assert.ok(Math.abs(p.mwr - mwr) < 1e-9, `mwr ${p.mwr} vs ${mwr}`);
    assert.equal(p.benchmark.market, 'BTC-USDT');
    const b0 = Number(minor(p.benchmark.start_price)); const b1 = Number(minor(p.benchmark.end_price));
    assert.ok(Math.abs(p.benchmark.return - (b1 / b0 - 1)) < 1e-12);
    // a custom range that starts before the deposit: V0 = 0, the deposit is a flow
    const q = await api(srv, 'GET', `/api/v1/portfolio/performance?start=${x.t0 - 1000}`, { token: s.token });
    assert.equal(q.status, 200, JSON.stringify(q.body));
    assert.equal(q.body.range, 'custom');
    assert.equal(minor(q.body.start_equity), 0n);
    assert.equal(minor(q.body.deposits), 1000n * E8);
    assert.ok(Math.abs(q.body.twr - twr) < 1e-12, 'the deposit does not move the TWR');
  });

  it('history: equity points from the first activity to now', async () => {
    const r = await api(srv, 'GET', '/api/v1/portfolio/history?resolution=1h', { token: s.token });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const pts = r.body.points;
    assert.ok(pts.length >= 2);
    assert.equal(pts[0].time, x.t0);
    assert.equal(minor(pts[0].equity), 1000n * E8);
    assert.equal(minor(pts[pts.length - 1].equity), x.equity);
    for (let i = 1; i < pts.length; i++) assert.ok(pts[i].time > pts[i - 1].time);
    for (let i = 1; i < pts.length - 1; i++) assert.equal(pts[i].time % 3600000, 0);
    // a range before any activity is flat at zero
    const q = await api(srv, 'GET', `/api/v1/portfolio/history?resolution=1d&start=${x.t0 - 5 * 86400000}&end=${x.t0 - 1}`, { token: s.token });
    assert.equal(q.status, 200);
    assert.ok(q.body.points.length >= 5);
    assert.ok(q.body.points.every((e) => e.equity === '0.00000000'));
  });

  it('risk: exposure and concentration warnings, VaR entries, drawdown shape', async () => {
    let r = await api(srv, 'GET', '/api/v1/risk', { token: s.token });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const mv = (90000000n * x.price) / E8;
    const share = Number(mv) / Number(x.equity);
    assert.equal(r.body.exposure.length, 1);
    assert.equal(r.body.exposure[0].asset, 'BNB');
    assert.equal(minor(r.body.exposure[0].value), mv);
    assert.ok(Math.abs(r.body.exposure[0].share - share) < 1e-12);
    assert.equal(r.body.concentration_limit, 0.5);
    assert.equal(r.body.warnings.length, share > 0.5 ? 1 : 0);
    assert.equal(r.body.value_at_risk.length, 4);
    assert.deepEqual(r.body.value_at_risk.map((v) => `${v.method} ${v.confidence}`),
      ['historical 0.95', 'historical 0.99', 'parametric 0.95', 'parametric 0.99']);
    assert.ok('depth' in r.body.max_drawdown && 'recovery' in r.body.max_drawdown);
    r = await api(srv, 'GET', `/api/v1/risk?concentration_limit=${(share / 2).toFixed(4)}&risk_free_rate=0.04`, { token: s.token });
    assert.equal(r.status, 200);
    assert.equal(r.body.risk_free_rate, 0.04);
    assert.equal(r.body.warnings.length, 1);
    assert.equal(r.body.warnings[0].code, 'concentration');
    assert.equal(r.body.warnings[0].asset, 'BNB');
  });

  it('bad input is a 4xx with a stable code and no side effects', async () => {
    const bad = [
      '/api/v1/portfolio/performance?range=2Y',
      '/api/v1/portfolio/history?resolution=5m',
      '/api/v1/portfolio/history?start=10&end=5',
      '/api/v1/portfolio/history?start=abc',
      '/api/v1/portfolio/performance?range=1M&start=5',
      '/api/v1/risk?risk_free_rate=abc',
      '/api/v1/risk?concentration_limit=2',
    ];
    for (const p of bad) {
      const r = await api(srv, 'GET', p, { token: s.token });
      assert.equal(r.status, 400, p);
      assert.equal(r.body.error.code, 'invalid_request', p);
    }
    const many = await api(srv, 'GET', '/api/v1/portfolio/history?resolution=1h&start=0', { token: s.token });
    assert.equal(many.status, 400);
    assert.equal(many.body.error.code, 'limit_exceeded');
    for (const p of ['/api/v1/portfolio', '/api/v1/risk', '/api/v1/portfolio/history', '/api/v1/watchlists']) {
      const r = await api(srv, 'GET', p);
      assert.equal(r.status, 401, p);
    }
    const fresh = await newUser(srv, 'pf-empty');
    const e = (await api(srv, 'GET', '/api/v1/portfolio', { token: fresh.token })).body;
    assert.equal(e.equity, '0.00000000');
    assert.deepEqual(e.holdings, []);
  });
});

describe('watchlists', () => {
  let srv; let a; let b;
  before(async () => {
    srv = await startServer({ speed: 0.001 });
    a = await newUser(srv, 'wl-a');
    b = await newUser(srv, 'wl-b');
  });
  after(async () => { await srv.stop(); });

  it('create, list, get, patch, delete, per user', async () => {
    let r = await api(srv, 'POST', '/api/v1/watchlists', { token: a.token, body: { name: 'majors', markets: ['BTC-USDT', 'ETH-USDT'] } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const id = r.body.id;
    assert.deepEqual(r.body.markets, ['BTC-USDT', 'ETH-USDT']);
    assert.equal(r.body.name, 'majors');
    r = await api(srv, 'POST', '/api/v1/watchlists', { token: a.token, body: { name: 'empty' } });
    assert.equal(r.status, 201);
    assert.deepEqual(r.body.markets, []);
    r = await api(srv, 'GET', '/api/v1/watchlists', { token: a.token });
    assert.deepEqual(r.body.data.map((w) => w.name), ['majors', 'empty']);
    r = await api(srv, 'PATCH', `/api/v1/watchlists/${id}`, { token: a.token, body: { markets: ['SOL-USDT', 'BTC-USDT'] } });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.markets, ['SOL-USDT', 'BTC-USDT']);
    assert.equal(r.body.name, 'majors');
    r = await api(srv, 'PATCH', `/api/v1/watchlists/${id}`, { token: a.token, body: { name: 'alts' } });
    assert.equal(r.body.name, 'alts');
    assert.deepEqual(r.body.markets, ['SOL-USDT', 'BTC-USDT']);
    // another user sees nothing and can change nothing
    for (const [m, body] of [['GET'], ['PATCH', { name: 'x' }], ['DELETE']]) {
      r = await api(srv, m, `/api/v1/watchlists/${id}`, { token: b.token, body });
      assert.equal(r.status, 404, m);
      assert.equal(r.body.error.code, 'not_found');
    }
    r = await api(srv, 'GET', '/api/v1/watchlists', { token: b.token });
    assert.deepEqual(r.body.data, []);
    r = await api(srv, 'GET', `/api/v1/watchlists/${id}`, { token: a.token });
    assert.equal(r.body.name, 'alts');
    r = await api(srv, 'DELETE', `/api/v1/watchlists/${id}`, { token: a.token });
    assert.equal(r.status, 200);
    r = await api(srv, 'GET', `/api/v1/watchlists/${id}`, { token: a.token });
    assert.equal(r.status, 404);
    r = await api(srv, 'DELETE', `/api/v1/watchlists/${id}`, { token: a.token });
    assert.equal(r.status, 404);
  });

  it('refuses bad input', async () => {
    a = await newUser(srv, 'wl-c'); // a user without lists
    const cases = [
      [{ name: '', markets: [] }, 400, 'invalid_request'],
      [{ markets: [] }, 400, 'invalid_request'],
      [{ name: 'x'.repeat(65) }, 400, 'invalid_request'],
      [{ name: 7 }, 400, 'invalid_type'],
      [{ name: 'a', markets: ['NOPE-USDT'] }, 404, 'unknown_market'], // the project's status for unknown_market
      [{ name: 'a', markets: ['BTC-USDT', 'BTC-USDT'] }, 400, 'invalid_request'],
      [{ name: 'a', markets: 'BTC-USDT' }, 400, 'invalid_type'],
      [{ name: 'a', colour: 'red' }, 400, 'unknown_field'],
    ];
    for (const [body, status, code] of cases) {
      const r = await api(srv, 'POST', '/api/v1/watchlists', { token: a.token, body });
      assert.equal(r.status, status, JSON.stringify(body));
      assert.equal(r.body.error.code, code, JSON.stringify(body));
    }
    let r = await api(srv, 'POST', '/api/v1/watchlists', { token: a.token, body: { name: 'dup' } });
    assert.equal(r.status, 201);
    r = await api(srv, 'POST', '/api/v1/watchlists', { token: a.token, body: { name: 'dup' } });
    assert.equal(r.status, 409);
    assert.equal(r.body.error.code, 'already_exists');
    r = await api(srv, 'PATCH', '/api/v1/watchlists/abc', { token: a.token, body: { name: 'z' } });
    assert.equal(r.status, 404);
    r = await api(srv, 'GET', '/api/v1/watchlists', { token: a.token });
    assert.deepEqual(r.body.data.map((w) => w.name), ['dup'], 'refused requests changed nothing');
  });
});
