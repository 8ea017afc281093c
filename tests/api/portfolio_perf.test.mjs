// Portfolio snapshot of a user with 10k+ fills: the figures are computed on the portfolio worker
// thread, so /health keeps answering while a cold snapshot reads the whole history. The user's
// fills are real: market orders against the house liquidity that mirrors the replayed Binance
// book (replay at real speed so the book refills). Timings are printed, not asserted (the
// machine is shared); the assertions are about correctness: the snapshot counts every fill and
// agrees with the ledger's balances.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { startServer, api, newUser, deposit, minor, balances, BIN } from './helpers.mjs';

const TARGET_FILLS = Number(process.env.PF_PERF_FILLS || 10000);
const CONCURRENCY = 48;

async function pool(n, fn) {
  let next = 0;
  const workers = Array.from({ length: CONCURRENCY }, async () => {
    while (next < n) {
      const i = next++;
      await fn(i);
    }
  });
  await Promise.all(workers);
}

function pct(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

describe(`portfolio with ${TARGET_FILLS}+ fills`, () => {
  let srv; let u;
  let fills = 0;
  before(async () => {
    srv = await startServer({ speed: 1 });
    u = await newUser(srv, 'pf-perf');
    await deposit(srv, u, 'USDT', '1000000');
    const t0 = performance.now();
    // alternate rounds of market buys and sells of the minimum-notional size until the store
    // holds TARGET_FILLS fills for the user (a market order may fill against several levels)
    let round = 0;
    while (fills < TARGET_FILLS) {
      const side = round++ % 2 === 0 ? 'buy' : 'sell';
      const n = Math.min(2000, Math.max(200, TARGET_FILLS - fills));
      let got = 0;
      await pool(n, async () => {
        const r = await api(srv, 'POST', '/api/v1/orders', {
          token: u.token, body: { market: 'BTC-USDT', side, type: 'market', quantity: '0.0001' },
        });
        if (r.status === 201) got += r.body.fills.length;
      });
      fills += got;
      assert.ok(got > 0, `no ${side} filled in round ${round}`);
    }
    const s = (performance.now() - t0) / 1000;
    console.log(`perf: ${fills} fills through the API in ${s.toFixed(1)} s (${(fills / s).toFixed(0)} fills/s, ${CONCURRENCY} concurrent clients)`);
  });
  after(async () => { await srv.stop(); });

  it('answers a cold snapshot off the network thread and warm ones in milliseconds', async () => {
    // cold: the worker reads the whole history; meanwhile /health is polled
    const health = [];
    let done = false;
    const poller = (async () => {
      while (!done) {
        const t = performance.now();
        const r = await fetch(`${srv.base}/health`);
        await r.text();
        health.push(performance.now() - t);
      }
    })();
    const t0 = performance.now();
    const cold = await api(srv, 'GET', '/api/v1/portfolio', { token: u.token });
    const coldMs = performance.now() - t0;
    done = true;
    await poller;
    assert.equal(cold.status, 200, JSON.stringify(cold.body));
    assert.equal(cold.body.fills, fills);
    const bal = await balances(srv, u);
    const h = cold.body.holdings.find((e) => e.asset === 'BTC');
    assert.equal(minor(h.quantity), minor(bal.BTC.total));
    assert.equal(minor(cold.body.cash), minor(bal.USDT.total));

    const warm = [];
    for (let i = 0; i < 200; i++) {
      const t = performance.now();
      const r = await api(srv, 'GET', '/api/v1/portfolio', { token: u.token });
      warm.push(performance.now() - t);
      assert.equal(r.status, 200);
    }
    const timed = async (p) => {
      const t = performance.now();
      const r = await api(srv, 'GET', p, { token: u.token });
      assert.equal(r.status, 200, `${p}: ${JSON.stringify(r.body)}`);
      return (performance.now() - t).toFixed(1);
    };
    const hist = await timed('/api/v1/portfolio/history?resolution=1h');
    const perf = await timed('/api/v1/portfolio/performance?range=MAX');
    const risk = await timed('/api/v1/risk?resolution=1h');
    console.log(`perf: ${fills} fills, server ${BIN} (build/debug = ASan/UBSan), replay at real speed, 2 shared cores; round trip over loopback from node fetch:`);
    console.log(`perf:   cold overview ${coldMs.toFixed(1)} ms; /health during it: ${health.length} answers, max ${Math.max(...health).toFixed(1)} ms`);
    console.log(`perf:   warm overview p50 ${pct(warm, 50).toFixed(2)} ms, p99 ${pct(warm, 99).toFixed(2)} ms (200 requests)`);
    console.log(`perf:   history 1h ${hist} ms, performance MAX ${perf} ms, risk 1h ${risk} ms`);
    assert.ok(health.length >= 1);
  });
});
