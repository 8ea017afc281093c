// Equity history, performance and risk over several days, on a real server and store.
//
// Coinage's clock is the wall clock, so a test cannot wait days for a history. Instead the test
// makes real activity through the API (a deposit and a fill between two users at a price we
// choose), stops the server, moves that activity 10 days into the past in the store (the
// timestamps of the user's journal entries and fills; amounts untouched, the ledger stays
// balanced), writes daily BNB and BTC candles with chosen closes for those days, and restarts
// the server on the same data directory. Every figure is then worked out here independently.
//
// D0 = midnight UTC 10 days ago. S deposits 1000 USDT at D0 + 1h and buys 1 BNB at price P
// (fee floor(P x 0.1%)) at D0 + 2h; cash = 1000 - P - fee. BNB daily closes c0..c5 =
// 380, 342, 376.2, 300, 330, 420 for the days starting D0 .. D0 + 5d. The price at a grid time t
// is the close of the latest candle that opened before t, so with resolution 1d over
// [D0, D0 + 6d] the points are D0 (equity 0), D0 + k days (equity V_k = cash + c_(k-1)), k=1..6.
// TWR index: 1 at D0; the deposit is a flow (the piece before it has no money and no return),
// then V1/1000, and V_k/V_(k-1) each day after. With P = 351.66 (fee 0.35166, cash
// 647.98834): V = 1027.98834, 989.98834, 1024.18834, 947.98834, 977.98834, 1067.98834, so the
// daily returns are +2.7988%, -3.6966%, +3.4546%, -7.4400%, +3.1646%, +9.2026%; the max
// drawdown runs from the D0+1d peak to the D0+4d trough (947.98834/1027.98834 - 1 = -7.7822%)
// and recovers at D0+6d; with 6 returns k = ceil(6 x 0.05) = 1, so historical VaR95 = VaR99 =
// CVaR = 7.4400% (the worst day). The test recomputes all of it from P as filled.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, api, newUser, deposit, minor, storeSql } from './helpers.mjs';

const E8 = 100000000n;
const DAY = 86400000;
const fee = (n) => (n * 1000n) / 1000000n;
const fmt = (v) => `${v / E8}.${(v % E8).toString().padStart(8, '0')}`;
const CLOSES = ['380', '342', '376.2', '300', '330', '420'];

function sqlite(dataDir, sql) {
  storeSql(dataDir, sql); // sqlite3, or psql in the PostgreSQL pass
}

