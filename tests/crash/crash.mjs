#!/usr/bin/env node
// Crash harness: "nothing acknowledged is lost".
//
// Each trial (seeded, the seed is printed; `--seed S` replays it):
//   1. start coinage with a moving replay (speed 20: the house re-quotes and its quotes cross
//      resting orders), create users, fund them, and rest two buy orders at the same price on
//      SOL-USDT inside the spread (A then B) for the time-priority check;
//   2. drive many concurrent clients (deposits and withdrawals with Idempotency-Keys, limit
//      gtc/ioc/fok/post-only, market by quantity and by quote_quantity, stop and take-profit
//      orders, amends, cancels and cancel-alls on BTC-USDT, ETH-USDT and SOL-USDT), recording every
//      request and whether it was acknowledged (a 2xx/4xx response received) or not;
//   3. SIGKILL the server after a random delay (usually with requests in flight, sometimes after
//      the clients went quiet), restart it on the same data directory with the replay frozen, and
//      verify:
//      - acknowledged deposits/withdrawals are in the ledger and their Idempotency-Key replays the
//        same body (idempotent-replayed: true); acknowledged orders exist with a state at least as
//        advanced as acknowledged (filled >= acknowledged, terminal states unchanged, the fills of
//        the acknowledgement present, price/quantity as last amended) and with the fields they
//        were acknowledged with; acknowledged cancels stay canceled;
//      - unacknowledged requests were applied fully or not at all: the Idempotency-Key either
//        replays a stored result that is in the store, or a retry applies it exactly once;
//      - /api/v1/admin/invariants is ok, helpers.assertInvariants holds for every user, every
//        user's balances equal the sum of their ledger postings, every fill-consistent order
//        (filled == sum of its fills), every open limit order is on the public book;
//      - `coinage check --data-dir` exits 0 (live, and after a clean stop);
//      - time priority survives: a sell of exactly A's remaining quantity at the shared price
//        fills A, not B;
//      - the state hash: with COINAGE_TEST_STATE_HASH every committed batch stores the engine's
//        hash of what the store persists (users' orders in priority order, balances, holds, id
//        counters); the restarted server recomputes it from what it recovered and must log that
//        they are equal (it refuses to start otherwise).
//   4. stop the server cleanly (sanitizer reports fail the trial) and remove its data directory.
//
// Usage (from tests/api, so that helpers.mjs finds its node_modules):
//   COINAGE_BIN=$PWD/../../build/debug/coinage node ../crash/crash.mjs --trials 20
//   node ../crash/crash.mjs --seed 123456789          # replay one trial
// Options: --trials N --seed S --loops N --users N --cycles N (kill/restart/verify rounds per trial,
//          the later ones on the recovered store) --kill-min MS --kill-max MS --keep --verbose
// As a module: runTrials({ trials, seed, loops, users, cycles, killMinMs, killMaxMs, keep, log }).
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');
if (!process.env.COINAGE_BIN) process.env.COINAGE_BIN = path.join(ROOT, 'build', 'debug', 'coinage');
const H = await import('../api/helpers.mjs');
const { startServer, newUser, adminToken, assertInvariants, minor, sleep, BIN } = H;
// Test hook: the engine hashes its persisted state after every batch, the store commits it.
const HASH_ENV = { COINAGE_TEST_STATE_HASH: '1' };

const MARKETS = ['BTC-USDT', 'ETH-USDT', 'SOL-USDT'];
const PRIO_MARKET = 'SOL-USDT';
const OPEN = new Set(['new', 'partially_filled']);
const TERMINAL = new Set(['filled', 'canceled', 'rejected', 'expired']);
const IMMUTABLE = ['market', 'side', 'type', 'time_in_force', 'stop_price', 'quote_quantity',
  'post_only', 'self_trade_prevention', 'client_order_id', 'created_at'];
const SANITIZER = /ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:/;

// ---------- small utilities ----------

function fmt(v, scale = 8) {
  const neg = v < 0n;
  const a = neg ? -v : v;
  const p = 10n ** BigInt(scale);
  return `${neg ? '-' : ''}${a / p}.${(a % p).toString().padStart(scale, '0')}`;
}
const mn = (s, scale = 8) => (s === null || s === undefined ? null : minor(s, scale));
const maxBig = (a, b) => (a > b ? a : b);

