// Market-data answers are cached by the read model's change counter (src/api/mdcache.h): a
// cached ticker, book or candles answer must never outlive a change. Warm the cache, trade,
// and read right after the order is acknowledged: the fill must be there at once.
// Also: a cancel answered from the engine's memory (no store read on the way in) still tells
// "not yours" and "never existed" apart from "yours but closed" only as the API promises.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, api, newUser, deposit, minor, assertInvariants } from './helpers.mjs';

const M = '/api/v1/markets/BTC-USDT';

describe('market-data cache', () => {
  let srv;
  before(async () => { srv = await startServer({ speed: 0.001 }); }); // frozen replay
  after(async () => { await srv.stop(); });

  it('a fill shows in ticker, candles and book immediately after the ack', async () => {
    const u = await newUser(srv, 'mdc');
    await deposit(srv, u, 'USDT', '10000');
    // warm every cached answer (twice: the second is a cache hit) and keep the "before"
    let t0, c0, b0;
    for (let i = 0; i < 2; i++) {
      t0 = await api(srv, 'GET', `${M}/ticker`);
      c0 = await api(srv, 'GET', `${M}/candles?interval=1m&limit=3`);
      b0 = await api(srv, 'GET', `${M}/book?depth=5`);
      for (const r of [t0, c0, b0]) assert.equal(r.status, 200, JSON.stringify(r.body));
    }
    assert.equal(typeof b0.body.ts, 'number');
    const o = await api(srv, 'POST', '/api/v1/orders', {
      token: u.token, body: { market: 'BTC-USDT', side: 'buy', type: 'market', quantity: '0.01' },
    });
    assert.equal(o.status, 201, JSON.stringify(o.body));
    assert.equal(o.body.status, 'filled');
    const fills = o.body.fills;
    const t1 = (await api(srv, 'GET', `${M}/ticker`)).body;
    const c1 = (await api(srv, 'GET', `${M}/candles?interval=1m&limit=3`)).body;
    const b1 = (await api(srv, 'GET', `${M}/book?depth=5`)).body;

    assert.equal(t1.trades_24h, t0.body.trades_24h + fills.length, 'ticker counts the new fills');
    assert.equal(t1.last, fills[fills.length - 1].price, 'ticker last = our last fill');
    assert.equal(minor(t1.volume_24h) - minor(t0.body.volume_24h), minor('0.01'), 'ticker volume');

    const bar = (c, ts) => c.data.find((b) => b.open_time === ts - (ts % 60000));
    let vol = 0n;
    for (const f of fills) vol += minor(f.quantity);
    const ts = fills[0].ts;
    const before = bar(c0.body, ts);
    const after = bar(c1, ts);
    assert.ok(after, `a 1m bar for ${ts} after the fill: ${JSON.stringify(c1)}`);
    assert.equal(minor(after.volume) - (before ? minor(before.volume) : 0n), vol, 'candle volume');

    assert.ok(b1.seq > b0.body.seq, `book seq moved: ${b0.body.seq} -> ${b1.seq}`);
    assert.ok(b1.ts >= b0.body.ts, 'book ts is the time of each answer');
  });

  it('cancel: own closed order 400, other user\'s open or closed order and unknown ids 404', async () => {
    const a = await newUser(srv, 'mdca');
    const b = await newUser(srv, 'mdcb');
    await deposit(srv, a, 'USDT', '10000');
    const rest = await api(srv, 'POST', '/api/v1/orders', {
      token: a.token, body: { market: 'BTC-USDT', side: 'buy', type: 'limit', quantity: '0.001', price: '20000.00' },
    });
    assert.equal(rest.status, 201, JSON.stringify(rest.body));
    const mkt = await api(srv, 'POST', '/api/v1/orders', {
      token: a.token, body: { market: 'BTC-USDT', side: 'buy', type: 'market', quantity: '0.001' },
    });
    assert.equal(mkt.body.status, 'filled');
    const notFound = (r, what) => {
      assert.equal(r.status, 404, `${what}: ${JSON.stringify(r.body)}`);
      assert.deepEqual(r.body, { error: { code: 'not_found', message: 'no such order' } }, what);
    };
    notFound(await api(srv, 'DELETE', `/api/v1/orders/${rest.body.id}`, { token: b.token }), 'B cancels A open');
    notFound(await api(srv, 'DELETE', `/api/v1/orders/${mkt.body.id}`, { token: b.token }), 'B cancels A filled');
    notFound(await api(srv, 'DELETE', '/api/v1/orders/999999999999', { token: b.token }), 'unknown id');
    const closed = await api(srv, 'DELETE', `/api/v1/orders/${mkt.body.id}`, { token: a.token });
    assert.equal(closed.status, 400, JSON.stringify(closed.body));
    assert.equal(closed.body.error.code, 'order_not_open');
    // A's resting order is untouched by B's attempts, and A can cancel it
    const ok = await api(srv, 'DELETE', `/api/v1/orders/${rest.body.id}`, { token: a.token });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(ok.body.status, 'canceled');
    assert.equal(ok.body.id, rest.body.id);
    await assertInvariants(srv, [a, b]);
  });
});
