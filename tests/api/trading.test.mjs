// The acceptance flow of issue 2 against a real server: register -> login -> deposit ->
// market buy at the replayed real book -> exact balances and ledger -> a resting limit sell
// that fills when the replay crosses it -> cancel releases the hold.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, api, newUser, deposit, minor, balances, openOrders, waitFor, assertInvariants,
} from './helpers.mjs';

const FEE_PPM = 1000n; // 0.1 % in config/markets.json
const fee = (notional) => (notional * FEE_PPM) / 1000000n; // floor, as documented in engine.h

describe('market buy against a frozen replay', () => {
  let srv;
  let user;
  // replay speed 0.001: the book does not move while we look at it
  before(async () => { srv = await startServer({ speed: 0.001 }); });
  after(async () => { await srv.stop(); });

  it('fills at the real best ask, walking the real levels, and settles exactly', async () => {
    user = await newUser(srv, 'buyer');
    const dep = await deposit(srv, user, 'USDT', '10000');
    assert.equal(dep.amount, '10000.00000000');
    assert.equal(dep.balance.available, '10000.00000000');

    const book = (await api(srv, 'GET', '/api/v1/markets/BTC-USDT/book?depth=50')).body;
    assert.ok(book.asks.length > 0 && book.bids.length > 0);
    assert.ok(minor(book.bids[0][0]) < minor(book.asks[0][0]), 'book is crossed');

    const r = await api(srv, 'POST', '/api/v1/orders', {
      token: user.token, body: { market: 'BTC-USDT', side: 'buy', type: 'market', quantity: '0.01' },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const o = r.body;
    assert.equal(o.status, 'filled');
    assert.equal(o.filled_quantity, '0.01000000');
    assert.ok(o.fills.length >= 1);
    // expected fills: walk the ask levels of the book as it was
    let want = minor('0.01');
    const expected = [];
    for (const [p, q] of book.asks) {
      if (want === 0n) break;
      const take = minor(q) < want ? minor(q) : want;
      expected.push([minor(p), take]);
      want -= take;
    }
    assert.equal(o.fills[0].price, book.asks[0][0], 'first fill at the best ask');
    const got = {};
    for (const f of o.fills) got[f.price] = (got[f.price] || 0n) + minor(f.quantity);
    for (const [p, q] of expected) {
      const key = Object.keys(got).find((k) => minor(k) === p);
      assert.ok(key, `expected a fill at ${p}`);
      assert.equal(got[key], q);
    }
    // money: notional + fee, exactly
    let notional = 0n;
    let fees = 0n;
    for (const f of o.fills) {
      const n = (minor(f.price) * minor(f.quantity)) / 100000000n;
      assert.equal(minor(f.quote_quantity), n);
      assert.equal(minor(f.fee), fee(n));
      assert.equal(f.role, 'taker');
      notional += n;
      fees += minor(f.fee);
    }
    assert.equal(minor(o.quote_filled), notional);
    assert.equal(minor(o.fee), fees);
    const bal = await balances(srv, user);
    assert.equal(minor(bal.USDT.total), minor('10000') - notional - fees);
    assert.equal(minor(bal.USDT.held), 0n);
    assert.equal(bal.BTC.total, '0.01000000');

    // ledger: a deposit entry and one trade entry per fill, user legs summing to the balances
    const led = await api(srv, 'GET', '/api/v1/ledger?limit=100', { token: user.token });
    assert.equal(led.status, 200);
    const trades = led.body.data.filter((e) => e.kind === 'trade');
    assert.equal(trades.length, o.fills.length);
    const sums = {};
    for (const e of led.body.data) for (const p of e.postings) sums[p.asset] = (sums[p.asset] || 0n) + minor(p.amount);
    assert.equal(sums.USDT, minor(bal.USDT.total));
    assert.equal(sums.BTC, minor(bal.BTC.total));

    const fills = await api(srv, 'GET', '/api/v1/fills', { token: user.token });
    assert.equal(fills.body.data.length, o.fills.length);
    const one = await api(srv, 'GET', `/api/v1/orders/${o.id}`, { token: user.token });
    assert.equal(one.status, 200);
    assert.equal(one.body.status, 'filled');
    assert.equal(one.body.fills.length, o.fills.length);
    await assertInvariants(srv, [user]);
  });

  it('a market order larger than the balance is refused and changes nothing', async () => {
    const before = await balances(srv, user);
    const r = await api(srv, 'POST', '/api/v1/orders', {
      token: user.token, body: { market: 'BTC-USDT', side: 'buy', type: 'market', quantity: '5' },
    });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.code, 'insufficient_funds');
    assert.deepEqual(await balances(srv, user), before);
  });

  it('a limit buy holds notional + max fee; cancel releases it exactly', async () => {
    const r = await api(srv, 'POST', '/api/v1/orders', {
      token: user.token,
      body: { market: 'BTC-USDT', side: 'buy', type: 'limit', quantity: '0.02', price: '30000.00', client_order_id: 'far-bid-1' },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.status, 'new');
    assert.equal(r.body.client_order_id, 'far-bid-1');
    const n = (minor('30000') * minor('0.02')) / 100000000n;
    assert.equal(minor(r.body.held), n + fee(n));
    let bal = await balances(srv, user);
    assert.equal(minor(bal.USDT.held), n + fee(n));
    await assertInvariants(srv, [user]);
    const c = await api(srv, 'DELETE', `/api/v1/orders/${r.body.id}`, { token: user.token });
    assert.equal(c.status, 200, JSON.stringify(c.body));
    assert.equal(c.body.status, 'canceled');
    bal = await balances(srv, user);
    assert.equal(bal.USDT.held, '0.00000000');
    const again = await api(srv, 'DELETE', `/api/v1/orders/${r.body.id}`, { token: user.token });
    assert.equal(again.status, 400);
    assert.equal(again.body.error.code, 'order_not_open');
    assert.equal((await openOrders(srv, user)).length, 0);
    await assertInvariants(srv, [user]);
  });
});

describe('limit orders against a moving replay', () => {
  let srv;
  before(async () => { srv = await startServer({ speed: 20 }); });
  after(async () => { await srv.stop(); });

  it('a limit sell above the market rests, holds the BTC, and fills when the replay crosses it', async () => {
    const user = await newUser(srv, 'seller');
    await deposit(srv, user, 'BTC', '0.01');
    const book = (await api(srv, 'GET', '/api/v1/markets/BTC-USDT/book?depth=1')).body;
    const bid = minor(book.bids[0][0]);
    const price = bid + 1000000n; // one tick (0.01) above the best bid: rests, does not take
    const fmt = (v) => `${v / 100000000n}.${(v % 100000000n).toString().padStart(8, '0')}`;
    const r = await api(srv, 'POST', '/api/v1/orders', {
      token: user.token,
      body: { market: 'BTC-USDT', side: 'sell', type: 'limit', quantity: '0.01', price: fmt(price) },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.ok(['new', 'partially_filled', 'filled'].includes(r.body.status));
    if (r.body.status === 'new') {
      const bal = await balances(srv, user);
      assert.equal(bal.BTC.held, '0.01000000');
      assert.equal(bal.BTC.available, '0.00000000');
      await assertInvariants(srv, [user]);
    }
    // the replay moves the real bid up through our price within the capture
    const done = await waitFor(async () => {
      const o = await api(srv, 'GET', `/api/v1/orders/${r.body.id}`, { token: user.token });
      return o.body.status === 'filled' ? o.body : null;
    }, 120000, 'the replay to cross the resting sell');
    assert.equal(done.filled_quantity, '0.01000000');
    for (const f of done.fills) {
      assert.equal(f.role, 'maker');
      assert.equal(f.price, fmt(price), 'a maker fills at its own price');
    }
    const n = (price * minor('0.01')) / 100000000n;
    const bal = await balances(srv, user);
    assert.equal(bal.BTC.total, '0.00000000');
    assert.equal(minor(bal.USDT.total), n - fee(n));
    await assertInvariants(srv, [user]);
  });

  it('cancel of another resting order releases its hold', async () => {
    const user = await newUser(srv, 'canceller');
    await deposit(srv, user, 'USDT', '5000');
    const r = await api(srv, 'POST', '/api/v1/orders', {
      token: user.token,
      body: { market: 'ETH-USDT', side: 'buy', type: 'limit', quantity: '1', price: '1000.00' },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.status, 'new');
    assert.equal((await balances(srv, user)).USDT.held, '1001.00000000');
    const c = await api(srv, 'DELETE', `/api/v1/orders/${r.body.id}`, { token: user.token });
    assert.equal(c.status, 200);
    const bal = await balances(srv, user);
    assert.equal(bal.USDT.held, '0.00000000');
    assert.equal(bal.USDT.available, '5000.00000000');
    await assertInvariants(srv, [user]);
  });
});