describe('history, performance and risk over days (activity moved into the past)', () => {
  let srv; let s; let c;
  let P; let D0;
  before(async () => {
    srv = await startServer({ speed: 0.001 });
    s = await newUser(srv, 'hist-s');
    c = await newUser(srv, 'hist-c');
    await deposit(srv, c, 'BNB', '5');
    await deposit(srv, s, 'USDT', '1000');
    const book = (await api(srv, 'GET', '/api/v1/markets/BNB-USDT/book?depth=1')).body;
    P = minor(book.bids[0][0]) + 5000000n;
    assert.ok(P < minor(book.asks[0][0]));
    let r = await api(srv, 'POST', '/api/v1/orders', { token: c.token, body: { market: 'BNB-USDT', side: 'sell', type: 'limit', quantity: '1', price: fmt(P) } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    r = await api(srv, 'POST', '/api/v1/orders', { token: s.token, body: { market: 'BNB-USDT', side: 'buy', type: 'limit', quantity: '1', price: fmt(P), time_in_force: 'ioc' } });
    assert.equal(r.body.status, 'filled');
    await srv.stop();

    D0 = Math.floor(Date.now() / DAY) * DAY - 10 * DAY;
    const uid = s.id;
    // a day's 1d bar and its last 1h bar close at the same price, as the store writes them
    // (performance looks prices up in 1h candles, daily history and risk in 1d candles)
    const candles = [];
    const bar = (m, day, cl) => {
      const v = minor(cl);
      candles.push(`('${m}','1d',${day},${v},${v},${v},${v},0,0,'test')`);
      candles.push(`('${m}','1h',${day + 23 * 3600000},${v},${v},${v},${v},0,0,'test')`);
    };
    CLOSES.forEach((cl, k) => bar('BNB-USDT', D0 + k * DAY, cl));
    bar('BTC-USDT', D0 - DAY, '50000');
    bar('BTC-USDT', D0 + 5 * DAY, '55000');
    sqlite(srv.dataDir, `BEGIN;
      UPDATE journal_entries SET ts = ${D0 + 3600000} WHERE kind = 'deposit' AND id IN (SELECT entry_id FROM postings WHERE user_id = ${uid});
      UPDATE journal_entries SET ts = ${D0 + 7200000} WHERE kind = 'trade' AND id IN (SELECT entry_id FROM postings WHERE user_id = ${uid});
      UPDATE fills SET ts = ${D0 + 7200000} WHERE taker_user_id = ${uid} OR maker_user_id = ${uid};
      INSERT INTO candles (market, interval, open_time, open, high, low, close, volume, quote_volume, source) VALUES ${candles.join(',')}
        ON CONFLICT (market, interval, open_time) DO UPDATE SET close = excluded.close;
      COMMIT;`);
    srv = await startServer({ speed: 0.001, dataDir: srv.dataDir });
  });
  after(async () => { await srv.stop(); });

  const cash = () => 1000n * E8 - P - fee(P);
  const equities = () => [0n, ...CLOSES.map((cl) => cash() + minor(cl))];
  const index = () => {
    const V = equities();
    const idx = [1];
    let base = 1000 * 1e8; // just after the deposit
    let x = 1;
    for (let k = 1; k < V.length; k++) {
      x *= Number(V[k]) / base;
      base = Number(V[k]);
      idx.push(x);
    }
    return idx;
  };
  const range = () => `start=${D0}&end=${D0 + 6 * DAY}`;

  it('history: daily equity from candle closes', async () => {
    const r = await api(srv, 'GET', `/api/v1/portfolio/history?resolution=1d&${range()}`, { token: s.token });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const pts = r.body.points;
    assert.deepEqual(pts.map((p) => p.time), [0, 1, 2, 3, 4, 5, 6].map((k) => D0 + k * DAY));
    assert.deepEqual(pts.map((p) => minor(p.equity)), equities());
    const idx = index();
    pts.forEach((p, k) => assert.ok(Math.abs(p.twr_index - idx[k]) < 1e-12, `index ${k}`));
    assert.equal(pts[6].net_flow, '1000.00000000');
  });

  it('performance: TWR, MWR, absolute P&L and the BTC benchmark', async () => {
    const r = await api(srv, 'GET', `/api/v1/portfolio/performance?${range()}`, { token: s.token });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const V6 = equities()[6];
    assert.equal(minor(r.body.start_equity), 0n);
    assert.equal(minor(r.body.end_equity), V6);
    assert.equal(minor(r.body.absolute_pnl), V6 - 1000n * E8);
    assert.ok(Math.abs(r.body.twr - (Number(V6) / 1e11 - 1)) < 1e-12);
    // one deposit, nothing else: the money-weighted return equals the simple return
    assert.ok(Math.abs(r.body.mwr - (Number(V6) / 1e11 - 1)) < 1e-9, `mwr ${r.body.mwr}`);
    assert.equal(r.body.benchmark.start_price, '50000.00000000');
    assert.equal(r.body.benchmark.end_price, '55000.00000000');
    assert.ok(Math.abs(r.body.benchmark.return - 0.1) < 1e-12);
  });

  it('risk: VaR/CVaR, volatility, Sharpe, Sortino, Calmar and drawdown dates', async () => {
    const rf = 0.04;
    const r = await api(srv, 'GET', `/api/v1/risk?resolution=1d&${range()}&risk_free_rate=${rf}`, { token: s.token });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const b = r.body;
    const idx = index();
    const ret = idx.slice(1).map((v, k) => v / idx[k] - 1);
    const n = ret.length;
    assert.equal(b.returns, n);
    const mean = ret.reduce((a, v) => a + v, 0) / n;
    const sd = Math.sqrt(ret.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1));
    const near = (got, want, what) => assert.ok(Math.abs(got - want) <= 1e-9 * Math.max(1, Math.abs(want)), `${what}: ${got} vs ${want}`);
    near(b.mean_return, mean, 'mean');
    near(b.stdev, sd, 'stdev');
    near(b.volatility, sd * Math.sqrt(365), 'volatility');
    const worst = Math.min(...ret); // k = ceil(6 x 0.05) = ceil(6 x 0.01) = 1
    const z95 = 1.6448536269514722; const z99 = 2.3263478740408408;
    const phi = (z) => Math.exp(-z * z / 2) / Math.sqrt(2 * Math.PI);
    const want = {
      'historical 0.95': [-worst, -worst], 'historical 0.99': [-worst, -worst],
      'parametric 0.95': [z95 * sd - mean, sd * phi(z95) / 0.05 - mean],
      'parametric 0.99': [z99 * sd - mean, sd * phi(z99) / 0.01 - mean],
    };
    const ov = (await api(srv, 'GET', '/api/v1/portfolio', { token: s.token })).body;
    assert.equal(minor(b.equity), minor(ov.equity));
    for (const v of b.value_at_risk) {
      const [var_, cvar] = want[`${v.method} ${v.confidence}`];
      near(v.var, var_, `${v.method} ${v.confidence} var`);
      near(v.cvar, cvar, `${v.method} ${v.confidence} cvar`);
      const amt = Math.round(var_ * Number(minor(ov.equity)));
      assert.ok(Math.abs(Number(minor(v.var_amount)) - amt) <= 1, 'var_amount = var x equity');
    }
    const rfp = (1 + rf) ** (1 / 365) - 1;
    near(b.sharpe, (mean - rfp) / sd * Math.sqrt(365), 'sharpe');
    const dd = Math.sqrt(ret.reduce((a, v) => a + Math.min(0, v - rfp) ** 2, 0) / n);
    near(b.sortino, (mean - rfp) / dd * Math.sqrt(365), 'sortino');
    const ann = idx[n] ** (365 / n) - 1;
    near(b.annual_return, ann, 'annual return');
    const mdd = idx[4] / idx[1] - 1;
    near(b.max_drawdown.depth, mdd, 'max drawdown');
    assert.equal(b.max_drawdown.start, D0 + DAY);
    assert.equal(b.max_drawdown.trough, D0 + 4 * DAY);
    assert.equal(b.max_drawdown.recovery, D0 + 6 * DAY);
    near(b.calmar, ann / -mdd, 'calmar');
  });
});
