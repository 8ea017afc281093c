// Binance request weight on /api/v3: X-MBX-USED-WEIGHT-1M counts per IP and minute, and over
// 6000 the answer is 429 with {"code":-1003,...} and Retry-After (its own server: the counter
// is per process).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, newUser } from './helpers.mjs';
import { createKey, signed } from './bnhelpers.mjs';

let srv;
before(async () => { srv = await startServer(); });
after(async () => { await srv?.stop(); });

test('new-order count: X-MBX-ORDER-COUNT-10S/-1D per user, 429 / -1015 past 100 in 10 s', async () => {
  const u = await newUser(srv, 'rl');
  const key = await createKey(srv, u);
  const bad = { symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity: '0.000001', price: '1000' };
  // all 101 requests must fall in one 10-second window: start right after a boundary, and start
  // over (at most 3 times) if a slow machine crosses into the next window
  let done = false;
  for (let attempt = 0; attempt < 3 && !done; attempt++) {
    await new Promise((r) => setTimeout(r, 10000 - (Date.now() % 10000) + 50));
    const win = Math.floor(Date.now() / 10000);
    // 10 concurrent requests at a time: one after another, a sanitizer build on a loaded machine
    // did not fit 101 signed requests into 10 s three times running
    const counts = [];
    const daily = [];
    for (let i = 0; i < 100; i += 10) {
      const rs = await Promise.all(Array.from({ length: 10 }, () => signed(srv, key, 'POST', '/api/v3/order', bad)));
      for (const r of rs) {
        assert.equal(r.body.code, -1013);
        counts.push(Number(r.headers.get('x-mbx-order-count-10s')));
        daily.push(Number(r.headers.get('x-mbx-order-count-1d')));
      }
    }
    const over = await signed(srv, key, 'POST', '/api/v3/order', bad);
    if (Math.floor(Date.now() / 10000) !== win) continue;
    // each request was counted once: the 100 answers carry the counts 1..100, in some order
    assert.deepEqual(counts.sort((a, b) => a - b), Array.from({ length: 100 }, (_, k) => k + 1));
    assert.ok(Math.min(...daily) >= 1 && new Set(daily).size === 100);
    assert.equal(over.status, 429);
    assert.deepEqual(over.body, { code: -1015, msg: 'Too many new orders; current limit is 100 orders per 10 SECOND.' });
    assert.ok(Number(over.headers.get('retry-after')) >= 1);
    done = true;
  }
  assert.ok(done, 'never fitted 101 requests in one 10-second window');
  // another user is counted apart
  const other = await createKey(srv, await newUser(srv, 'rl2'));
  const r2 = await signed(srv, other, 'POST', '/api/v3/order', bad);
  assert.equal(r2.body.code, -1013);
  assert.equal(Number(r2.headers.get('x-mbx-order-count-10s')), 1);
  const info = await (await fetch(`${srv.base}/api/v3/exchangeInfo?symbol=BTCUSDT`)).json();
  assert.deepEqual(info.rateLimits.map((l) => [l.rateLimitType, l.interval, l.intervalNum, l.limit]),
    [['REQUEST_WEIGHT', 'MINUTE', 1, 6000], ['ORDERS', 'SECOND', 10, 100], ['ORDERS', 'DAY', 1, 200000]]);
});

test('request weight: counted per endpoint, 429 / -1003 past 6000 a minute', async () => {
  // the ~300 requests must fall in one fixed one-minute window: start clear of a boundary, and
  // start over (at most 3 times) if a slow machine (sanitizers, load) crosses into the next minute
  let done = false;
  for (let attempt = 0; attempt < 3 && !done; attempt++) {
    const s = new Date().getUTCSeconds();
    if (attempt > 0 || s > 40) await new Promise((r) => setTimeout(r, 60000 - (Date.now() % 60000) + 50));
    const minute = Math.floor(Date.now() / 60000);
    const first = await fetch(`${srv.base}/api/v3/exchangeInfo`);
    await first.arrayBuffer();
    const w0 = Number(first.headers.get('x-mbx-used-weight-1m'));
    assert.ok(w0 >= 20);
    const t = await fetch(`${srv.base}/api/v3/time`);
    await t.arrayBuffer();
    if (Math.floor(Date.now() / 60000) !== minute) continue;
    assert.equal(Number(t.headers.get('x-mbx-used-weight-1m')), w0 + 1);
    let last;
    for (let used = w0 + 1; used + 20 <= 6000; used += 20) {
      last = await fetch(`${srv.base}/api/v3/exchangeInfo`);
      await last.arrayBuffer();
      assert.equal(last.status, 200);
    }
    const over = await fetch(`${srv.base}/api/v3/exchangeInfo`);
    const body = await over.json();
    if (Math.floor(Date.now() / 60000) !== minute) continue;
    assert.ok(Number(last.headers.get('x-mbx-used-weight-1m')) <= 6000);
    assert.equal(over.status, 429);
    assert.equal(body.code, -1003);
    assert.match(body.msg, /^Too much request weight used; current limit is 6000 request weight per 1 MINUTE/);
    assert.ok(Number(over.headers.get('retry-after')) >= 1);
    done = true;
  }
  assert.ok(done, 'never fitted the requests in one minute');
  // the native API is not part of Binance's weight budget
  assert.equal((await fetch(`${srv.base}/api/v1/markets`)).status, 200);
});
