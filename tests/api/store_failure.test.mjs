// Store failure: when a commit fails, coinage refuses writes with 503 store_unavailable, keeps
// serving reads, says why in its log, and recovers cleanly at restart from what was committed.
// The failure is injected with COINAGE_TEST_FAIL_COMMIT_AFTER (the Nth request batch fails as a
// full disk would).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, api, newUser, deposit, balances, openOrders, assertInvariants, login,
} from './helpers.mjs';

describe('store failure', () => {
  it('fails stop on a failed commit, serves reads, and recovers at restart', async () => {
    // two request batches commit (a deposit, an order); the third fails
    const srv = await startServer({ speed: 0.001, env: { COINAGE_TEST_FAIL_COMMIT_AFTER: '2' } });
    let dataDir;
    let user;
    let orderId;
    try {
      dataDir = srv.dataDir;
      user = await newUser(srv, 'storefail');
      await deposit(srv, user, 'USDT', '1000');
      const o = await api(srv, 'POST', '/api/v1/orders', {
        token: user.token,
        body: { market: 'BTC-USDT', side: 'buy', type: 'limit', quantity: '0.001', price: '30000.00' },
      });
      assert.equal(o.status, 201, JSON.stringify(o.body));
      orderId = o.body.id;
      const before = await balances(srv, user);

      // the failing commit: not acknowledged
      const bad = await api(srv, 'POST', '/api/v1/deposits', {
        token: user.token, body: { asset: 'USDT', amount: '5' }, headers: { 'idempotency-key': 'after-failure-1' },
      });
      assert.equal(bad.status, 503, JSON.stringify(bad.body));
      assert.equal(bad.body.error.code, 'store_unavailable');
      // later writes are refused too, nothing changes
      const bad2 = await api(srv, 'POST', '/api/v1/orders', {
        token: user.token,
        body: { market: 'BTC-USDT', side: 'buy', type: 'limit', quantity: '0.001', price: '30001.00' },
      });
      assert.equal(bad2.status, 503);
      assert.equal(bad2.body.error.code, 'store_unavailable');
      const bad3 = await api(srv, 'DELETE', `/api/v1/orders/${orderId}`, { token: user.token });
      assert.equal(bad3.status, 503);
      // reads still work and show the committed state
      assert.deepEqual(await balances(srv, user), before);
      assert.equal((await openOrders(srv, user)).length, 1);
      const ticker = await api(srv, 'GET', '/api/v1/markets/BTC-USDT/ticker');
      assert.equal(ticker.status, 200);
      const health = await api(srv, 'GET', '/health');
      assert.equal(health.status, 503);
      assert.equal(health.body.status, 'degraded');
      assert.match(srv.log(), /commit .*fail|injected commit failure/);
    } finally {
      await srv.stop();
    }

    // restart without the fault: everything acknowledged is there, nothing else
    const srv2 = await startServer({ speed: 0.001, dataDir });
    try {
      const u2 = await login(srv2, user.email, user.password);
      const bal = await balances(srv2, u2);
      assert.equal(bal.USDT.total, '1000.00000000');
      assert.equal(bal.USDT.held, '30.03000000');
      const open = await openOrders(srv2, u2);
      assert.deepEqual(open.map((o) => o.id), [orderId]);
      const led = await api(srv2, 'GET', '/api/v1/ledger', { token: u2.token });
      assert.equal(led.body.data.filter((e) => e.kind === 'deposit').length, 1);
      // writes work again
      await deposit(srv2, u2, 'USDT', '5');
      const c = await api(srv2, 'DELETE', `/api/v1/orders/${orderId}`, { token: u2.token });
      assert.equal(c.status, 200);
      await assertInvariants(srv2, [u2]);
    } finally {
      await srv2.stop();
    }
  });
});
