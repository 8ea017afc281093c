// PostgreSQL in production conditions: a REAL lost connection, not an injected failure.
// 1. coinage's backends are terminated (pg_terminate_backend) while clients place orders;
// 2. the PostgreSQL server is stopped as by a crash (pg_ctl stop -m immediate) while clients place
//    orders, and started again.
// Expected (docs/ARCHITECTURE: fail-stop): the batch in flight is not acknowledged (503
// store_unavailable), later writes get the same 503, nothing hangs, read-model GETs (ticker, book)
// keep answering, /health says degraded, the log says why and never shows the connection
// password; store reads (orders, ledger) reconnect once the server is back while writes stay
// refused; after a restart everything acknowledged is there, nothing unacknowledged is
// half-applied, and the invariants hold.
// Runs only in the PostgreSQL suite (make test-api-pg sets COINAGE_TEST_PG); skipped otherwise.
// Test 2 uses a server of its own (scripts/pg-test-server.sh): the suite's shared server must not
// be stopped under the other test files.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  PG, startServer, api, newUser, deposit, login, assertInvariants, sleep, waitFor, newDataDir,
} from './helpers.mjs';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const skip = PG ? false : 'needs PostgreSQL: COINAGE_TEST_PG (make test-api-pg)';
const SECRET = 'pw-must-not-be-logged-7f3a';

function psql(url, sql) {
  return execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-At', '-d', url, '-c', sql],
    { stdio: 'pipe' }).toString().trim();
}

const dbUrlOf = (dataDir) => fs.readFileSync(path.join(dataDir, 'db-url'), 'utf8').trim();
const dbNameOf = (url) => url.match(/^postgres(?:ql)?:\/\/[^/?]*\/([^?]*)/)[1];

// Point the data directory's store URL at `url` plus a password: the throw-away server trusts
// local connections, so the password is sent but not needed; the test checks it is never logged.
function withPassword(dataDir, url) {
  fs.writeFileSync(path.join(dataDir, 'db-url'), `${url}&password=${SECRET}`);
}

// Concurrent clients, each placing limit buys far below the market (they rest, holding USDT)
// with a unique client_order_id, until stop() is called. Every answer is recorded.
function placeOrders(srv, user, clients) {
  const results = [];
  let running = true;
  let seq = 0;
  const one = async (c) => {
    while (running) {
      const coid = `c${c}-${++seq}`;
      const t0 = Date.now();
      let r;
      try {
        r = await api(srv, 'POST', '/api/v1/orders', {
          token: user.token,
          body: {
            market: 'BTC-USDT', side: 'buy', type: 'limit', quantity: '0.001',
            price: `${20000 + (seq % 500)}.00`, client_order_id: coid,
          },
        });
      } catch (e) {
        r = { status: 0, body: { error: String(e) } };
      }
      results.push({ coid, status: r.status, code: r.body?.error?.code, id: r.body?.id, ms: Date.now() - t0 });
      if (r.status !== 201) await sleep(20);
    }
  };
  const done = Promise.all(Array.from({ length: clients }, (_, c) => one(c)));
  return { results, stop: async () => { running = false; await done; } };
}

// The answers seen during a failure: acknowledged (201) or refused with the store's stable 503.
function checkAnswers(results) {
  const acked = results.filter((r) => r.status === 201);
  const refused = results.filter((r) => r.status === 503);
  for (const r of results) {
    assert.ok(r.status === 201 || (r.status === 503 && r.code === 'store_unavailable'),
      `unexpected answer ${JSON.stringify(r)}`);
    assert.ok(r.ms < 10000, `an order took ${r.ms} ms (hang?)`);
  }
  assert.ok(acked.length > 0, 'no order was acknowledged before the failure');
  assert.ok(refused.length > 0, 'no order was refused after the failure');
  return { acked, refused };
}

