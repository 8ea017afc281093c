// Analytics over a real server: indicators, market statistics and coin listings, checked
// against values recomputed here from the same server's /candles and /ticker responses.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, api } from './helpers.mjs';

const B = '/api/v1';
const close = (c) => Number(c.close);
const near = (a, b, tol = 1e-9, what = '') => assert.ok(
  Math.abs(a - b) <= tol * Math.max(1, Math.abs(a), Math.abs(b)), `${what}: ${a} vs ${b}`);

async function candles(srv, market, interval, limit, end) {
  const q = `interval=${interval}&limit=${limit}${end ? `&end=${end}` : ''}`;
  const r = await api(srv, 'GET', `${B}/markets/${market}/candles?${q}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.data;
}

async function ind(srv, market, query) {
  const r = await api(srv, 'GET', `${B}/markets/${market}/indicators?${query}`);
  assert.equal(r.status, 200, `${query}: ${JSON.stringify(r.body)}`);
  return r.body;
}

const sampleStdev = (x) => {
  const m = x.reduce((a, b) => a + b, 0) / x.length;
  return Math.sqrt(x.reduce((a, b) => a + (b - m) ** 2, 0) / (x.length - 1));
};
const logReturns = (c) => c.slice(1).map((v, i) => Math.log(v / c[i]));

describe('analytics API', () => {
  let srv;
  before(async () => { srv = await startServer({ speed: 0.001 }); });
  after(async () => { await srv.stop(); });

  it('SMA points align with /candles and equal the mean of the closes', async () => {
    const body = await ind(srv, 'BTC-USDT', 'name=sma&interval=1d&period=20&limit=50');
    assert.equal(body.market, 'BTC-USDT');
    assert.equal(body.interval, '1d');
    assert.equal(body.name, 'sma');
    assert.deepEqual(body.params, { period: 20 });
    assert.deepEqual(body.columns, ['value']);
    const cs = await candles(srv, 'BTC-USDT', '1d', 69);
    const window = cs.slice(19);
    assert.equal(body.points.length, 50);
    assert.deepEqual(body.points.map((p) => p.time), window.map((c) => c.open_time));
    body.points.forEach((p, i) => {
      const mean = cs.slice(i, i + 20).reduce((a, c) => a + close(c), 0) / 20;
      near(p.value, mean, 1e-12, `sma bar ${i}`);
    });
  });

  it('EMA is computed over history loaded before the window, seeded as documented', async () => {
    const end = Date.UTC(2023, 5, 30);
    const body = await ind(srv, 'ETH-USDT', `name=ema&interval=1h&period=12&limit=40&end=${end}`);
    assert.ok(body.history_bars > 11, 'history before the window');
    const cs = await candles(srv, 'ETH-USDT', '1h', 40 + body.history_bars, end);
    assert.deepEqual(body.points.map((p) => p.time), cs.slice(-40).map((c) => c.open_time));
    // EMA: SMA seed of the first 12 closes, then alpha = 2/13 (TA-Lib)
    const x = cs.map(close);
    let e = x.slice(0, 12).reduce((a, b) => a + b, 0) / 12;
    const ema = [];
    for (let i = 12; i < x.length; i++) { e = (x[i] - e) * (2 / 13) + e; ema[i] = e; }
    body.points.forEach((p, i) => near(p.value, ema[x.length - 40 + i], 1e-12, `ema ${i}`));
  });

  it('every indicator answers with its columns; the warm-up is null, not invented', async () => {
    const first = (await api(srv, 'GET', `${B}/markets/BTC-USDT/candles?interval=1d&start=0&limit=1`))
      .body.data[0].open_time;
    const end = first + 40 * 86400000; // 41 daily bars exist up to here
    const cases = [
      ['sma', 'period=20', ['value'], 19], ['ema', 'period=20', ['value'], 19],
      ['wma', 'period=20', ['value'], 19], ['rsi', 'period=14', ['value'], 14],
      ['macd', 'fast=12&slow=26&signal=9', ['macd', 'signal', 'histogram'], 33],
      ['bbands', 'period=20&stddev=2', ['upper', 'middle', 'lower'], 19],
      ['atr', 'period=14', ['value'], 14], ['stoch', 'k=14&d=3&smooth=3', ['k', 'd'], 17],
      ['vwap', 'period=10', ['value'], 9], ['obv', '', ['value'], 0],
    ];
    for (const [name, q, cols, lookback] of cases) {
      const body = await ind(srv, 'BTC-USDT', `name=${name}&interval=1d${q ? `&${q}` : ''}&limit=100&end=${end}`);
      assert.deepEqual(body.columns, cols, name);
      assert.equal(body.points.length, 41, name);
      const last = cols[cols.length - 1];
      body.points.forEach((p, i) => {
        assert.equal(p[last] === null, i < lookback, `${name} bar ${i}: ${p[last]}`);
        for (const c of cols) assert.ok(p[c] === null || Number.isFinite(p[c]), `${name}.${c}`);
      });
    }
    // an empty query fragment ("&&") does not hide the parameters after it
    const amp = await ind(srv, 'BTC-USDT', `name=sma&&interval=1d&&period=5&limit=3&end=${end}`);
    assert.equal(amp.interval, '1d');
    assert.deepEqual(amp.params, { period: 5 });
    assert.equal(amp.points.length, 3);
    assert.equal(amp.points[2].time, end);
    const bb = await ind(srv, 'BTC-USDT', 'name=bbands&interval=1d&limit=5');
    for (const p of bb.points) assert.ok(p.lower < p.middle && p.middle < p.upper);
    const st = await ind(srv, 'BTC-USDT', 'name=stoch&interval=1h&period=5&limit=5');
    assert.deepEqual(st.params, { k: 5, d: 3, smooth: 1 });
    for (const p of st.points) assert.ok(p.k >= 0 && p.k <= 100 && p.d >= 0 && p.d <= 100);
  });

  it('rejects bad indicator requests with 400 invalid_request and unknown markets with 404', async () => {
    const bad = ['name=foo', '', 'name=sma&period=0', 'name=sma&period=abc', 'name=sma&period=1001',
      'name=macd&fast=26&slow=12', 'name=bbands&stddev=0', 'name=bbands&stddev=x',
      'name=sma&interval=2h', 'name=sma&limit=0', 'name=sma&limit=1501', 'name=sma&end=x',
      'name=stoch&smooth=0'];
    for (const q of bad) {
      const r = await api(srv, 'GET', `${B}/markets/BTC-USDT/indicators?${q}`);
      assert.equal(r.status, 400, `${q}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, 'invalid_request', q);
    }
    const r = await api(srv, 'GET', `${B}/markets/NOPE-USDT/indicators?name=sma`);
    assert.equal(r.status, 404);
    assert.equal(r.body.error.code, 'unknown_market');
  });

  it('volatility is the annualised sample stdev of log returns (365 days)', async () => {
    const r = await api(srv, 'GET', `${B}/markets/SOL-USDT/stats/volatility?interval=1d&window=30&limit=3`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.periods_per_year, 365);
    const cs = await candles(srv, 'SOL-USDT', '1d', 33);
    const ret = logReturns(cs.map(close));
    assert.equal(r.body.points.length, 3);
    r.body.points.forEach((p, i) => {
      assert.equal(p.time, cs[30 + i].open_time);
      near(p.value, sampleStdev(ret.slice(i, i + 30)) * Math.sqrt(365), 1e-12, `vol ${i}`);
    });
    assert.equal(r.body.volatility, r.body.points[2].value);
    const h = await api(srv, 'GET', `${B}/markets/SOL-USDT/stats/volatility?interval=1h&window=24`);
    assert.equal(h.body.periods_per_year, 8760);
    const bad = await api(srv, 'GET', `${B}/markets/SOL-USDT/stats/volatility?window=1`);
    assert.equal(bad.status, 400);
  });

  it('correlation matrix and beta match Pearson r and cov/var of aligned log returns', async () => {
    const mk = ['BTC-USDT', 'ETH-USDT', 'SOL-USDT', 'DOGE-USDT'];
    const r = await api(srv, 'GET', `${B}/analytics/correlation?markets=${mk.join(',')}&interval=1d&window=60`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body.markets, mk);
    assert.equal(r.body.observations, 60);
    const series = [];
    for (const m of mk) {
      const cs = (await candles(srv, m, '1d', 61)).filter((c) => c.open_time >= r.body.start);
      assert.equal(cs.length, 61, m);
      assert.equal(cs[60].open_time, r.body.end);
      series.push(logReturns(cs.map(close)));
    }
    const pearson = (a, b) => {
      const ma = a.reduce((s, v) => s + v, 0) / a.length;
      const mb = b.reduce((s, v) => s + v, 0) / b.length;
      let sab = 0; let saa = 0; let sbb = 0;
      for (let i = 0; i < a.length; i++) {
        sab += (a[i] - ma) * (b[i] - mb); saa += (a[i] - ma) ** 2; sbb += (b[i] - mb) ** 2;
      }
      return { r: sab / Math.sqrt(saa * sbb), beta: sab / sbb };
    };
    for (let a = 0; a < mk.length; a++) {
      near(r.body.matrix[a][a], 1, 1e-12);
      for (let b = 0; b < mk.length; b++) {
        assert.equal(r.body.matrix[a][b], r.body.matrix[b][a]);
        near(r.body.matrix[a][b], pearson(series[a], series[b]).r, 1e-12, `${mk[a]}/${mk[b]}`);
      }
    }
    const beta = await api(srv, 'GET', `${B}/markets/ETH-USDT/stats/beta?interval=1d&window=60`);
    assert.equal(beta.status, 200, JSON.stringify(beta.body));
    assert.equal(beta.body.benchmark, 'BTC-USDT');
    near(beta.body.beta, pearson(series[1], series[0]).beta, 1e-12, 'beta');
    near(beta.body.correlation, r.body.matrix[1][0], 1e-12, 'beta correlation');
    const self = await api(srv, 'GET', `${B}/markets/BTC-USDT/stats/beta?window=30`);
    near(self.body.beta, 1, 1e-12, 'beta of BTC vs itself');
    for (const q of ['markets=BTC-USDT', 'markets=BTC-USDT,BTC-USDT', 'markets=BTC-USDT,NOPE',
      'window=1']) {
      const e = await api(srv, 'GET', `${B}/analytics/correlation?${q}`);
      assert.ok(e.status === 400 || e.status === 404, `${q}: ${e.status}`);
    }
  });

  it('drawdown series: close over running peak, minus one; max with peak, trough, recovery', async () => {
    const r = await api(srv, 'GET', `${B}/markets/BTC-USDT/stats/drawdown?interval=1d&limit=400`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const cs = await candles(srv, 'BTC-USDT', '1d', 400);
    let peak = 0; let worst = 0; let worstAt = -1;
    r.body.points.forEach((p, i) => {
      assert.equal(p.time, cs[i].open_time);
      assert.equal(p.close, cs[i].close);
      peak = Math.max(peak, close(cs[i]));
      const dd = close(cs[i]) / peak - 1;
      near(p.value, dd, 1e-12, `dd ${i}`);
      if (dd < worst) { worst = dd; worstAt = i; }
    });
    near(r.body.max_drawdown, worst, 1e-12);
    assert.ok(worst < 0, 'a year of BTC has a drawdown');
    assert.equal(r.body.trough.time, cs[worstAt].open_time);
    assert.ok(r.body.peak.time < r.body.trough.time);
    assert.ok(r.body.recovery_time === null || r.body.recovery_time > r.body.trough.time);
  });

  it('coins: listing metadata from the shipped CoinGecko snapshot, prices from the live replay', async () => {
    const r = await api(srv, 'GET', `${B}/coins`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.metadata.as_of, '2025-03-04');
    assert.equal(r.body.metadata.market_cap_currency, 'EUR');
    const syms = r.body.data.map((c) => c.symbol);
    assert.deepEqual([...syms].sort(), ['ADA', 'BNB', 'BTC', 'DOGE', 'ETH', 'LTC', 'SOL', 'XRP']);
    assert.deepEqual(r.body.data.map((c) => c.rank), [1, 2, 3, 5, 6, 8, 9, 21], 'by market cap');
    const btc = r.body.data[0];
    assert.equal(btc.symbol, 'BTC');
    assert.equal(btc.name, 'Bitcoin');
    assert.equal(btc.market, 'BTC-USDT');
    assert.equal(btc.market_cap, '1592704518472');
    assert.equal(btc.circulating_supply, '19832115.0');
    assert.equal(btc.metadata_as_of, '2025-03-04T14:45:50.155Z');
    for (const c of r.body.data) {
      const t = (await api(srv, 'GET', `${B}/markets/${c.market}/ticker`)).body;
      // the last trade, else the replay's real reference price; null before the replay quoted
      assert.equal(c.price, t.last ?? t.reference_price, c.symbol);
      if (c.price !== null) assert.match(c.price, /^\d+\.\d+$/);
      assert.equal(c.volume_24h, t.volume_24h);
      assert.equal(c.change_percent_24h, t.change_percent_24h);
    }
    const byName = (await api(srv, 'GET', `${B}/coins?sort=name`)).body.data.map((c) => c.name);
    assert.deepEqual(byName, [...byName].sort());
    const cap = (await api(srv, 'GET', `${B}/coins?sort=market_cap&order=asc&limit=2`)).body.data;
    assert.deepEqual(cap.map((c) => c.symbol), ['LTC', 'DOGE']);
    const vol = (await api(srv, 'GET', `${B}/coins?sort=volume`)).body.data;
    for (let i = 1; i < vol.length; i++) {
      assert.ok(Number(vol[i - 1].quote_volume_24h) >= Number(vol[i].quote_volume_24h));
    }
    const some = (await api(srv, 'GET', `${B}/coins?symbols=eth,doge`)).body.data;
    assert.deepEqual(some.map((c) => c.symbol), ['ETH', 'DOGE']);
    const q = (await api(srv, 'GET', `${B}/coins?q=coin`)).body.data.map((c) => c.symbol);
    assert.deepEqual(q, ['BTC', 'DOGE', 'LTC']); // Bitcoin, Dogecoin, Litecoin
    const bad = await api(srv, 'GET', `${B}/coins?sort=hype`);
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'invalid_request');

    const one = await api(srv, 'GET', `${B}/coins/sol`);
    assert.equal(one.status, 200);
    assert.equal(one.body.symbol, 'SOL');
    assert.equal(one.body.rank, 6);
    assert.equal((await api(srv, 'GET', `${B}/coins/NOPE`)).status, 404);
    const hist = await api(srv, 'GET', `${B}/coins/SOL/candles?interval=1d&limit=5`);
    assert.equal(hist.status, 200);
    assert.deepEqual(hist.body.data, await candles(srv, 'SOL-USDT', '1d', 5));

    for (const cat of ['gainers', 'losers', 'volume']) {
      const t = await api(srv, 'GET', `${B}/coins/top/${cat}?limit=3`);
      assert.equal(t.status, 200, cat);
      assert.ok(t.body.data.length <= 3);
      for (const c of t.body.data) {
        if (cat === 'gainers') assert.ok(Number(c.change_percent_24h) > 0);
        if (cat === 'losers') assert.ok(Number(c.change_percent_24h) < 0);
      }
    }
    assert.equal((await api(srv, 'GET', `${B}/coins/top/hype`)).status, 404);
  });

  it('concurrent heavy requests are all answered, each with the same result', async () => {
    const q = 'name=macd&interval=1h&limit=1500&end=1700000000000';
    const rs = await Promise.all(Array.from({ length: 12 }, () =>
      api(srv, 'GET', `${B}/markets/BTC-USDT/indicators?${q}`)));
    for (const r of rs) {
      assert.equal(r.status, 200);
      assert.equal(r.body.points.length, 1500);
      assert.deepEqual(r.body, rs[0].body);
    }
    const h = await api(srv, 'GET', '/health');
    assert.equal(h.status, 200);
  });
});
