// Binance request weight on /api/v3: X-MBX-USED-WEIGHT-1M counts per IP and minute, and over
// 6000 the answer is 429 with {"code":-1003,...} and Retry-After (its own server: the counter
// is per process).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './helpers.mjs';

let srv;
before(async () => { srv = await startServer(); });
after(async () => { await srv?.stop(); });

test('request weight: counted per endpoint, 429 / -1003 past 6000 a minute', async () => {
  // stay clear of a minute boundary so the whole run falls in one window
  const s = new Date().getUTCSeconds();
  if (s > 40) await new Promise((r) => setTimeout(r, (61 - s) * 1000));
  const first = await fetch(`${srv.base}/api/v3/exchangeInfo`);
  await first.arrayBuffer();
  const w0 = Number(first.headers.get('x-mbx-used-weight-1m'));
  assert.ok(w0 >= 20);
  const t = await fetch(`${srv.base}/api/v3/time`);
  await t.arrayBuffer();
  assert.equal(Number(t.headers.get('x-mbx-used-weight-1m')), w0 + 1);
  let last;
  for (let used = w0 + 1; used + 20 <= 6000; used += 20) {
    last = await fetch(`${srv.base}/api/v3/exchangeInfo`);
    await last.arrayBuffer();
    assert.equal(last.status, 200);
  }
  assert.ok(Number(last.headers.get('x-mbx-used-weight-1m')) <= 6000);
  const over = await fetch(`${srv.base}/api/v3/exchangeInfo`);
  assert.equal(over.status, 429);
  const body = await over.json();
  assert.equal(body.code, -1003);
  assert.match(body.msg, /^Too much request weight used; current limit is 6000 request weight per 1 MINUTE/);
  assert.ok(Number(over.headers.get('retry-after')) >= 1);
  // the native API is not part of Binance's weight budget
  assert.equal((await fetch(`${srv.base}/api/v1/markets`)).status, 200);
});
