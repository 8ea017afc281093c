// WebSocket /ws against a moving replay, with a real client: the book channel (snapshot + contiguous
// deltas that rebuild exactly the REST book), late subscribers, ticker and trades, private
// channels (auth, isolation between users) and malformed input.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, api, newUser, deposit, minor, wsConnect, sleep, assertInvariants,
} from './helpers.mjs';

const MARKET = 'BTC-USDT';
const DEPTH = 5000;

// ---- a local L2 book rebuilt from snapshot + deltas ----
function bookFrom(snap) {
  const b = { bids: new Map(), asks: new Map(), seq: snap.seq };
  for (const [p, q] of snap.bids) b.bids.set(p, q);
  for (const [p, q] of snap.asks) b.asks.set(p, q);
  return b;
}

function applyDelta(b, d) {
  assert.equal(d.seq, b.seq + 1, `delta seq ${d.seq} follows ${b.seq}`);
  for (const side of ['bids', 'asks']) {
    assert.ok(Array.isArray(d[side]), `delta has ${side}`);
    for (const [p, q] of d[side]) {
      if (minor(q) === 0n) b[side].delete(p);
      else b[side].set(p, q);
    }
  }
  b.seq = d.seq;
}

function levels(b, side, depth = DEPTH) {
  const arr = [...b[side].entries()];
  arr.sort((x, y) => {
    const a = minor(x[0]);
    const c = minor(y[0]);
    if (a === c) return 0;
    return (side === 'bids' ? a > c : a < c) ? -1 : 1;
  });
  return arr.slice(0, depth);
}

function assertNotCrossed(b) {
  const bid = levels(b, 'bids', 1)[0];
  const ask = levels(b, 'asks', 1)[0];
  if (bid && ask) assert.ok(minor(bid[0]) < minor(ask[0]), `book crossed at seq ${b.seq}: ${bid[0]} >= ${ask[0]}`);
}

function assertSameBook(local, snap, what) {
  // a snapshot is limited to DEPTH levels a side; every level is a [price, qty] string pair
  assert.deepEqual(levels(local, 'bids', snap.bids.length), snap.bids, `${what}: bids at seq ${snap.seq}`);
  assert.deepEqual(levels(local, 'asks', snap.asks.length), snap.asks, `${what}: asks at seq ${snap.seq}`);
  // a snapshot shorter than DEPTH is the whole side: the local book has no extra levels
  if (snap.bids.length < DEPTH) assert.equal(local.bids.size, snap.bids.length, `${what}: bid level count`);
  if (snap.asks.length < DEPTH) assert.equal(local.asks.size, snap.asks.length, `${what}: ask level count`);
}

// acks ({op:'subscribed', channel, market}) are not channel messages
const isBook = (m) => !m.op && m.channel === 'book' && m.market === MARKET;
const isDelta = (m) => isBook(m) && m.type === 'delta';

