// Crash safety: every acknowledged request survives a SIGKILL. Orders (with their holds and
// their time priority), balances, fills and ledger entries are exactly as before the kill, the
// ledger check passes on the recovered store, and trading continues from where it stopped.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import {
  dbArgs,
  startServer, api, newUser, deposit, minor, balances, openOrders, assertInvariants, BIN,
} from './helpers.mjs';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const TICK = 1000000n; // 0.01 in minor units (scale 8)
const FEE_PPM = 1000n;
const fee = (notional) => (notional * FEE_PPM) / 1000000n;
const fmt = (v) => `${v / 100000000n}.${(v % 100000000n).toString().padStart(8, '0')}`;

async function place(srv, user, body) {
  const r = await api(srv, 'POST', '/api/v1/orders', { token: user.token, body });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

async function allPages(srv, user, p) {
  const out = [];
  let cursor = null;
  for (;;) {
    const sep = p.includes('?') ? '&' : '?';
    const r = await api(srv, 'GET', `${p}${sep}limit=500${cursor ? `&cursor=${cursor}` : ''}`,
      { token: user.token });
    assert.equal(r.status, 200, `${p}: ${JSON.stringify(r.body)}`);
    out.push(...r.body.data);
    if (!r.body.next_cursor) return out;
    cursor = r.body.next_cursor;
  }
}

// Everything a user can see about their own money and orders.
async function stateOf(srv, user) {
  const bal = await api(srv, 'GET', '/api/v1/balances', { token: user.token });
  assert.equal(bal.status, 200);
  const orders = await allPages(srv, user, '/api/v1/orders?status=all');
  const detail = {};
  for (const o of orders) {
    const one = await api(srv, 'GET', `/api/v1/orders/${o.id}`, { token: user.token });
    assert.equal(one.status, 200);
    detail[o.id] = one.body;
  }
  return {
    balances: bal.body.data,
    orders,
    open: await openOrders(srv, user),
    detail,
    fills: await allPages(srv, user, '/api/v1/fills'),
    ledger: await allPages(srv, user, '/api/v1/ledger'),
  };
}

describe('crash safety: SIGKILL and restart on the same data directory', () => {
  let srv;
  let srv2;
  const users = {};
  const before_ = {};
  let P;
  let orderA;
  let orderB;
  let lateOrder;
  let bookBefore;

  before(async () => { srv = await startServer({ speed: 0.001 }); });
  after(async () => {
    if (srv2) await srv2.stop();
    if (srv) await srv.stop();
  });

  it('acknowledged activity before the crash', async () => {
    users.A = await newUser(srv, 'crashA');
    users.B = await newUser(srv, 'crashB');
    users.C = await newUser(srv, 'crashC');
    await deposit(srv, users.A, 'USDT', '10000');
    await deposit(srv, users.B, 'USDT', '5000');
    await deposit(srv, users.C, 'SOL', '10');

    const book = (await api(srv, 'GET', '/api/v1/markets/SOL-USDT/book?depth=1')).body;
    assert.ok(book.bids.length && book.asks.length, 'SOL-USDT is quoted');
    const bid = minor(book.bids[0][0]);
    const ask = minor(book.asks[0][0]);
    P = bid + TICK;
    assert.ok(P < ask, `an empty level between bid ${book.bids[0][0]} and ask ${book.asks[0][0]}`);
    bookBefore = book;

    // A first, then B: same price, A has time priority
    orderA = await place(srv, users.A,
      { market: 'SOL-USDT', side: 'buy', type: 'limit', quantity: '1', price: fmt(P), client_order_id: 'a-sol-1' });
    assert.equal(orderA.status, 'new');
    orderB = await place(srv, users.B,
      { market: 'SOL-USDT', side: 'buy', type: 'limit', quantity: '1', price: fmt(P), client_order_id: 'b-sol-1' });
    assert.equal(orderB.status, 'new');
    assert.ok(orderB.id > orderA.id);
    const n = (P * minor('1')) / 100000000n;
    assert.equal(minor(orderA.held), n + fee(n));
    assert.equal(minor(orderB.held), n + fee(n));

    // our bids are now the best bid, alone at P
    const b2 = (await api(srv, 'GET', '/api/v1/markets/SOL-USDT/book?depth=1')).body;
    assert.deepEqual(b2.bids[0], [fmt(P), '2.00000000']);

    // A takes on BTC-USDT so A has fills and trade ledger entries
    const mk = await place(srv, users.A,
      { market: 'BTC-USDT', side: 'buy', type: 'market', quantity: '0.001' });
    assert.equal(mk.status, 'filled');
    assert.ok(mk.fills.length >= 1);

    // C rests a far-away sell (holds SOL) and B places and cancels one (a closed order)
    const cs = await place(srv, users.C,
      { market: 'SOL-USDT', side: 'sell', type: 'limit', quantity: '2', price: '1000.00' });
    assert.equal(cs.status, 'new');
    const bx = await place(srv, users.B,
      { market: 'ETH-USDT', side: 'buy', type: 'limit', quantity: '0.1', price: '100.00' });
    const cx = await api(srv, 'DELETE', `/api/v1/orders/${bx.id}`, { token: users.B.token });
    assert.equal(cx.status, 200);
    assert.equal(cx.body.status, 'canceled');

    for (const k of Object.keys(users)) before_[k] = await stateOf(srv, users[k]);
    assert.equal(before_.A.open.length, 1);
    assert.equal(before_.B.open.length, 1);
    assert.equal(before_.C.open.length, 1);
    assert.ok(before_.A.fills.length >= 1);
    assert.ok(before_.A.ledger.some((e) => e.kind === 'trade'));
    assert.equal(before_.C.balances.find((b) => b.asset === 'SOL').held, '2.00000000');
    await assertInvariants(srv, Object.values(users));
  });

  it('an order acknowledged just before SIGKILL and everything else survive the restart', async () => {
    // the last acknowledged request: the kill follows its 201 immediately
    lateOrder = await place(srv, users.C,
      { market: 'SOL-USDT', side: 'sell', type: 'limit', quantity: '0.5', price: '999.00', client_order_id: 'late-1' });
    assert.equal(lateOrder.status, 'new');
    const r = await srv.kill();
    assert.equal(r.sig, 'SIGKILL');

    srv2 = await startServer({ speed: 0.001, dataDir: srv.dataDir });
    assert.ok(!/ERROR: AddressSanitizer|runtime error:/.test(srv2.log()), srv2.log());

    // the access tokens issued before the crash still work (the signing key is persisted)
    for (const k of ['A', 'B']) {
      const after_ = await stateOf(srv2, users[k]);
      assert.deepEqual(after_, before_[k], `user ${k}: state after restart`);
    }
    // C: as before plus the late order and its hold
    const c = await stateOf(srv2, users.C);
    const late = c.detail[lateOrder.id];
    assert.ok(late, 'the order acknowledged right before the kill exists after restart');
    const { fills: _f, ...lateNoFills } = lateOrder;
    const { fills: _g, ...gotNoFills } = late;
    assert.deepEqual(gotNoFills, lateNoFills);
    assert.equal(late.status, 'new');
    assert.equal(late.held, '0.50000000');
    assert.deepEqual(c.orders.filter((o) => o.id !== lateOrder.id), before_.C.orders);
    assert.deepEqual(c.open.map((o) => o.id).sort(), [...before_.C.open.map((o) => o.id), lateOrder.id].sort());
    assert.deepEqual(c.fills, before_.C.fills);
    assert.deepEqual(c.ledger, before_.C.ledger);
    const solBefore = before_.C.balances.find((b) => b.asset === 'SOL');
    const sol = c.balances.find((b) => b.asset === 'SOL');
    assert.equal(sol.total, solBefore.total);
    assert.equal(minor(sol.held), minor(solBefore.held) + minor('0.5'));
    assert.equal(minor(sol.available), minor(solBefore.available) - minor('0.5'));
    assert.deepEqual(c.balances.filter((b) => b.asset !== 'SOL'), before_.C.balances.filter((b) => b.asset !== 'SOL'));

    await assertInvariants(srv2, Object.values(users));
  });

  it('the public book and ticker show the recovered resting orders', async () => {
    // A's and B's bids at P are the best bid, above the house's re-quoted ladder; C's sells
    // at 999 and 1000 are on the ask side
    const book = (await api(srv2, 'GET', '/api/v1/markets/SOL-USDT/book?depth=5000')).body;
    assert.ok(minor(book.asks[0][0]) > P);
    assert.deepEqual(book.asks.find((l) => l[0] === '999.00000000'), ['999.00000000', '0.50000000'],
      'C\'s late sell at 999 is on the public book');
    assert.deepEqual(book.asks.find((l) => l[0] === '1000.00000000'), ['1000.00000000', '2.00000000'],
      'C\'s sell at 1000 is on the public book');
    assert.deepEqual(book.bids[0], [fmt(P), '2.00000000'], 'recovered bids at P are on the public book');
    assert.equal(book.bids[1][0], bookBefore.bids[0][0]);
    const t = (await api(srv2, 'GET', '/api/v1/markets/SOL-USDT/ticker')).body;
    assert.equal(t.bid, fmt(P), 'ticker bid is the recovered best bid');
  });

  it('time priority survives: a sell at P fills A (first in), not B', async () => {
    const s = await place(srv2, users.C,
      { market: 'SOL-USDT', side: 'sell', type: 'limit', quantity: '1', price: fmt(P) });
    assert.equal(s.status, 'filled', JSON.stringify(s));
    assert.equal(s.fills.length, 1);
    assert.equal(s.fills[0].price, fmt(P));
    assert.equal(s.fills[0].quantity, '1.00000000');
    assert.equal(s.fills[0].role, 'taker');

    const a = (await api(srv2, 'GET', `/api/v1/orders/${orderA.id}`, { token: users.A.token })).body;
    assert.equal(a.status, 'filled', 'A (first at P) is filled');
    assert.equal(a.filled_quantity, '1.00000000');
    assert.equal(a.fills.length, 1);
    assert.equal(a.fills[0].role, 'maker');
    const b = (await api(srv2, 'GET', `/api/v1/orders/${orderB.id}`, { token: users.B.token })).body;
    assert.equal(b.status, 'new', 'B (second at P) is still open');
    assert.equal(b.filled_quantity, '0.00000000');
    assert.equal(b.held, orderB.held);
    assert.deepEqual((await openOrders(srv2, users.B)).map((o) => o.id), [orderB.id]);

    // A paid exactly its maker notional + fee out of the hold; the hold is released
    const n = (P * minor('1')) / 100000000n;
    const usdtBefore = before_.A.balances.find((x) => x.asset === 'USDT');
    const bal = await balances(srv2, users.A);
    assert.equal(bal.SOL.total, '1.00000000');
    assert.equal(bal.USDT.held, '0.00000000');
    assert.equal(minor(bal.USDT.total), minor(usdtBefore.total) - n - fee(n));
    const bc = await balances(srv2, users.C);
    assert.equal(minor(bc.USDT.total), n - fee(n));
    assert.equal(bc.SOL.total, '9.00000000');
    assert.equal(bc.SOL.held, '2.50000000');

    const book = (await api(srv2, 'GET', '/api/v1/markets/SOL-USDT/book?depth=1')).body;
    assert.deepEqual(book.bids[0], [fmt(P), '1.00000000']);
    await assertInvariants(srv2, Object.values(users));
  });

  it('`coinage check` exits 0 on the recovered data directory (live and after a clean stop)', async () => {
    // execFileSync throws on a non-zero exit status
    execFileSync(BIN, ['check', '--data-dir', srv.dataDir, ...dbArgs(srv.dataDir)], { cwd: ROOT, stdio: 'pipe' });
    await srv2.stop();
    srv2 = null;
    execFileSync(BIN, ['check', '--data-dir', srv.dataDir, ...dbArgs(srv.dataDir)], { cwd: ROOT, stdio: 'pipe' });
  });
});