// Writes refused, read models served, health degraded, log says why without the password.
async function checkFailStop(srv, user) {
  const w = await api(srv, 'POST', '/api/v1/deposits', {
    token: user.token, body: { asset: 'USDT', amount: '1' }, headers: { 'idempotency-key': `after-${Date.now()}` },
  });
  assert.equal(w.status, 503, JSON.stringify(w.body));
  assert.equal(w.body.error.code, 'store_unavailable');
  const tk = await api(srv, 'GET', '/api/v1/markets/BTC-USDT/ticker');
  assert.equal(tk.status, 200);
  const book = await api(srv, 'GET', '/api/v1/markets/BTC-USDT/book?depth=5');
  assert.equal(book.status, 200);
  assert.ok(book.body.bids.length > 0, 'the book read model is served');
  const h = await api(srv, 'GET', '/health');
  assert.equal(h.status, 503);
  assert.equal(h.body.status, 'degraded');
  assert.match(srv.log(), /commit of batch \d+ failed; refusing writes until restart/);
  assert.ok(!srv.log().includes(SECRET), 'the connection password is in the log');
}

// After a restart: every acknowledged order is there, every stored order of ours was either
// acknowledged or refused (nothing invented), and the ledger and holds are consistent.
async function checkRecovered(dataDir, user, acked, refused, env = {}) {
  const srv = await startServer({ speed: 0.001, dataDir, env });
  try {
    const u = await login(srv, user.email, user.password);
    const r = await api(srv, 'GET', '/api/v1/orders?status=open&limit=500', { token: u.token });
    assert.equal(r.status, 200);
    const stored = new Map(r.body.data.map((o) => [o.client_order_id, o]));
    for (const a of acked) assert.equal(stored.get(a.coid)?.id, a.id, `acknowledged order ${a.coid} lost`);
    const refusedIds = new Set(refused.map((x) => x.coid));
    const extra = [...stored.keys()].filter((k) => !acked.some((a) => a.coid === k));
    // a refused order may only be present if its commit reached the server with the answer lost
    for (const k of extra) assert.ok(refusedIds.has(k), `order ${k} was never sent`);
    await assertInvariants(srv, [u]);
    const ok = await api(srv, 'POST', '/api/v1/orders', {
      token: u.token, body: { market: 'BTC-USDT', side: 'buy', type: 'limit', quantity: '0.001', price: '20000.00' },
    });
    assert.equal(ok.status, 201, 'writes work again after the restart');
    assert.ok(!srv.log().includes(SECRET));
    return { stored: stored.size, extra: extra.length };
  } finally {
    await srv.stop();
  }
}