describe('websocket /ws against a moving replay', () => {
  let srv;
  const users = [];
  before(async () => { srv = await startServer({ speed: 5 }); });
  after(async () => {
    await assertInvariants(srv, users);
    await srv.stop();
  });

  it('book: ack, snapshot, contiguous deltas that rebuild the REST book exactly; a late subscriber continues the sequence', async () => {
    const c1 = await wsConnect(srv);
    c1.send({ op: 'subscribe', channel: 'book', market: MARKET });
    const ack = await c1.next((m) => m.op === 'subscribed');
    assert.equal(ack.channel, 'book');
    assert.equal(ack.market, MARKET);
    const snap1 = await c1.next((m) => isBook(m) && m.type === 'snapshot');
    assert.ok(c1.msgs.indexOf(ack) < c1.msgs.indexOf(snap1), 'the ack comes before the snapshot');
    assert.equal(typeof snap1.seq, 'number');
    assert.ok(snap1.bids.length > 0 && snap1.asks.length > 0);
    // nothing about this book before the snapshot
    assert.ok(!c1.msgs.slice(0, c1.msgs.indexOf(snap1)).some(isBook));

    await sleep(1000);
    const c2 = await wsConnect(srv);
    c2.send({ op: 'subscribe', channel: 'book', market: MARKET });
    const snap2 = await c2.next((m) => isBook(m) && m.type === 'snapshot');
    assert.ok(snap2.seq >= snap1.seq, `late snapshot seq ${snap2.seq} continues from ${snap1.seq}`);
    await sleep(2500);

    // the REST book at some seq, and our local book brought to exactly that seq
    const local = bookFrom(snap1);
    assertNotCrossed(local);
    let idx = c1.msgs.indexOf(snap1) + 1;
    let nDeltas = 0;
    let checkedSnap2 = snap2.seq === snap1.seq;
    if (checkedSnap2) assertSameBook(local, snap2, 'late snapshot');
    const deltasBySeq = new Map();
    const advanceTo = async (target) => {
      while (local.seq < target) {
        if (idx >= c1.msgs.length) {
          await c1.next(() => c1.msgs.length > idx, 10000).catch(() => {});
          await sleep(20);
          assert.ok(idx < c1.msgs.length, `waiting for delta ${local.seq + 1} (target ${target})`);
        }
        const m = c1.msgs[idx++];
        assert.notEqual(m.op, 'resync', 'no slow-consumer resync in a few seconds');
        if (!isBook(m)) continue;
        assert.equal(m.type, 'delta', 'only deltas after the snapshot');
        applyDelta(local, m);
        deltasBySeq.set(m.seq, m);
        nDeltas++;
        assertNotCrossed(local);
        if (m.seq === snap2.seq) {
          assertSameBook(local, snap2, 'late snapshot vs the first client\'s book at its seq');
          checkedSnap2 = true;
        }
      }
    };
    let rest;
    for (let tries = 0; ; tries++) {
      assert.ok(tries < 50, 'could not line up the REST book with the stream');
      rest = (await api(srv, 'GET', `/api/v1/markets/${MARKET}/book?depth=${DEPTH}`)).body;
      if (rest.seq < local.seq) continue; // REST is behind what we applied: fetch again
      await advanceTo(rest.seq);
      break;
    }
    assert.equal(local.seq, rest.seq);
    assert.ok(nDeltas >= 20, `expected many deltas in a few seconds at speed 5, got ${nDeltas}`);
    assert.ok(checkedSnap2, 'the first client passed the late snapshot\'s seq');
    assertSameBook(local, rest, 'REST book');
    assert.ok(minor(rest.bids[0][0]) < minor(rest.asks[0][0]));

    // the late client's deltas: contiguous from its snapshot, and identical to the first client's
    const d2 = c2.msgs.filter(isDelta);
    assert.ok(d2.length > 0);
    d2.forEach((m, i) => {
      assert.equal(m.seq, snap2.seq + 1 + i, 'late client: contiguous seq');
      if (deltasBySeq.has(m.seq)) assert.deepEqual(m, deltasBySeq.get(m.seq), `delta ${m.seq} same for both clients`);
    });
    assert.equal(c2.msgs.filter((m) => isBook(m) && m.type === 'snapshot').length, 1);

    // unsubscribe: after the ack no more book messages
    c1.send({ op: 'unsubscribe', channel: 'book', market: MARKET });
    const uack = await c1.next((m) => m.op === 'unsubscribed' && m.channel === 'book');
    await sleep(500);
    assert.ok(!c1.msgs.slice(c1.msgs.indexOf(uack)).some(isBook), 'no book messages after unsubscribe');
    c1.close();
    c2.close();
  });

  it('ticker: subscribe ETH-USDT -> a ticker with bid < ask', async () => {
    const c = await wsConnect(srv);
    c.send({ op: 'subscribe', channel: 'ticker', market: 'ETH-USDT' });
    const ack = await c.next((m) => m.op === 'subscribed');
    assert.deepEqual(ack, { op: 'subscribed', channel: 'ticker', market: 'ETH-USDT' });
    const t = await c.next((m) => !m.op && m.channel === 'ticker');
    assert.equal(t.market, 'ETH-USDT');
    assert.equal(t.data.market, 'ETH-USDT');
    assert.equal(typeof t.data.bid, 'string');
    assert.equal(typeof t.data.ask, 'string');
    assert.ok(minor(t.data.bid) > 0n && minor(t.data.bid) < minor(t.data.ask));
    // the replay moves ETH: more tickers follow
    await c.next((m) => !m.op && m.channel === 'ticker' && m !== t, 10000);
    assert.ok(!c.msgs.some((m) => !m.op && m.channel === 'ticker' && m.market !== 'ETH-USDT'));
    c.close();
  });

  it('trades: a REST market buy of 0.001 BTC shows up on the trades channel', async () => {
    const c = await wsConnect(srv);
    c.send({ op: 'subscribe', channel: 'trades', market: MARKET });
    await c.next((m) => m.op === 'subscribed' && m.channel === 'trades');
    const u = await newUser(srv, 'wstrader');
    users.push(u);
    await deposit(srv, u, 'USDT', '1000');
    const r = await api(srv, 'POST', '/api/v1/orders', {
      token: u.token, body: { market: MARKET, side: 'buy', type: 'market', quantity: '0.001' },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.status, 'filled');
    const ids = new Set(r.body.fills.map((f) => f.id));
    const msg = await c.next((m) => !m.op && m.channel === 'trades' && m.data.some((t) => ids.has(t.id)));
    assert.equal(msg.market, MARKET);
    const ours = msg.data.filter((t) => ids.has(t.id));
    assert.equal(ours.length, r.body.fills.length, 'all fills of the order in one trades message');
    let qty = 0n;
    for (const t of ours) {
      const f = r.body.fills.find((x) => x.id === t.id);
      assert.equal(t.price, f.price);
      assert.equal(t.quantity, f.quantity);
      assert.equal(t.taker_side, 'buy');
      qty += minor(t.quantity);
    }
    assert.equal(qty, minor('0.001'));
    if (ours.length === 1) assert.equal(ours[0].quantity, '0.00100000');
    c.close();
  });

  it('private channels: auth required, own orders and balances only', async () => {
    const u = await newUser(srv, 'wsprivate');
    const other = await newUser(srv, 'wsother');
    users.push(u, other);
    await deposit(srv, u, 'USDT', '1000');
    await deposit(srv, other, 'USDT', '1000');
    const c = await wsConnect(srv);

    c.send({ op: 'subscribe', channel: 'orders' });
    let e = await c.next((m) => m.op === 'error');
    assert.equal(e.error.code, 'unauthorized');
    c.send({ op: 'subscribe', channel: 'balances' });
    e = await c.next((m) => m.op === 'error' && m !== e);
    assert.equal(e.error.code, 'unauthorized');
    const nErr = c.msgs.filter((m) => m.op === 'error').length;
    c.send({ op: 'auth', token: 'not.a.token' });
    await c.next(() => c.msgs.filter((m) => m.op === 'error').length > nErr);
    assert.equal(c.msgs.filter((m) => m.op === 'error').at(-1).error.code, 'unauthorized');
    assert.ok(!c.msgs.some((m) => m.op === 'auth'));

    c.send({ op: 'auth', token: u.token });
    const a = await c.next((m) => m.op === 'auth');
    assert.equal(a.ok, true);
    assert.equal(a.user_id, u.id);
    c.send({ op: 'subscribe', channel: 'orders' });
    await c.next((m) => m.op === 'subscribed' && m.channel === 'orders');
    c.send({ op: 'subscribe', channel: 'balances' });
    await c.next((m) => m.op === 'subscribed' && m.channel === 'balances');
    const bsnap = await c.next((m) => !m.op && m.channel === 'balances' && m.type === 'snapshot');
    assert.equal(bsnap.data.find((b) => b.asset === 'USDT').available, '1000.00000000');
    const mark = c.msgs.length;

    // far below the market: rests
    const r = await api(srv, 'POST', '/api/v1/orders', {
      token: u.token, body: { market: MARKET, side: 'buy', type: 'limit', quantity: '0.001', price: '10000.00' },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.status, 'new');
    const om = await c.next((m) => !m.op && m.channel === 'orders' && m.data.id === r.body.id);
    assert.equal(om.data.status, 'new');
    assert.equal(om.data.market, MARKET);
    assert.equal(om.data.held, r.body.held);
    const bm = await c.next((m) => !m.op && m.channel === 'balances' && c.msgs.indexOf(m) >= mark);
    const usdt = bm.data.find((b) => b.asset === 'USDT');
    assert.ok(usdt, JSON.stringify(bm));
    assert.equal(usdt.held, r.body.held);
    assert.equal(minor(usdt.available) + minor(usdt.held), minor('1000'));

    // another user's order never reaches this connection
    const mark2 = c.msgs.length;
    const r2 = await api(srv, 'POST', '/api/v1/orders', {
      token: other.token, body: { market: MARKET, side: 'buy', type: 'limit', quantity: '0.002', price: '10000.00' },
    });
    assert.equal(r2.status, 201, JSON.stringify(r2.body));
    await sleep(1000);
    const later = c.msgs.slice(mark2);
    assert.ok(!later.some((m) => !m.op && m.channel === 'orders'), `foreign order event: ${JSON.stringify(later)}`);
    assert.ok(!later.some((m) => !m.op && m.channel === 'balances'), `foreign balances event: ${JSON.stringify(later)}`);

    // cancel: a canceled orders event and the hold comes back
    const cx = await api(srv, 'DELETE', `/api/v1/orders/${r.body.id}`, { token: u.token });
    assert.equal(cx.status, 200);
    const om2 = await c.next((m) => !m.op && m.channel === 'orders' && m.data.id === r.body.id && m.data.status === 'canceled');
    assert.equal(om2.data.held, '0.00000000');
    await c.next((m) => !m.op && m.channel === 'balances' && c.msgs.indexOf(m) >= mark2
      && m.data.some((b) => b.asset === 'USDT' && b.held === '0.00000000'));
    c.close();
  });

  it('bad messages get errors and the connection stays usable', async () => {
    const c = await wsConnect(srv);
    const errs = () => c.msgs.filter((m) => m.op === 'error');
    const expectError = async (raw, code) => {
      const n = errs().length;
      c.ws.send(typeof raw === 'string' ? raw : JSON.stringify(raw));
      await c.next(() => errs().length > n);
      const e = errs()[n];
      assert.equal(e.error.code, code, `${JSON.stringify(raw)} -> ${JSON.stringify(e)}`);
      assert.equal(typeof e.error.message, 'string');
    };
    await expectError('this is not json{', 'malformed_json');
    await expectError('[1,2,3]', 'malformed_json');
    await expectError({ nop: 1 }, 'invalid_request');
    await expectError({ op: 'fly' }, 'invalid_request');
    await expectError({ op: 'subscribe', channel: 'weather', market: MARKET }, 'invalid_request');
    await expectError({ op: 'subscribe', channel: 'book', market: 'FOO-BAR' }, 'unknown_market');
    await expectError({ op: 'subscribe', channel: 'trades' }, 'unknown_market');
    await expectError({ op: 'subscribe', channel: 'candles', market: MARKET, interval: '7m' }, 'invalid_request');
    assert.ok(!c.msgs.some((m) => m.op === 'subscribed'));
    c.send({ op: 'ping' });
    const p = await c.next((m) => m.op === 'pong');
    assert.equal(typeof p.ts, 'number');
    c.send({ op: 'subscribe', channel: 'ticker', market: 'ETH-USDT' });
    await c.next((m) => m.op === 'subscribed' && m.channel === 'ticker');
    assert.equal(c.ws.readyState, 1);
    c.close();
  });
});
