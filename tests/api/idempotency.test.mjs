// Idempotency-Key end-to-end: concurrent duplicates have exactly one effect, replays return the
// stored response (header idempotent-replayed: true), a key reused with another request is a 409,
// and keys belong to one user.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, api, newUser, deposit, minor, balances, openOrders, assertInvariants,
} from './helpers.mjs';

let keySeq = 0;
const newKey = (label = 'k') => `${label}-${process.pid}-${++keySeq}-${Date.now()}`;

const post = (srv, user, p, body, key) => api(srv, 'POST', p, {
  token: user.token, body, headers: key === undefined ? {} : { 'idempotency-key': key },
});

async function ledger(srv, user) {
  const r = await api(srv, 'GET', '/api/v1/ledger?limit=500', { token: user.token });
  assert.equal(r.status, 200);
  return r.body.data;
}

const replayed = (r) => r.headers.get('idempotent-replayed') === 'true';

describe('idempotency', () => {
  let srv;
  before(async () => { srv = await startServer({ speed: 0.001 }); });
  after(async () => { await srv.stop(); });

  describe('deposits', () => {
    it('the same deposit sent 50 times concurrently has exactly one effect', async () => {
      const u = await newUser(srv, 'dep50');
      const key = newKey('dep50');
      const body = { asset: 'USDT', amount: '123.45' };
      const rs = await Promise.all(Array.from({ length: 50 }, () => post(srv, u, '/api/v1/deposits', body, key)));
      for (const r of rs) assert.equal(r.status, 201, JSON.stringify(r.body));
      const ids = new Set(rs.map((r) => r.body.id));
      assert.equal(ids.size, 1, `ids: ${[...ids]}`);
      const id = rs[0].body.id;
      assert.ok(Number.isInteger(id) && id > 0);
      // every response is the same body
      for (const r of rs) assert.deepEqual(r.body, rs[0].body);
      assert.equal(rs[0].body.kind, 'deposit');
      assert.equal(rs[0].body.amount, '123.45000000');
      assert.equal(rs[0].body.balance.total, '123.45000000');
      // exactly one of them did the work; the other 49 are replays of it
      assert.equal(rs.filter((r) => !replayed(r)).length, 1, 'exactly one original response');
      assert.equal(rs.filter(replayed).length, 49);

      const bal = await balances(srv, u);
      assert.equal(bal.USDT.total, '123.45000000');
      assert.equal(bal.USDT.available, '123.45000000');
      const deps = (await ledger(srv, u)).filter((e) => e.kind === 'deposit');
      assert.equal(deps.length, 1);
      assert.equal(deps[0].id, id);
      assert.deepEqual(deps[0].postings, [{ asset: 'USDT', amount: '123.45000000' }]);

      // later replays: the same body, marked as replayed, and still no second effect
      for (let i = 0; i < 3; i++) {
        const again = await post(srv, u, '/api/v1/deposits', body, key);
        assert.equal(again.status, 201);
        assert.deepEqual(again.body, rs[0].body);
        assert.equal(again.headers.get('idempotent-replayed'), 'true');
      }
      // byte-for-byte the same JSON text is not required, but the same field order is what
      // JSON.stringify of the parsed body shows
      const again = await post(srv, u, '/api/v1/deposits', body, key);
      assert.equal(JSON.stringify(again.body), JSON.stringify(rs[0].body));
      assert.equal((await balances(srv, u)).USDT.total, '123.45000000');
      assert.equal((await ledger(srv, u)).length, 1);
      await assertInvariants(srv, [u]);
    });

    it('two sequential deposits with different keys both count', async () => {
      const u = await newUser(srv, 'dep2');
      const a = await post(srv, u, '/api/v1/deposits', { asset: 'BTC', amount: '0.5' }, newKey());
      const b = await post(srv, u, '/api/v1/deposits', { asset: 'BTC', amount: '0.5' }, newKey());
      assert.equal(a.status, 201);
      assert.equal(b.status, 201);
      assert.notEqual(a.body.id, b.body.id);
      assert.ok(!replayed(a) && !replayed(b));
      assert.equal((await balances(srv, u)).BTC.total, '1.00000000');
      await assertInvariants(srv, [u]);
    });

    it('the same key with a different body -> 409 idempotency_key_reused, nothing changes', async () => {
      const u = await newUser(srv, 'reuse');
      const key = newKey('reuse');
      const first = await post(srv, u, '/api/v1/deposits', { asset: 'USDT', amount: '100' }, key);
      assert.equal(first.status, 201);
      const before = await balances(srv, u);
      const ledBefore = await ledger(srv, u);
      for (const v of [{ asset: 'USDT', amount: '200' }, { asset: 'BTC', amount: '100' }, { asset: 'USDT', amount: '0.01' }]) {
        const r = await post(srv, u, '/api/v1/deposits', v, key);
        assert.equal(r.status, 409, `${JSON.stringify(v)}: ${JSON.stringify(r.body)}`);
        assert.equal(r.body.error.code, 'idempotency_key_reused');
        assert.ok(!replayed(r));
      }
      // the same request spelled differently: either a conflict or a replay of the first, never
      // a second deposit
      for (const v of [{ asset: 'USDT', amount: '100.0' }, { amount: '100', asset: 'USDT' }]) {
        const r = await post(srv, u, '/api/v1/deposits', v, key);
        if (r.status === 409) assert.equal(r.body.error.code, 'idempotency_key_reused');
        else {
          assert.equal(r.status, 201, JSON.stringify(r.body));
          assert.deepEqual(r.body, first.body);
        }
      }
      // the same key on another endpoint with the same body is another request too
      const w = await post(srv, u, '/api/v1/withdrawals', { asset: 'USDT', amount: '100' }, key);
      assert.equal(w.status, 409, JSON.stringify(w.body));
      assert.equal(w.body.error.code, 'idempotency_key_reused');
      const o = await post(srv, u, '/api/v1/orders', { asset: 'USDT', amount: '100' }, key);
      assert.equal(o.status, 400, 'a body the orders endpoint refuses is refused before the key is looked at');
      assert.deepEqual(await balances(srv, u), before);
      assert.deepEqual(await ledger(srv, u), ledBefore);
      // the original request still replays
      const again = await post(srv, u, '/api/v1/deposits', { asset: 'USDT', amount: '100' }, key);
      assert.equal(again.status, 201);
      assert.deepEqual(again.body, first.body);
      assert.ok(replayed(again));
      await assertInvariants(srv, [u]);
    });

    it('concurrent requests with one key and two different bodies: one wins, the others are 409 or replays', async () => {
      const u = await newUser(srv, 'race');
      const key = newKey('race');
      const A = { asset: 'USDT', amount: '10' };
      const B = { asset: 'USDT', amount: '20' };
      const reqs = [];
      for (let i = 0; i < 20; i++) reqs.push(post(srv, u, '/api/v1/deposits', i % 2 ? B : A, key).then((r) => ({ r, body: i % 2 ? B : A })));
      const rs = await Promise.all(reqs);
      const ok = rs.filter((x) => x.r.status === 201);
      const conflict = rs.filter((x) => x.r.status === 409);
      assert.equal(ok.length + conflict.length, 20, JSON.stringify(rs.map((x) => x.r.status)));
      assert.ok(ok.length >= 1);
      // all the successes are for one body, all the conflicts for the other
      const winner = ok[0].body;
      for (const x of ok) {
        assert.equal(x.body, winner);
        assert.equal(x.r.body.id, ok[0].r.body.id);
      }
      for (const x of conflict) {
        assert.notEqual(x.body, winner);
        assert.equal(x.r.body.error.code, 'idempotency_key_reused');
      }
      assert.equal(ok.length, 10);
      assert.equal(conflict.length, 10);
      assert.equal(minor((await balances(srv, u)).USDT.total), minor(winner.amount));
      assert.equal((await ledger(srv, u)).length, 1);
      await assertInvariants(srv, [u]);
    });

    it('a request refused by validation does not use up its key', async () => {
      const u = await newUser(srv, 'valid');
      const key = newKey('valid');
      const bad = await post(srv, u, '/api/v1/deposits', { asset: 'USDT', amount: 'abc' }, key);
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error.code, 'invalid_amount');
      const bad2 = await post(srv, u, '/api/v1/deposits', { asset: 'USDT', amount: '2000000' }, key);
      assert.equal(bad2.status, 400);
      assert.equal(bad2.body.error.code, 'limit_exceeded');
      const good = await post(srv, u, '/api/v1/deposits', { asset: 'USDT', amount: '5' }, key);
      assert.equal(good.status, 201, JSON.stringify(good.body));
      assert.ok(!replayed(good));
      assert.equal((await balances(srv, u)).USDT.total, '5.00000000');
      await assertInvariants(srv, [u]);
    });

    it('Idempotency-Key length: 64 characters are fine, 65 are refused', async () => {
      const u = await newUser(srv, 'klen');
      const k64 = `${newKey('x')}-`.padEnd(64, 'z');
      assert.equal(k64.length, 64);
      const r = await post(srv, u, '/api/v1/deposits', { asset: 'USDT', amount: '1' }, k64);
      assert.equal(r.status, 201, JSON.stringify(r.body));
      const r2 = await post(srv, u, '/api/v1/deposits', { asset: 'USDT', amount: '1' }, k64);
      assert.equal(r2.status, 201);
      assert.ok(replayed(r2));
      const r3 = await post(srv, u, '/api/v1/deposits', { asset: 'USDT', amount: '1' }, `${k64}z`);
      assert.equal(r3.status, 400);
      assert.equal(r3.body.error.code, 'invalid_request');
      assert.equal((await balances(srv, u)).USDT.total, '1.00000000');
      await assertInvariants(srv, [u]);
    });
  });

  describe('keys are per user', () => {
    it('user B may use the same key string as user A independently', async () => {
      const A = await newUser(srv, 'ka');
      const B = await newUser(srv, 'kb');
      const key = newKey('shared');
      const ra = await post(srv, A, '/api/v1/deposits', { asset: 'USDT', amount: '111' }, key);
      assert.equal(ra.status, 201);
      // B: same key, different body -> not a conflict, B's own deposit
      const rb = await post(srv, B, '/api/v1/deposits', { asset: 'USDT', amount: '222' }, key);
      assert.equal(rb.status, 201, JSON.stringify(rb.body));
      assert.ok(!replayed(rb), "B must not get A's stored response");
      assert.notEqual(rb.body.id, ra.body.id);
      assert.equal(rb.body.amount, '222.00000000');
      // B: same key and the SAME body as A -> still B's own, new deposit
      const key2 = newKey('shared2');
      const ra2 = await post(srv, A, '/api/v1/deposits', { asset: 'USDT', amount: '1' }, key2);
      const rb2 = await post(srv, B, '/api/v1/deposits', { asset: 'USDT', amount: '1' }, key2);
      assert.equal(ra2.status, 201);
      assert.equal(rb2.status, 201);
      assert.ok(!replayed(rb2));
      assert.notEqual(rb2.body.id, ra2.body.id);
      // concurrently, same key, both users: both take effect
      const key3 = newKey('shared3');
      const [x, y] = await Promise.all([
        post(srv, A, '/api/v1/deposits', { asset: 'BTC', amount: '0.1' }, key3),
        post(srv, B, '/api/v1/deposits', { asset: 'BTC', amount: '0.1' }, key3),
      ]);
      assert.equal(x.status, 201);
      assert.equal(y.status, 201);
      assert.notEqual(x.body.id, y.body.id);
      assert.ok(!replayed(x) && !replayed(y));

      const ba = await balances(srv, A);
      const bb = await balances(srv, B);
      assert.equal(ba.USDT.total, '112.00000000');
      assert.equal(bb.USDT.total, '223.00000000');
      assert.equal(ba.BTC.total, '0.10000000');
      assert.equal(bb.BTC.total, '0.10000000');
      // each replays its own
      const rpa = await post(srv, A, '/api/v1/deposits', { asset: 'USDT', amount: '111' }, key);
      const rpb = await post(srv, B, '/api/v1/deposits', { asset: 'USDT', amount: '222' }, key);
      assert.deepEqual(rpa.body, ra.body);
      assert.deepEqual(rpb.body, rb.body);
      assert.ok(replayed(rpa) && replayed(rpb));
      // and B reusing its key with A's body is B's conflict
      const cross = await post(srv, B, '/api/v1/deposits', { asset: 'USDT', amount: '111' }, key);
      assert.equal(cross.status, 409);
      assert.equal(cross.body.error.code, 'idempotency_key_reused');
      await assertInvariants(srv, [A, B]);
    });
  });

  describe('orders', () => {
    it('POST /orders with an Idempotency-Key sent twice places one order', async () => {
      const u = await newUser(srv, 'ord');
      await deposit(srv, u, 'USDT', '1000');
      const key = newKey('ord');
      const body = { market: 'BTC-USDT', side: 'buy', type: 'limit', quantity: '0.001', price: '30000.00' };
      const r1 = await post(srv, u, '/api/v1/orders', body, key);
      assert.equal(r1.status, 201, JSON.stringify(r1.body));
      assert.equal(r1.body.status, 'new');
      assert.ok(!replayed(r1));
      const r2 = await post(srv, u, '/api/v1/orders', body, key);
      assert.equal(r2.status, 201);
      assert.equal(r2.body.id, r1.body.id);
      assert.deepEqual(r2.body, r1.body);
      assert.ok(replayed(r2));
      const open = await openOrders(srv, u);
      assert.equal(open.length, 1);
      assert.equal(open[0].id, r1.body.id);
      const all = await api(srv, 'GET', '/api/v1/orders?status=all', { token: u.token });
      assert.equal(all.body.data.length, 1);
      const bal = await balances(srv, u);
      assert.equal(bal.USDT.held, r1.body.held);
      // the same key with another order is a conflict
      const r3 = await post(srv, u, '/api/v1/orders', { ...body, price: '30001.00' }, key);
      assert.equal(r3.status, 409);
      assert.equal(r3.body.error.code, 'idempotency_key_reused');
      assert.equal((await openOrders(srv, u)).length, 1);
      // after a cancel, the replay still returns the stored response (the order as placed) and
      // does not place it again
      const c = await api(srv, 'DELETE', `/api/v1/orders/${r1.body.id}`, { token: u.token });
      assert.equal(c.status, 200);
      const r4 = await post(srv, u, '/api/v1/orders', body, key);
      assert.equal(r4.status, 201);
      assert.deepEqual(r4.body, r1.body);
      assert.ok(replayed(r4));
      assert.equal((await openOrders(srv, u)).length, 0);
      assert.equal((await balances(srv, u)).USDT.held, '0.00000000');
      await assertInvariants(srv, [u]);
    });

    it('20 concurrent copies of one keyed order place one order; a keyed market order fills once', async () => {
      const u = await newUser(srv, 'ord20');
      await deposit(srv, u, 'USDT', '2000');
      const key = newKey('ord20');
      const body = { market: 'ETH-USDT', side: 'buy', type: 'limit', quantity: '0.01', price: '1000.00', client_order_id: 'idem-20' };
      const rs = await Promise.all(Array.from({ length: 20 }, () => post(srv, u, '/api/v1/orders', body, key)));
      for (const r of rs) {
        assert.equal(r.status, 201, JSON.stringify(r.body));
        assert.equal(r.body.id, rs[0].body.id);
      }
      assert.equal(rs.filter((r) => !replayed(r)).length, 1);
      const open = await openOrders(srv, u);
      assert.equal(open.length, 1);
      assert.equal((await balances(srv, u)).USDT.held, open[0].held);

      const mkey = newKey('mkt');
      const mbody = { market: 'BTC-USDT', side: 'buy', type: 'market', quantity: '0.001' };
      const ms = await Promise.all(Array.from({ length: 10 }, () => post(srv, u, '/api/v1/orders', mbody, mkey)));
      for (const r of ms) {
        assert.equal(r.status, 201, JSON.stringify(r.body));
        assert.equal(r.body.id, ms[0].body.id);
        assert.equal(r.body.status, 'filled');
      }
      const bal = await balances(srv, u);
      assert.equal(bal.BTC.total, '0.00100000', 'bought once');
      const fills = await api(srv, 'GET', '/api/v1/fills', { token: u.token });
      assert.equal(fills.body.data.length, ms[0].body.fills.length);
      const trades = (await ledger(srv, u)).filter((e) => e.kind === 'trade');
      assert.equal(trades.length, ms[0].body.fills.length);
      await assertInvariants(srv, [u]);
    });

    it('a keyed order refused by the engine replays its refusal', async () => {
      const u = await newUser(srv, 'ordref');
      const key = newKey('ordref');
      const body = { market: 'BTC-USDT', side: 'buy', type: 'limit', quantity: '0.001', price: '30000.00' };
      const r1 = await post(srv, u, '/api/v1/orders', body, key);
      assert.equal(r1.status, 400);
      assert.equal(r1.body.error.code, 'insufficient_funds');
      const r2 = await post(srv, u, '/api/v1/orders', body, key);
      assert.equal(r2.status, 400);
      assert.deepEqual(r2.body, r1.body);
      assert.ok(replayed(r2));
      assert.equal((await openOrders(srv, u)).length, 0);
      await assertInvariants(srv, [u]);
    });
  });

  describe('withdrawals', () => {
    it('a withdrawal repeated 10 times concurrently withdraws once', async () => {
      const u = await newUser(srv, 'wd10');
      await deposit(srv, u, 'USDT', '1000');
      const key = newKey('wd10');
      const body = { asset: 'USDT', amount: '300' };
      const rs = await Promise.all(Array.from({ length: 10 }, () => post(srv, u, '/api/v1/withdrawals', body, key)));
      for (const r of rs) {
        assert.equal(r.status, 201, JSON.stringify(r.body));
        assert.deepEqual(r.body, rs[0].body);
      }
      assert.equal(rs[0].body.kind, 'withdrawal');
      assert.equal(rs[0].body.amount, '300.00000000');
      assert.equal(rs[0].body.balance.total, '700.00000000');
      assert.equal(rs.filter((r) => !replayed(r)).length, 1);
      const bal = await balances(srv, u);
      assert.equal(bal.USDT.total, '700.00000000');
      assert.equal(bal.USDT.available, '700.00000000');
      const wds = (await ledger(srv, u)).filter((e) => e.kind === 'withdrawal');
      assert.equal(wds.length, 1);
      assert.equal(wds[0].id, rs[0].body.id);
      assert.deepEqual(wds[0].postings, [{ asset: 'USDT', amount: '-300.00000000' }]);
      // a later replay
      const again = await post(srv, u, '/api/v1/withdrawals', body, key);
      assert.equal(again.status, 201);
      assert.deepEqual(again.body, rs[0].body);
      assert.ok(replayed(again));
      assert.equal((await balances(srv, u)).USDT.total, '700.00000000');
      await assertInvariants(srv, [u]);
    });

    it('10 concurrent withdrawals with distinct keys cannot overdraw', async () => {
      const u = await newUser(srv, 'wdmany');
      await deposit(srv, u, 'USDT', '1000');
      const rs = await Promise.all(Array.from({ length: 10 }, () => post(srv, u, '/api/v1/withdrawals', { asset: 'USDT', amount: '300' }, newKey('wdm'))));
      const ok = rs.filter((r) => r.status === 201);
      const refused = rs.filter((r) => r.status === 400);
      assert.equal(ok.length, 3, JSON.stringify(rs.map((r) => r.status)));
      assert.equal(refused.length, 7);
      for (const r of refused) assert.equal(r.body.error.code, 'insufficient_funds');
      assert.equal((await balances(srv, u)).USDT.total, '100.00000000');
      await assertInvariants(srv, [u]);
    });

    it('a refused withdrawal replays its refusal and never withdraws later', async () => {
      const u = await newUser(srv, 'wdref');
      await deposit(srv, u, 'USDT', '50');
      const key = newKey('wdref');
      const body = { asset: 'USDT', amount: '100' };
      const r1 = await post(srv, u, '/api/v1/withdrawals', body, key);
      assert.equal(r1.status, 400);
      assert.equal(r1.body.error.code, 'insufficient_funds');
      await deposit(srv, u, 'USDT', '100');
      const r2 = await post(srv, u, '/api/v1/withdrawals', body, key);
      assert.equal(r2.status, 400);
      assert.deepEqual(r2.body, r1.body);
      assert.ok(replayed(r2));
      assert.equal((await balances(srv, u)).USDT.total, '150.00000000');
      await assertInvariants(srv, [u]);
    });
  });
});

describe('idempotency survives a restart', () => {
  it('a replay after a restart returns the stored response and has no second effect', async () => {
    let srv = await startServer({ speed: 0.001 });
    const dataDir = srv.dataDir;
    let u;
    let first;
    const key = newKey('restart');
    const body = { asset: 'ETH', amount: '2.5' };
    try {
      u = await newUser(srv, 'rst');
      first = await post(srv, u, '/api/v1/deposits', body, key);
      assert.equal(first.status, 201);
    } finally {
      await srv.stop();
    }
    srv = await startServer({ speed: 0.001, dataDir });
    try {
      const again = await post(srv, u, '/api/v1/deposits', body, key);
      assert.equal(again.status, 201, JSON.stringify(again.body));
      assert.deepEqual(again.body, first.body);
      assert.ok(replayed(again));
      const conflict = await post(srv, u, '/api/v1/deposits', { asset: 'ETH', amount: '3' }, key);
      assert.equal(conflict.status, 409);
      assert.equal((await balances(srv, u)).ETH.total, '2.50000000');
      await assertInvariants(srv, [u]);
    } finally {
      await srv.stop();
    }
  });
});