describe('PostgreSQL: a real lost connection', { skip, concurrency: true }, () => {
  it('terminated backends: fail-stop writes, read connections reconnect, restart recovers', async () => {
    const dataDir = newDataDir();
    const url = dbUrlOf(dataDir);
    withPassword(dataDir, url);
    const srv = await startServer({ speed: 0.001, dataDir });
    let user;
    let answers;
    try {
      user = await newUser(srv, 'pgkill');
      await deposit(srv, user, 'USDT', '10000');
      const load = placeOrders(srv, user, 4);
      await waitFor(() => load.results.filter((r) => r.status === 201).length >= 20, 30000, '20 acks');
      // every coinage connection to its database: the store's writer and the API's readers
      const killed = psql(PG, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
        WHERE datname = '${dbNameOf(url)}' AND pid <> pg_backend_pid()`);
      assert.ok(Number(killed) >= 2, `terminated ${killed} backends`);
      await waitFor(() => load.results.some((r) => r.status === 503), 15000, 'a refused order');
      await sleep(300);
      await load.stop();
      answers = checkAnswers(load.results);
      await checkFailStop(srv, user);
      assert.match(srv.log(), /terminating connection due to administrator command|server closed the connection/);
      // store reads (not read models) come back on new connections; writes stay refused
      const orders = await waitFor(async () => {
        const r = await api(srv, 'GET', '/api/v1/orders?status=open&limit=500', { token: user.token });
        return r.status === 200 ? r : null;
      }, 10000, 'GET /orders to reconnect');
      const seen = new Set(orders.body.data.map((o) => o.client_order_id));
      for (const a of answers.acked) assert.ok(seen.has(a.coid), `acknowledged ${a.coid} not in the store`);
      assert.match(srv.log(), /db: reconnected to PostgreSQL/);
      const w = await api(srv, 'DELETE', `/api/v1/orders/${answers.acked[0].id}`, { token: user.token });
      assert.equal(w.status, 503);
    } finally {
      await srv.stop();
    }
    const r = await checkRecovered(dataDir, user, answers.acked, answers.refused);
    console.log(`# backend kill: ${answers.acked.length} acknowledged, ${answers.refused.length} refused; ` +
      `after restart ${r.stored} open orders (${r.extra} of them refused ones whose commit landed)`);
  });

  it('server crash (pg_ctl stop -m immediate) and back: nothing hangs, reads resume, restart recovers', async () => {
    // a server of our own, loaded with a copy of a fresh suite database (history + admin)
    // (a new path straight under the temporary directory: the server's user must reach it)
    const pgdir = path.join(os.tmpdir(), `cg-pgown-${process.pid}-${Date.now()}`);
    const script = path.join(ROOT, 'scripts', 'pg-test-server.sh');
    const sh = (...a) => execFileSync('sh', [script, ...a], { stdio: 'pipe' }).toString().trim();
    const own = sh('start', pgdir);
    const src = newDataDir();
    let srv;
    let user;
    let answers;
    let dataDir;
    try {
      const ownDb = own.replace(/^(postgres(?:ql)?:\/\/[^/?]*\/)[^?]*/, '$1coinage');
      psql(own, 'CREATE DATABASE coinage');
      execFileSync('sh', ['-c', 'pg_dump -d "$1" | psql -X -q -v ON_ERROR_STOP=1 -d "$2"', 'sh', dbUrlOf(src), ownDb],
        { stdio: 'pipe' });
      dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cg-data-'));
      withPassword(dataDir, ownDb);
      srv = await startServer({ speed: 0.001, dataDir });
      user = await newUser(srv, 'pgcrash');
      await deposit(srv, user, 'USDT', '10000');
      const load = placeOrders(srv, user, 4);
      await waitFor(() => load.results.filter((r) => r.status === 201).length >= 20, 30000, '20 acks');
      sh('crash', pgdir);
      await waitFor(() => load.results.some((r) => r.status === 503), 15000, 'a refused order');
      await sleep(300);
      await load.stop();
      answers = checkAnswers(load.results);
      await checkFailStop(srv, user);
      // the store is down: a store read fails fast with 503, it does not hang
      const t0 = Date.now();
      const down = await api(srv, 'GET', '/api/v1/orders?status=open', { token: user.token });
      assert.equal(down.status, 503, JSON.stringify(down.body));
      assert.ok(Date.now() - t0 < 3000, `a read with the server down took ${Date.now() - t0} ms`);
      sh('resume', pgdir);
      const orders = await waitFor(async () => {
        const r = await api(srv, 'GET', '/api/v1/orders?status=open&limit=500', { token: user.token });
        return r.status === 200 ? r : null;
      }, 15000, 'GET /orders after the server is back');
      const seen = new Set(orders.body.data.map((o) => o.client_order_id));
      for (const a of answers.acked) assert.ok(seen.has(a.coid), `acknowledged ${a.coid} not in the store`);
      const w = await api(srv, 'POST', '/api/v1/orders', {
        token: user.token, body: { market: 'BTC-USDT', side: 'buy', type: 'limit', quantity: '0.001', price: '20000.00' },
      });
      assert.equal(w.status, 503, 'writes stay refused until restart');
      assert.match(srv.log(), /db: reconnected to PostgreSQL/);
      await srv.stop();
      srv = null;
      const r = await checkRecovered(dataDir, user, answers.acked, answers.refused);
      console.log(`# server crash: ${answers.acked.length} acknowledged, ${answers.refused.length} refused; ` +
        `after restart ${r.stored} open orders (${r.extra} of them refused ones whose commit landed)`);
    } finally {
      if (srv) await srv.stop();
      try { sh('stop', pgdir); } catch { /* already gone */ }
    }
  });
});