// mulberry32: small, fast, seedable
class Rng {
  constructor(seed) { this.s = seed >>> 0; }
  next() {
    this.s = (this.s + 0x6D2B79F5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(lo, hi) { return lo + Math.floor(this.next() * (hi - lo + 1)); }
  chance(p) { return this.next() < p; }
  pick(a) { return a[Math.floor(this.next() * a.length)]; }
  weighted(pairs) {
    let total = 0;
    for (const [, w] of pairs) total += w;
    let x = this.next() * total;
    for (const [v, w] of pairs) { if ((x -= w) < 0) return v; }
    return pairs[pairs.length - 1][0];
  }
}

async function pool(items, n, fn) {
  let i = 0;
  const worker = async () => { while (i < items.length) { const k = i++; await fn(items[k], k); } };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
}

// One HTTP request. Never throws for HTTP statuses; throws on connection errors.
async function call(srv, method, p, { token, payload, key, timeoutMs = 20000 } = {}) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (payload !== undefined) headers['content-type'] = 'application/json';
  if (key) headers['idempotency-key'] = key;
  const r = await fetch(srv.base + p, {
    method, headers, body: payload, signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await r.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = { unparsed: text }; }
  return { status: r.status, text, body, replayed: r.headers.get('idempotent-replayed') === 'true' };
}

// A GET that must answer 200.
async function get200(srv, p, token) {
  const r = await call(srv, 'GET', p, { token });
  if (r.status !== 200) throw new Error(`GET ${p}: ${r.status} ${r.text}`);
  return r.body;
}

async function allPages(srv, token, p) {
  const out = [];
  let cursor = null;
  for (;;) {
    const sep = p.includes('?') ? '&' : '?';
    const b = await get200(srv, `${p}${sep}limit=500${cursor ? `&cursor=${cursor}` : ''}`, token);
    out.push(...b.data);
    if (!b.next_cursor) return out;
    cursor = b.next_cursor;
  }
}

// ---------- one trial ----------

class Trial {
  constructor(seed, opts) {
    this.seed = seed >>> 0;
    this.opts = opts;
    this.rng = new Rng(this.seed);
    this.tag = `k${this.seed.toString(36)}`;
    this.reqs = [];
    this.failures = [];
    this.view = {};
    this.info = {};
    this.uniq = 0;
    this.coidSeq = 0;
    this.keySeq = 0;
    this.inflight = 0;
    this.killed = false;
    this.stopLoops = false;
    this.stopPoll = false;
    this.notes = [];
    this.prio = null;
    this.phases = [];
  }

  fail(cat, msg) { this.failures.push({ cat, msg }); }

  phase(name) {
    const now = Date.now();
    if (this.phaseName) this.phases.push(`${this.phaseName} ${((now - this.phaseT) / 1000).toFixed(1)}s`);
    this.phaseName = name;
    this.phaseT = now;
  }

  // Send a recorded request. rec: {op, u, method, path, body?, key?, ...}
  async send(rec) {
    rec.n = this.reqs.length;
    this.reqs.push(rec);
    if (rec.body !== undefined) rec.payload = JSON.stringify(rec.body);
    rec.t0 = Date.now() - (this.t0 || Date.now());
    rec.afterKill = this.killed;
    this.inflight++;
    try {
      const r = await call(this.srv, rec.method, rec.path,
        { token: this.users[rec.u].token, payload: rec.payload, key: rec.key });
      rec.status = r.status;
      rec.text = r.text;
      rec.res = r.body;
      rec.acked = r.status < 500;
      if (!rec.acked) rec.err = `HTTP ${r.status} ${r.text}`;
    } catch (e) {
      rec.acked = false;
      rec.err = String(e?.cause?.code || e?.name || e?.message || e);
    } finally {
      this.inflight--;
      rec.t1 = Date.now() - (this.t0 || Date.now());
    }
    if (!rec.acked && !this.killed) {
      this.fail('server', `request #${rec.n} ${rec.method} ${rec.path} ${rec.payload || ''} failed before ` +
        `the kill: ${rec.err}`);
    }
    return rec;
  }

  user(ui) { return this.users[ui]; }

  // ---- workload generation ----

  qtyFor(m, notional, price) {
    const { lot, bs } = this.info[m];
    let q = (notional * 10n ** BigInt(bs) + price - 1n) / price;
    q = ((q + lot - 1n) / lot) * lot;
    return q < this.info[m].minQty ? this.info[m].minQty : q;
  }

  clampSol(m, side, price) {
    if (m !== PRIO_MARKET || !this.prio) return price;
    const { tick } = this.info[m];
    if (side === 'buy' && price >= this.prio.P) return this.prio.P - tick;
    if (side === 'sell' && price <= this.prio.P) return this.prio.P + tick;
    return price;
  }

  genOrder(r) {
    const m = r.pick(MARKETS);
    const v = this.view[m];
    if (!v || v.bid === null || v.ask === null) return null;
    const { tick } = this.info[m];
    const sol = m === PRIO_MARKET && this.prio;
    const mid = (v.bid + v.ask) / 2n;
    const kind = r.weighted([['limit', 55], ['market', 25], ['stop', 20]]);
    // On the priority market no sell may cross the shared price P and no buy may join or
    // outbid it, so A and B stay first at P (see the priority check).
    const side = sol && kind !== 'limit' ? 'buy' : r.pick(['buy', 'sell']);
    const notional = BigInt(r.int(10, 250)) * 10n ** 8n;
    const body = { market: m, side };
    if (kind === 'limit') {
      let price = mid + (mid * BigInt(r.int(-60, 60))) / 10000n;
      price -= price % tick;
      price = this.clampSol(m, side, price);
      if (price <= 0n) price = tick;
      body.type = 'limit';
      body.quantity = fmt(this.qtyFor(m, notional, price), this.info[m].bs);
      body.price = fmt(price);
      const tif = r.weighted([['gtc', 60], ['ioc', 20], ['fok', 20]]);
      if (tif !== 'gtc' || r.chance(0.5)) body.time_in_force = tif;
      if (tif === 'gtc' && r.chance(0.2)) body.post_only = true;
    } else if (kind === 'market') {
      body.type = 'market';
      if (side === 'buy' && r.chance(0.4)) {
        body.quote_quantity = `${r.int(10, 200)}.${String(r.int(0, 99)).padStart(2, '0')}`;
      } else {
        body.quantity = fmt(this.qtyFor(m, notional, side === 'buy' ? v.ask : v.bid), this.info[m].bs);
      }
    } else {
      const type = r.pick(['stop_loss', 'stop_loss_limit', 'take_profit', 'take_profit_limit']);
      const ref = v.last ?? mid;
      const up = (type.startsWith('stop_loss') && side === 'buy') ||
        (type.startsWith('take_profit') && side === 'sell');
      const d = (ref * BigInt(r.int(1, 30))) / 10000n + tick;
      let stop = up ? ref + d : ref - d;
      stop -= stop % tick;
      body.type = type;
      body.stop_price = fmt(stop);
      if (type.endsWith('_limit')) {
        let price = side === 'buy' ? stop + (stop * 20n) / 10000n : stop - (stop * 20n) / 10000n;
        price -= price % tick;
        body.price = fmt(this.clampSol(m, side, price));
      }
      body.quantity = fmt(this.qtyFor(m, notional, stop), this.info[m].bs);
    }
    if (r.chance(0.1)) body.self_trade_prevention = r.pick(['expire_maker', 'expire_taker', 'expire_both']);
    body.client_order_id = `${this.tag}-${++this.coidSeq}`;
    return body;
  }

  genFunds(r, ui, kind) {
    const asset = r.pick(['USDT', 'USDT', 'BTC', 'ETH', 'SOL']);
    // every amount is unique in the trial (the low digits are a counter), so an entry can be
    // counted in the ledger by amount
    const u = BigInt(++this.uniq);
    const dep = { USDT: [100, 5000, 8], BTC: [1, 20, 6], ETH: [1, 20, 7], SOL: [5, 100, 8] };
    const wd = { USDT: [10, 500, 8], BTC: [1, 10, 5], ETH: [1, 10, 6], SOL: [1, 10, 8] };
    const [lo, hi, e] = (kind === 'deposit' ? dep : wd)[asset];
    const amount = BigInt(r.int(lo, hi)) * 10n ** BigInt(e) + u;
    return {
      op: kind, u: ui, method: 'POST', path: kind === 'deposit' ? '/api/v1/deposits' : '/api/v1/withdrawals',
      body: { asset, amount: fmt(amount) }, key: `${this.tag}-f${++this.keySeq}`, asset, amount,
    };
  }

  async loop(li) {
    const r = new Rng((this.seed ^ Math.imul(li + 1, 0x9E3779B1)) >>> 0);
    const ui = li % this.opts.users;
    const mine = new Map(); // this loop's open orders: id -> last acknowledged body
    const track = (b) => {
      if (!b || typeof b.id !== 'number') return;
      if (OPEN.has(b.status)) mine.set(b.id, b); else mine.delete(b.id);
    };
    while (!this.stopLoops) {
      let op = r.weighted([['deposit', 8], ['withdraw', 5], ['order', 55], ['amend', 12], ['cancel', 12],
        ['cancelAll', 2]]);
      if ((op === 'amend' || op === 'cancel') && mine.size === 0) op = 'order';
      if (op === 'deposit' || op === 'withdraw') {
        await this.send(this.genFunds(r, ui, op === 'deposit' ? 'deposit' : 'withdrawal'));
      } else if (op === 'order') {
        const body = this.genOrder(r);
        if (!body) { await sleep(20); continue; }
        const rec = await this.send({
          op: 'order', u: ui, method: 'POST', path: '/api/v1/orders', body,
          key: r.chance(0.85) ? `${this.tag}-o${++this.keySeq}` : undefined, coid: body.client_order_id,
        });
        if (rec.status === 201) track(rec.res);
      } else if (op === 'amend') {
        const limits = [...mine.values()].filter((o) => o.type === 'limit');
        if (!limits.length) continue;
        const o = r.pick(limits);
        const { tick, lot, bs } = this.info[o.market];
        const body = {};
        const what = r.int(0, 2);
        if (what !== 1) {
          const f = BigInt(r.pick([50, 80, 120, 150]));
          let q = (minor(o.quantity, bs) * f) / 100n;
          q -= q % lot;
          if (q <= minor(o.filled_quantity, bs)) q = minor(o.quantity, bs) + lot;
          body.quantity = fmt(q, bs);
        }
        if (what !== 0) {
          let p = minor(o.price) + BigInt(r.pick([-5, -3, -2, -1, 1, 2, 3, 5])) * tick;
          p = this.clampSol(o.market, o.side, p);
          if (p > 0n) body.price = fmt(p);
        }
        if (!Object.keys(body).length) continue;
        const rec = await this.send({
          op: 'amend', u: ui, method: 'PATCH', path: `/api/v1/orders/${o.id}`, body, target: o.id,
        });
        if (rec.status === 200) track(rec.res);
        else if (rec.acked && rec.res?.error?.code !== 'insufficient_funds') mine.delete(o.id);
      } else if (op === 'cancel') {
        const o = r.pick([...mine.values()]);
        const rec = await this.send({ op: 'cancel', u: ui, method: 'DELETE', path: `/api/v1/orders/${o.id}`, target: o.id });
        if (rec.acked) mine.delete(o.id);
      } else {
        const market = r.chance(0.7) ? r.pick(MARKETS) : null;
        const rec = await this.send({
          op: 'cancelAll', u: ui, method: 'DELETE', path: market ? `/api/v1/orders?market=${market}` : '/api/v1/orders', market,
        });
        if (rec.status === 200) {
          for (const o of mine.values()) if (!market || o.market === market) mine.delete(o.id);
        }
      }
    }
  }

  async pollView() {
    for (;;) {
      await Promise.all(MARKETS.map(async (m) => {
        try {
          const r = await call(this.srv, 'GET', `/api/v1/markets/${m}/ticker`, { timeoutMs: 5000 });
          if (r.status === 200) {
            this.view[m] = { bid: mn(r.body.bid), ask: mn(r.body.ask), last: mn(r.body.last) };
          }
        } catch { /* killed */ }
      }));
      if (this.stopPoll) return;
      await sleep(150);
    }
  }

  // ---- setup ----

  async setup() {
    const o = this.opts;
    const mk = await get200(this.srv, '/api/v1/markets');
    for (const m of mk.data) {
      if (!MARKETS.includes(m.name)) continue;
      this.info[m.name] = {
        tick: minor(m.tick_size, m.quote_scale), lot: minor(m.lot_size, m.base_scale),
        minQty: minor(m.min_quantity, m.base_scale), bs: m.base_scale, qs: m.quote_scale,
      };
    }
    const labels = [...Array.from({ length: o.users }, (_, i) => `crash${i}`), 'prioA', 'prioB', 'prioC'];
    this.users = await Promise.all(labels.map((l) => newUser(this.srv, l)));
    this.users.forEach((u, i) => { u.label = labels[i]; });
    const [A, B, C] = [o.users, o.users + 1, o.users + 2];
    const funding = [];
    for (let ui = 0; ui < o.users; ui++) {
      for (const [asset, amount] of [['USDT', '200000'], ['BTC', '2'], ['ETH', '40'], ['SOL', '3000']]) {
        funding.push({ op: 'deposit', u: ui, asset, amount: minor(amount) + BigInt(++this.uniq) });
      }
    }
    funding.push({ op: 'deposit', u: A, asset: 'USDT', amount: minor('10000') + BigInt(++this.uniq) });
    funding.push({ op: 'deposit', u: B, asset: 'USDT', amount: minor('10000') + BigInt(++this.uniq) });
    funding.push({ op: 'deposit', u: C, asset: 'SOL', amount: minor('1000') + BigInt(++this.uniq) });
    await Promise.all(funding.map((f) => this.send({
      ...f, method: 'POST', path: '/api/v1/deposits', body: { asset: f.asset, amount: fmt(f.amount) },
      key: `${this.tag}-f${++this.keySeq}`, op: 'deposit',
    })));
    for (const f of this.reqs) {
      if (f.status !== 201) throw new Error(`setup deposit failed: ${f.status} ${f.text}`);
    }
    await this.setupPriority(A, B);
  }

  async setupPriority(A, B) {
    const m = PRIO_MARKET;
    const { tick, bs } = this.info[m];
    const book = await get200(this.srv, `/api/v1/markets/${m}/book?depth=1`);
    if (!book.bids.length || !book.asks.length) { this.prioSkip = 'SOL-USDT not quoted'; return; }
    const P = minor(book.bids[0][0]) + tick;
    if (P >= minor(book.asks[0][0])) { this.prioSkip = `no empty tick in the spread ${book.bids[0][0]}/${book.asks[0][0]}`; return; }
    const q = this.qtyFor(m, minor('60'), P);
    const place = (u, tagc) => this.send({
      op: 'order', u, method: 'POST', path: '/api/v1/orders', key: `${this.tag}-o${++this.keySeq}`,
      coid: `${this.tag}-${tagc}`,
      body: { market: m, side: 'buy', type: 'limit', quantity: fmt(q, bs), price: fmt(P), client_order_id: `${this.tag}-${tagc}` },
    });
    const a = await place(A, 'prioA');
    const b = await place(B, 'prioB');
    if (a.status !== 201 || b.status !== 201 || a.res.status !== 'new' || b.res.status !== 'new') {
      this.prioSkip = `setup orders not resting: A ${a.status} ${a.res?.status}, B ${b.status} ${b.res?.status}`;
      return;
    }
    this.prio = { P, A, B, idA: a.res.id, idB: b.res.id, amended: false };
    // sometimes A shrinks: a smaller quantity at the same price keeps its queue position
    if (this.rng.chance(0.5)) {
      let q2 = q / 2n;
      q2 -= q2 % this.info[m].lot;
      const r = await this.send({
        op: 'amend', u: A, method: 'PATCH', path: `/api/v1/orders/${a.res.id}`, body: { quantity: fmt(q2, bs) }, target: a.res.id,
      });
      if (r.status !== 200 || r.res.quantity !== fmt(q2, bs)) {
        this.fail('priority', `amend of A down to ${fmt(q2, bs)} failed: ${r.status} ${r.text}`);
      } else {
        this.prio.amended = true;
      }
    }
  }

  // ---- run ----

  async run() {
    const o = this.opts;
    const started = Date.now();
    let dataDir = null;
    let srv2 = null;
    this.kills = [];
    try {
      for (let cycle = 0; cycle < o.cycles; cycle++) {
        this.cycle = cycle;
        const killAt = this.rng.int(o.killMinMs, o.killMaxMs);
        const mode = this.rng.chance(0.2) ? 'quiet' : 'inflight';
        this.phase(cycle ? `start#${cycle + 1}` : 'start');
        this.srv = await startServer({ speed: 20, dataDir: dataDir || undefined, env: HASH_ENV });
        dataDir = this.srv.dataDir;
        if (cycle === 0) {
          this.phase('setup');
          await this.setup();
        }
        this.phase(cycle ? `workload#${cycle + 1}` : 'workload');
        this.killed = false;
        this.stopLoops = false;
        this.stopPoll = false;
        this.view = {};
        this.t0 = Date.now();
        const poller = this.pollView();
        while (!MARKETS.every((m) => this.view[m]?.bid != null) && Date.now() - this.t0 < 5000) await sleep(20);
        const loops = Array.from({ length: o.loops }, (_, i) => this.loop(i));
        await sleep(killAt);
        if (this.srv.proc.exitCode !== null || this.srv.proc.signalCode !== null) {
          this.fail('server', `coinage died before the kill:\n${this.srv.log().slice(-3000)}`);
        }
        const kill = { mode };
        if (mode === 'quiet') {
          // the clients go quiet first: every request is answered before the kill
          this.stopLoops = true;
          await Promise.all(loops);
          this.killed = true;
          kill.inflight = this.inflight;
          kill.ms = Date.now() - this.t0;
          await this.srv.kill();
        } else {
          this.killed = true;
          this.stopLoops = true;
          kill.inflight = this.inflight;
          kill.ms = Date.now() - this.t0;
          await this.srv.kill();
          await Promise.all(loops);
        }
        this.kills.push(kill);
        this.stopPoll = true;
        await poller;
        if (SANITIZER.test(this.srv.log())) this.fail('server', `sanitizer report before the kill:\n${this.srv.log()}`);

        this.phase(cycle ? `restart#${cycle + 1}` : 'restart');
        try {
          srv2 = await startServer({ speed: 0.001, dataDir, env: HASH_ENV });
        } catch (e) {
          this.fail('recovery', `restart on the killed server's data directory failed: ${e.message}`);
          break;
        }
        this.srv = srv2;
        // Every committed batch stored the engine's hash of what the store persists (users'
        // orders in priority order, balances, holds, id counters); recovery refuses to start on
        // a mismatch and logs the match.
        if (!/recovered state hash [0-9a-f]{16} equals the last committed batch's/.test(srv2.log())) {
          this.fail('state hash', `the restarted server did not confirm the state hash:\n${srv2.log().slice(0, 4000)}`);
        }
        await this.verify();
        try {
          await srv2.stop();
          if (SANITIZER.test(srv2.log())) this.fail('server', `sanitizer report at the clean stop:\n${srv2.log()}`);
        } catch (e) {
          this.fail('server', `clean stop: ${e.message}`);
        }
        srv2 = null;
        this.phase('check');
        this.checkCommand('after a clean stop');
        this.phase(null);
        if (this.failures.length) break;
      }
    } catch (e) {
      this.fail('harness', `${e.stack || e}`);
    } finally {
      this.stopLoops = true;
      this.stopPoll = true;
      if (srv2) await srv2.kill().catch(() => {});
      if (this.srv && this.srv !== srv2) await this.srv.kill().catch(() => {});
      if (dataDir && !(o.keep && this.failures.length)) fs.rmSync(dataDir, { recursive: true, force: true });
      else if (dataDir) this.notes.push(`data dir kept: ${dataDir}`);
    }
    this.elapsedMs = Date.now() - started;
    return this;
  }

  checkCommand(when) {
    try {
      execFileSync(BIN, ['check', '--data-dir', this.srv.dataDir, ...H.dbArgs(this.srv.dataDir)], { cwd: ROOT, stdio: 'pipe' });
    } catch (e) {
      this.fail('check', `coinage check ${when} exited ${e.status}: ${e.stderr}${e.stdout}`);
    }
  }

  // ---- verification after the restart ----

  async verify() {
    const srv = this.srv;
    if (SANITIZER.test(srv.log())) this.fail('server', `sanitizer report during recovery:\n${srv.log()}`);
    this.phase('invariants');
    await this.checkInvariants('after restart');
    this.phase('check-live');
    this.checkCommand('on the live recovered store');
    this.phase('priority');
    if (this.cycle === 0) await this.checkPriority();
    this.phase('orders');

    // build what the clients were told
    const orders = new Map(); // id -> model
    const model = (id, u) => {
      if (!orders.has(id)) orders.set(id, { id, u, acks: [], shape: null, pendingAmend: null, cancelReq: false, immut: null, from: null });
      return orders.get(id);
    };
    const cancelAlls = []; // {u, market}
    for (const rec of this.reqs) {
      if (rec.op === 'order' && rec.status === 201 && typeof rec.res?.id === 'number') {
        const m = model(rec.res.id, rec.u);
        m.acks.push({ src: `POST #${rec.n}`, b: rec.res });
        m.shape = { price: rec.res.price, quantity: rec.res.quantity };
        m.immut = rec.res;
        m.from = rec;
      } else if (rec.op === 'amend') {
        const m = model(rec.target, rec.u);
        if (rec.status === 200) {
          m.acks.push({ src: `PATCH #${rec.n}`, b: rec.res });
          m.shape = { price: rec.res.price, quantity: rec.res.quantity };
        } else if (!rec.acked) {
          m.pendingAmend = rec.body;
        }
      } else if (rec.op === 'cancel') {
        const m = model(rec.target, rec.u);
        m.cancelReq = true;
        if (rec.status === 200) m.acks.push({ src: `DELETE #${rec.n}`, b: rec.res });
      } else if (rec.op === 'cancelAll') {
        cancelAlls.push({ u: rec.u, market: rec.market });
        if (rec.status === 200) {
          for (const b of rec.res.canceled || []) model(b.id, rec.u).acks.push({ src: `DELETE all #${rec.n}`, b });
        }
      }
    }
    // the priority check's own requests (after restart) are not part of this
    for (const m of orders.values()) {
      if (!m.acks.length) continue;
      m.cancelAll = cancelAlls.some((c) => c.u === m.u && (!c.market || c.market === m.acks[0].b.market));
    }
    const modeled = [...orders.values()].filter((m) => m.acks.length);

    // acknowledged orders
    await pool(modeled, 16, async (m) => {
      const r = await call(srv, 'GET', `/api/v1/orders/${m.id}`, { token: this.user(m.u).token });
      if (r.status !== 200) {
        this.fail('lost-ack', `order ${m.id} (user ${this.user(m.u).label}) acknowledged by ${m.acks.map((a) => `${a.src}: ${a.b.status}`).join(', ')} ` +
          `is missing after restart: GET -> ${r.status} ${r.text}`);
        return;
      }
      this.checkOrder(m, r.body);
    });

    // per-user state after restart
    this.phase('ledgers+book');
    const ledgers = await this.fetchLedgers();
    await this.checkBalancesVsLedger(ledgers);
    await this.checkBook();

    // acknowledged funds
    this.phase('funds');
    const funds = this.reqs.filter((r) => r.op === 'deposit' || r.op === 'withdrawal');
    for (const rec of funds) {
      if (!rec.acked) continue;
      const cnt = this.countFunds(ledgers, rec);
      if (rec.status === 201) {
        const e = ledgers[rec.u].byId.get(rec.res.id);
        const signed = rec.op === 'deposit' ? rec.amount : -rec.amount;
        if (!e) {
          this.fail('lost-ack', `${rec.op} #${rec.n} ${rec.payload} key ${rec.key} acknowledged ${rec.text} is not in the ledger after restart`);
        } else if (e.kind !== rec.op || !e.postings.some((p) => p.asset === rec.asset && minor(p.amount) === signed)) {
          this.fail('lost-ack', `${rec.op} #${rec.n} ${rec.payload}: ledger entry ${rec.res.id} is ${JSON.stringify(e)}`);
        }
        if (cnt !== 1) this.fail('atomicity', `${rec.op} #${rec.n} ${rec.payload}: ${cnt} ledger entries with its amount, expected 1`);
      } else if (cnt !== 0) {
        this.fail('atomicity', `${rec.op} #${rec.n} ${rec.payload} refused with ${rec.status} ${rec.text} but ${cnt} ledger entries have its amount`);
      }
    }

    // idempotency replays of acknowledged keyed requests: the same body, marked replayed
    this.phase('replays');
    const keyed = this.reqs.filter((r) => r.key && r.acked && r.status === 201);
    await pool(keyed, 16, async (rec) => {
      const r = await call(srv, rec.method, rec.path, { token: this.user(rec.u).token, payload: rec.payload, key: rec.key });
      if (r.status !== rec.status || r.text !== rec.text || !r.replayed) {
        this.fail('idempotency', `replay of acknowledged ${rec.op} #${rec.n} (key ${rec.key}, ${rec.payload}): expected ${rec.status} ` +
          `${rec.text} replayed, got ${r.status} ${r.text} replayed=${r.replayed}`);
      }
    });

    // unacknowledged requests: all or nothing
    this.phase('unacked');
    const retried = [];
    const unackedFunds = funds.filter((r) => !r.acked);
    for (const rec of unackedFunds) {
      const c0 = this.countFunds(ledgers, rec);
      const r = await call(srv, rec.method, rec.path, { token: this.user(rec.u).token, payload: rec.payload, key: rec.key });
      rec.retry = r;
      if (r.replayed) {
        rec.outcome = 'applied';
        if (r.status === 201) {
          if (!ledgers[rec.u].byId.get(r.body.id) || c0 !== 1) {
            this.fail('atomicity', `unacknowledged ${rec.op} #${rec.n} ${rec.payload}: its key replays ${r.text} but the ledger has ` +
              `${ledgers[rec.u].byId.get(r.body.id) ? 'that entry' : 'no such entry'} and ${c0} entries with its amount`);
          }
        } else if (c0 !== 0) {
          this.fail('atomicity', `unacknowledged ${rec.op} #${rec.n} ${rec.payload}: its key replays ${r.status} but ${c0} ledger entries have its amount`);
        }
      } else {
        rec.outcome = 'not applied';
        if (c0 !== 0) {
          this.fail('atomicity', `unacknowledged ${rec.op} #${rec.n} ${rec.payload}: ${c0} ledger entries with its amount but its ` +
            `Idempotency-Key ${rec.key} was not recorded (the retry answered ${r.status} ${r.text} without replay): applied twice`);
        }
        retried.push(rec);
      }
    }
    const unackedOrders = this.reqs.filter((r) => r.op === 'order' && !r.acked && r.coid);
    await pool(unackedOrders, 8, async (rec) => {
      const token = this.user(rec.u).token;
      const found = await allPages(srv, token, `/api/v1/orders?status=all&client_order_id=${rec.coid}`);
      if (found.length > 1) {
        this.fail('atomicity', `unacknowledged order #${rec.n} ${rec.payload}: ${found.length} orders with its client_order_id`);
      }
      if (!rec.key) {
        rec.outcome = found.length ? 'applied' : 'not applied';
        if (found.length) {
          const g = await call(srv, 'GET', `/api/v1/orders/${found[0].id}`, { token });
          if (g.status !== 200) this.fail('atomicity', `order ${found[0].id} listed but GET -> ${g.status}`);
          else this.checkFills(`unacknowledged order #${rec.n} (${found[0].id})`, g.body, []);
        }
        return;
      }
      const r = await call(srv, 'POST', rec.path, { token, payload: rec.payload, key: rec.key });
      rec.retry = r;
      if (r.replayed) {
        rec.outcome = 'applied';
        if (r.status === 201) {
          if (found.length !== 1 || found[0].id !== r.body.id) {
            this.fail('atomicity', `unacknowledged order #${rec.n} ${rec.payload}: its key replays order ${r.body.id} but the store has ` +
              `${found.map((f) => f.id).join(',') || 'no order'} with its client_order_id`);
            return;
          }
          const g = await call(srv, 'GET', `/api/v1/orders/${r.body.id}`, { token });
          const m = { id: r.body.id, u: rec.u, acks: [{ src: `replay of #${rec.n}`, b: r.body }], shape: { price: r.body.price, quantity: r.body.quantity },
            pendingAmend: null, cancelReq: false, immut: r.body, from: rec };
          const o = orders.get(r.body.id);
          if (o) { m.shape = o.shape; m.pendingAmend = o.pendingAmend; m.cancelReq = o.cancelReq; m.acks.push(...o.acks); m.cancelAll = o.cancelAll; } else {
            m.cancelAll = cancelAlls.some((c) => c.u === m.u && (!c.market || c.market === r.body.market));
          }
          if (g.status !== 200) this.fail('atomicity', `order ${r.body.id} replayed but GET -> ${g.status}`);
          else this.checkOrder(m, g.body);
        } else if (found.length) {
          this.fail('atomicity', `unacknowledged order #${rec.n} ${rec.payload}: its key replays ${r.status} ${r.text} but order ${found[0].id} exists`);
        }
      } else {
        rec.outcome = 'not applied';
        if (found.length) {
          this.fail('atomicity', `unacknowledged order #${rec.n} ${rec.payload}: order ${found[0].id} exists but its Idempotency-Key ${rec.key} ` +
            `was not recorded (the retry answered ${r.status} ${r.text} without replay): applied twice`);
        }
        retried.push(rec);
      }
    });

    // the retries applied exactly once
    const ledgers2 = await this.fetchLedgers();
    for (const rec of retried) {
      const token = this.user(rec.u).token;
      const again = await call(srv, rec.method, rec.path, { token, payload: rec.payload, key: rec.key });
      if (rec.retry.status < 500 && (!again.replayed || again.text !== rec.retry.text || again.status !== rec.retry.status)) {
        this.fail('idempotency', `retry of unacknowledged ${rec.op} #${rec.n} ${rec.payload} answered ${rec.retry.status} ${rec.retry.text}; ` +
          `a second retry answered ${again.status} ${again.text} replayed=${again.replayed}`);
      }
      if (rec.op === 'order') {
        const found = await allPages(srv, token, `/api/v1/orders?status=all&client_order_id=${rec.coid}`);
        const want = rec.retry.status === 201 ? 1 : 0;
        if (found.length !== want) {
          this.fail('atomicity', `retried order #${rec.n} ${rec.payload} (${rec.retry.status}): ${found.length} orders with its client_order_id, expected ${want}`);
        }
      } else {
        const cnt = this.countFunds(ledgers2, rec);
        const want = rec.retry.status === 201 ? 1 : 0;
        if (cnt !== want) {
          this.fail('atomicity', `retried ${rec.op} #${rec.n} ${rec.payload} (${rec.retry.status} ${rec.retry.text}): ${cnt} ledger entries with its amount, expected ${want}`);
        }
      }
    }
    await this.checkBalancesVsLedger(ledgers2);
    this.phase('final-invariants');
    await this.checkInvariants('after the retries');
    this.phase('stop');
  }

  checkOrder(m, a) {
    const who = `order ${m.id} (user ${this.user(m.u).label}; acknowledged ${m.acks.map((x) => `${x.src}: ${x.b.status} filled ${x.b.filled_quantity}`).join(', ')})`;
    const bs = this.info[a.market]?.bs ?? 8;
    let maxFilled = 0n;
    for (const x of m.acks) maxFilled = maxBig(maxFilled, minor(x.b.filled_quantity, bs));
    if (minor(a.filled_quantity, bs) < maxFilled) {
      this.fail('lost-ack', `${who}: filled ${a.filled_quantity} after restart < acknowledged ${fmt(maxFilled, bs)}`);
    }
    const term = m.acks.find((x) => TERMINAL.has(x.b.status));
    if (term && (a.status !== term.b.status || a.filled_quantity !== term.b.filled_quantity || a.reason !== term.b.reason)) {
      this.fail('lost-ack', `${who}: acknowledged ${term.b.status}/${term.b.reason} filled ${term.b.filled_quantity}, after restart ` +
        `${a.status}/${a.reason} filled ${a.filled_quantity}`);
    }
    if (!term && a.status === 'canceled' && a.reason === 'canceled_by_user' && !m.cancelReq && !m.cancelAll) {
      this.fail('atomicity', `${who}: canceled_by_user after restart but no cancel was ever sent for it`);
    }
    if (m.shape) {
      const same = (s) => (s.price ?? null) === (a.price ?? null) && s.quantity === a.quantity;
      let ok = same(m.shape);
      if (!ok && m.pendingAmend) {
        const p = m.pendingAmend;
        ok = same({ price: p.price ?? m.shape.price, quantity: p.quantity ?? m.shape.quantity });
      }
      if (!ok) {
        this.fail('lost-ack', `${who}: price/quantity ${a.price}/${a.quantity} after restart, acknowledged ${m.shape.price}/${m.shape.quantity}` +
          `${m.pendingAmend ? ` (unacknowledged amend ${JSON.stringify(m.pendingAmend)})` : ''}`);
      }
    }
    if (m.immut) {
      const diff = IMMUTABLE.filter((k) => JSON.stringify(m.immut[k]) !== JSON.stringify(a[k]));
      if (diff.length) {
        this.fail('order-fields', `GET /api/v1/orders/${m.id} after restart differs from the acknowledged order (${m.from ? `#${m.from.n} ${m.from.payload}` : ''}) in ` +
          diff.map((k) => `${k}: acknowledged ${JSON.stringify(m.immut[k])}, now ${JSON.stringify(a[k])}`).join('; '));
      }
    }
    const ackFills = [];
    for (const x of m.acks) for (const f of x.b.fills || []) ackFills.push(f.id);
    this.checkFills(who, a, ackFills);
  }

  checkFills(who, a, ackFillIds) {
    const ids = new Set((a.fills || []).map((f) => f.id));
    const lost = ackFillIds.filter((id) => !ids.has(id));
    if (lost.length) this.fail('lost-ack', `${who}: acknowledged fills ${lost.join(',')} missing after restart`);
    if ((a.fills || []).length >= 1000) return;
    const bs = this.info[a.market]?.bs ?? 8;
    let q = 0n;
    let qq = 0n;
    let fee = 0n;
    for (const f of a.fills) { q += minor(f.quantity, bs); qq += minor(f.quote_quantity); fee += minor(f.fee); }
    if (q !== minor(a.filled_quantity, bs) || qq !== minor(a.quote_filled) || fee !== minor(a.fee)) {
      this.fail('atomicity', `${who}: filled ${a.filled_quantity} / quote ${a.quote_filled} / fee ${a.fee} but its fills sum to ` +
        `${fmt(q, bs)} / ${fmt(qq)} / ${fmt(fee)}`);
    }
  }

  countFunds(ledgers, rec) {
    const signed = rec.op === 'deposit' ? rec.amount : -rec.amount;
    return ledgers[rec.u].entries.filter((e) => e.kind === rec.op &&
      e.postings.some((p) => p.asset === rec.asset && minor(p.amount) === signed)).length;
  }

  async fetchLedgers() {
    const out = [];
    await pool(this.users.map((u, i) => i), 8, async (i) => {
      const entries = await allPages(this.srv, this.users[i].token, '/api/v1/ledger');
      out[i] = { entries, byId: new Map(entries.map((e) => [e.id, e])) };
    });
    return out;
  }

  async checkBalancesVsLedger(ledgers) {
    await pool(this.users.map((u, i) => i), 8, async (i) => {
      const bal = await get200(this.srv, '/api/v1/balances', this.users[i].token);
      const sums = {};
      for (const e of ledgers[i].entries) {
        for (const p of e.postings) sums[p.asset] = (sums[p.asset] || 0n) + minor(p.amount, p.asset === 'DOGE' ? 6 : 8);
      }
      for (const b of bal.data) {
        const sc = b.asset === 'DOGE' ? 6 : 8;
        if (minor(b.total, sc) !== (sums[b.asset] || 0n)) {
          this.fail('invariants', `user ${this.users[i].label}: ${b.asset} total ${b.total} but the ledger sums to ${fmt(sums[b.asset] || 0n, sc)}`);
        }
      }
    });
  }

  async checkInvariants(when) {
    try {
      const admin = await adminToken(this.srv);
      const inv = await call(this.srv, 'GET', '/api/v1/admin/invariants', { token: admin });
      if (inv.status !== 200 || inv.body.ok !== true) this.fail('invariants', `admin invariants ${when}: ${inv.status} ${inv.text}`);
      await assertInvariants(this.srv, this.users);
    } catch (e) {
      this.fail('invariants', `${when}: ${e.message}`);
    }
  }

  // every open user limit order rests on the public book
  async checkBook(retry = true) {
    const need = new Map(); // market|side|price -> remaining
    await pool(this.users.map((u, i) => i), 8, async (i) => {
      for (const o of await allPages(this.srv, this.users[i].token, '/api/v1/orders?status=open')) {
        if (o.type !== 'limit' || !MARKETS.includes(o.market)) continue;
        const k = `${o.market}|${o.side}|${o.price}`;
        need.set(k, (need.get(k) || 0n) + minor(o.remaining_quantity, this.info[o.market].bs));
      }
    });
    const books = {};
    for (const m of MARKETS) books[m] = await get200(this.srv, `/api/v1/markets/${m}/book?depth=5000`);
    const bad = [];
    for (const [k, q] of need) {
      const [m, side, price] = k.split('|');
      const lvl = books[m][side === 'buy' ? 'bids' : 'asks'].find((l) => l[0] === price);
      const have = lvl ? minor(lvl[1], this.info[m].bs) : 0n;
      if (have < q) bad.push(`${m} ${side} ${price}: users' open orders rest ${fmt(q, this.info[m].bs)}, the book shows ${lvl ? lvl[1] : 'no level'}`);
    }
    if (bad.length && retry) { await sleep(1000); return this.checkBook(false); }
    for (const b of bad) this.fail('book', `after restart: ${b}`);
    return undefined;
  }

  async checkPriority() {
    if (!this.prio) { this.prioResult = `skipped (${this.prioSkip || 'not set up'})`; return; }
    const { P, A, B, C = this.opts.users + 2, idA, idB } = this.prio;
    const m = PRIO_MARKET;
    const { bs } = this.info[m];
    const a = await get200(this.srv, `/api/v1/orders/${idA}`, this.user(A).token);
    const b = await get200(this.srv, `/api/v1/orders/${idB}`, this.user(B).token);
    const aRem = minor(a.remaining_quantity, bs);
    const bRem = minor(b.remaining_quantity, bs);
    if (minor(b.filled_quantity, bs) > 0n && OPEN.has(a.status) && aRem > 0n) {
      this.fail('priority', `B (order ${idB}, second at ${fmt(P)}) has filled ${b.filled_quantity} while A (order ${idA}, first) ` +
        `still has ${a.remaining_quantity} of ${a.quantity} open`);
      this.prioResult = 'FAILED';
      return;
    }
    if (!OPEN.has(a.status) || !OPEN.has(b.status) || minor(a.filled_quantity, bs) > 0n || minor(b.filled_quantity, bs) > 0n) {
      this.prioResult = `skipped (A ${a.status} filled ${a.filled_quantity}, B ${b.status} filled ${b.filled_quantity})`;
      return;
    }
    const book = await get200(this.srv, `/api/v1/markets/${m}/book?depth=20`);
    const best = book.bids.length ? minor(book.bids[0][0]) : null;
    if (best !== null && best > P) { this.prioResult = `skipped (best bid ${book.bids[0][0]} above ${fmt(P)} after restart)`; return; }
    const lvl = book.bids.find((l) => l[0] === fmt(P));
    if (!lvl || minor(lvl[1], bs) < aRem + bRem) {
      this.fail('priority', `A and B rest ${fmt(aRem + bRem, bs)} at ${fmt(P)} but the book's bids are ${JSON.stringify(book.bids.slice(0, 3))}`);
      this.prioResult = 'FAILED';
      return;
    }
    const s = await call(this.srv, 'POST', '/api/v1/orders', {
      token: this.user(C).token,
      payload: JSON.stringify({ market: m, side: 'sell', type: 'limit', time_in_force: 'ioc', quantity: fmt(aRem, bs), price: fmt(P) }),
    });
    if (s.status !== 201 || s.body.filled_quantity !== fmt(aRem, bs)) {
      this.fail('priority', `sell of ${fmt(aRem, bs)} at ${fmt(P)} (A's remaining) -> ${s.status} ${s.text}`);
      this.prioResult = 'FAILED';
      return;
    }
    const a2 = await get200(this.srv, `/api/v1/orders/${idA}`, this.user(A).token);
    const b2 = await get200(this.srv, `/api/v1/orders/${idB}`, this.user(B).token);
    if (a2.status !== 'filled' || b2.status !== 'new' || b2.filled_quantity !== b.filled_quantity) {
      this.fail('priority', `after a sell of A's remaining ${fmt(aRem, bs)} at ${fmt(P)}${this.prio.amended ? ' (A was amended down before the kill)' : ''}: ` +
        `A (first, order ${idA}) is ${a2.status} filled ${a2.filled_quantity}/${a2.quantity}, B (second, order ${idB}) is ${b2.status} ` +
        `filled ${b2.filled_quantity}/${b2.quantity}; the sell's fills: ${JSON.stringify(s.body.fills)}`);
      this.prioResult = 'FAILED';
      return;
    }
    this.prioResult = `ok${this.prio.amended ? ' (A amended down)' : ''}`;
  }

  summary() {
    const sent = this.reqs.length;
    const acked = this.reqs.filter((r) => r.acked).length;
    const unacked = sent - acked;
    const applied = this.reqs.filter((r) => !r.acked && r.outcome === 'applied').length;
    const status = this.failures.length ? 'FAIL' : 'PASS';
    const kills = (this.kills || []).map((k) => `${(k.ms / 1000).toFixed(2)}s(${k.mode}, ${k.inflight} in flight)`).join(',');
    return `seed=${this.seed} ${status} sent=${sent} acked=${acked} unacked=${unacked} (applied ${applied}) kill=${kills || 'none'} ` +
      `priority=${this.prioResult ?? 'n/a'} time=${((this.elapsedMs ?? 0) / 1000).toFixed(1)}s`;
  }

  // what the workload did: per op, outcome counts (order status or error code)
  stats() {
    const c = {};
    for (const r of this.reqs) {
      let k;
      if (!r.acked) k = 'unacked';
      else if (r.status >= 400) k = r.res?.error?.code || String(r.status);
      else if (r.op === 'cancelAll') k = `ok(${(r.res?.canceled || []).length})`;
      else if (r.res?.status) k = r.res.status;
      else k = String(r.status);
      const op = r.op === 'order' ? `order:${JSON.parse(r.payload).type}` : r.op;
      c[op] = c[op] || {};
      c[op][k] = (c[op][k] || 0) + 1;
    }
    const fills = this.reqs.reduce((n, r) => n + (r.res?.fills?.length || 0), 0);
    return `${Object.entries(c).map(([op, o]) => `${op} {${Object.entries(o).map(([k, v]) => `${k}:${v}`).join(' ')}}`).join('; ')}; fills in acks: ${fills}`;
  }

  report(maxPerCat = 3) {
    const byCat = new Map();
    for (const f of this.failures) {
      if (!byCat.has(f.cat)) byCat.set(f.cat, []);
      byCat.get(f.cat).push(f.msg);
    }
    const lines = [];
    for (const [cat, msgs] of byCat) {
      lines.push(`  [${cat}] ${msgs.length} failure(s)`);
      for (const msg of msgs.slice(0, maxPerCat)) lines.push(`    - ${msg.length > 2000 ? `${msg.slice(0, 2000)}...` : msg}`);
    }
    for (const n of this.notes) lines.push(`  note: ${n}`);
    return lines.join('\n');
  }
}

// ---------- public entry point ----------

export async function runTrials(options = {}) {
  const opts = {
    trials: 1, seed: undefined, loops: 16, users: 8, cycles: 1, killMinMs: 500, killMaxMs: 4000, keep: false,
    verbose: false, log: (s) => console.log(s), ...options,
  };
  const results = [];
  let passed = 0;
  let failed = 0;
  for (let i = 0; i < opts.trials; i++) {
    const seed = opts.seed !== undefined ? (Number(opts.seed) + i) >>> 0 : crypto.randomInt(2 ** 32 - 1) >>> 0;
    opts.log(`trial ${i + 1}/${opts.trials} seed=${seed} (replay: node ../crash/crash.mjs --seed ${seed})`);
    const t = await new Trial(seed, opts).run();
    const ok = t.failures.length === 0;
    if (ok) passed++; else failed++;
    opts.log(`trial ${i + 1}/${opts.trials} ${t.summary()}`);
    if (opts.verbose) opts.log(`  phases: ${t.phases.join(', ')}\n  ops: ${t.stats()}`);
    if (!ok || opts.verbose) opts.log(t.report(opts.verbose ? 20 : 3));
    results.push({
      seed, ok, summary: t.summary(), report: t.report(), failures: t.failures,
      sent: t.reqs.length, acked: t.reqs.filter((r) => r.acked).length, kills: t.kills,
    });
  }
  opts.log(`${passed} passed, ${failed} failed`);
  return { passed, failed, results };
}

function parseArgs(argv) {
  const o = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => argv[++i];
    if (a === '--trials') o.trials = Number(val());
    else if (a === '--seed') o.seed = Number(val());
    else if (a === '--loops') o.loops = Number(val());
    else if (a === '--users') o.users = Number(val());
    else if (a === '--cycles') o.cycles = Number(val());
    else if (a === '--kill-min') o.killMinMs = Number(val());
    else if (a === '--kill-max') o.killMaxMs = Number(val());
    else if (a === '--keep') o.keep = true;
    else if (a === '--verbose') o.verbose = true;
    else if (a === '--help' || a === '-h') {
      console.log('usage: node crash.mjs [--trials N] [--seed S] [--loops N] [--users N] [--cycles N] [--kill-min MS] [--kill-max MS] [--keep] [--verbose]');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const o = parseArgs(process.argv.slice(2));
  const r = await runTrials(o);
  process.exit(r.failed ? 1 : 0);
}
