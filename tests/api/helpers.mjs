// Test harness: start a real coinage server on loopback with its own data directory (a copy of
// a template store that already holds the imported history), and talk to it over real HTTP and
// WebSocket.
import { spawn, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import WebSocket from 'ws';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
export const BIN = process.env.COINAGE_BIN || path.join(ROOT, 'build', 'coinage');
const TEMPLATE = path.join(ROOT, 'build', 'test-template');

export const ADMIN_EMAIL = 'admin@coinage.test';
export const ADMIN_PASSWORD = 'sup3r-secret-pass';

// PostgreSQL mode: COINAGE_TEST_PG is a libpq URI of a maintenance database on a throw-away
// server (scripts/pg-test-server.sh run sets it). Every data directory then gets its own fresh
// database, created from a template database that already holds the imported history and the
// admin (CREATE DATABASE ... TEMPLATE copies files, no re-import); the data directory's `db-url`
// file names it and every server or CLI started on that directory gets `--db` (dbArgs).
export const PG = process.env.COINAGE_TEST_PG || '';
const PG_TEMPLATE = PG ? `cg_tpl_${crypto.createHash('sha256').update(fs.readFileSync(BIN)).digest('hex').slice(0, 12)}` : '';

export function pgUrl(db) {
  return PG.replace(/^(postgres(?:ql)?:\/\/[^/?]*\/)[^?]*/, `$1${db}`);
}

function psql(sql) {
  return execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-At', '-d', PG, '-c', sql],
    { stdio: 'pipe' }).toString().trim();
}

function ensurePgTemplate() {
  if (psql(`SELECT count(*) FROM pg_database WHERE datname = '${PG_TEMPLATE}'`) === '1') return;
  // build under a private name, then rename: parallel test files race for the same template
  const tmp = `${PG_TEMPLATE}_${process.pid}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cg-pgtpl-'));
  psql(`CREATE DATABASE ${tmp}`);
  execFileSync(BIN, ['import', '--data-dir', dir, '--db', pgUrl(tmp)], { cwd: ROOT, stdio: 'pipe' });
  execFileSync(BIN, ['user', 'add', '--admin', '--email', ADMIN_EMAIL, '--password', ADMIN_PASSWORD,
    '--data-dir', dir, '--db', pgUrl(tmp)], { cwd: ROOT, stdio: 'pipe' });
  fs.rmSync(dir, { recursive: true, force: true });
  try {
    psql(`ALTER DATABASE ${tmp} RENAME TO ${PG_TEMPLATE}`);
  } catch (e) {
    psql(`DROP DATABASE ${tmp}`);
    if (psql(`SELECT count(*) FROM pg_database WHERE datname = '${PG_TEMPLATE}'`) !== '1') throw e;
  }
}

let pgSeq = 0;
function newPgDatabase(dir) {
  ensurePgTemplate();
  const name = `cg_${process.pid}_${++pgSeq}_${crypto.randomBytes(4).toString('hex')}`;
  for (let i = 0; ; i++) {
    try {
      psql(`CREATE DATABASE ${name} TEMPLATE ${PG_TEMPLATE}`);
      break;
    } catch (e) {
      // "source database is being accessed by other users": another file is copying it
      if (i >= 50 || !/being accessed/.test(String(e.stderr))) throw e;
      execFileSync('sleep', ['0.2']);
    }
  }
  fs.writeFileSync(path.join(dir, 'db-url'), pgUrl(name));
}

// Run SQL (portable: see src/store/db.h) directly on the data directory's store, with the server
// stopped: psql on PostgreSQL, the sqlite3 CLI on SQLite.
export function storeSql(dataDir, sql) {
  const f = path.join(dataDir, 'db-url');
  if (fs.existsSync(f)) {
    execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', fs.readFileSync(f, 'utf8').trim(),
      '-c', sql], { stdio: 'pipe' });
  } else {
    execFileSync('sqlite3', [path.join(dataDir, 'coinage.db'), sql], { stdio: 'pipe' });
  }
}

// CLI arguments that point a coinage command at the data directory's store.
export function dbArgs(dataDir) {
  const f = path.join(dataDir, 'db-url');
  return fs.existsSync(f) ? ['--db', fs.readFileSync(f, 'utf8').trim()] : [];
}

function ensureTemplate() {
  if (fs.existsSync(path.join(TEMPLATE, 'coinage.db'))) return;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cg-template-'));
  execFileSync(BIN, ['import', '--data-dir', tmp], { cwd: ROOT, stdio: 'pipe' });
  execFileSync(BIN, ['user', 'add', '--admin', '--email', ADMIN_EMAIL, '--password', ADMIN_PASSWORD,
    '--data-dir', tmp], { cwd: ROOT, stdio: 'pipe' });
  fs.mkdirSync(path.dirname(TEMPLATE), { recursive: true });
  try {
    fs.renameSync(tmp, TEMPLATE);
  } catch (e) {
    if (!fs.existsSync(path.join(TEMPLATE, 'coinage.db'))) throw e;
  }
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export function newDataDir() {
  if (PG) {
    const pgdir = fs.mkdtempSync(path.join(os.tmpdir(), 'cg-data-'));
    newPgDatabase(pgdir);
    return pgdir;
  }
  ensureTemplate();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cg-data-'));
  fs.copyFileSync(path.join(TEMPLATE, 'coinage.db'), path.join(dir, 'coinage.db'));
  return dir;
}

// Start a server. opts: { speed, dataDir, env }. Returns a handle with base URLs and stop/kill.
// The port is found free and then released for the server to bind, so another process on a busy
// machine (other test runs) can take it in between: the server then cannot listen, and we try
// again on another port.
export async function startServer(opts = {}) {
  const dataDir = opts.dataDir || newDataDir();
  for (let attempt = 1; ; attempt++) {
    try {
      return await startServerOn(await freePort(), { ...opts, dataDir });
    } catch (e) {
      if (!e.portTaken || attempt >= 5) throw e;
    }
  }
}

async function startServerOn(port, opts) {
  const dataDir = opts.dataDir;
  const args = ['serve', '--port', String(port), '--data-dir', dataDir,
    '--replay-speed', String(opts.speed ?? 1), ...dbArgs(dataDir)];
  const proc = spawn(BIN, args, {
    cwd: ROOT,
    env: { ...process.env, COINAGE_AUTH_RATE: '100000', ...(opts.env || {}) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  proc.stderr.on('data', (d) => { log += d.toString(); });
  let stopping = false;
  const exited = new Promise((resolve) => proc.on('exit', (code, sig) => {
    // a server that dies on its own (a crash, a sanitizer report) says why, whatever the test prints
    if (!stopping) process.stderr.write(`coinage on port ${port} exited (code ${code}, signal ${sig}); its log:\n${log}\n`);
    resolve({ code, sig });
  }));
  const srv = {
    port, dataDir, proc, exited,
    base: `http://127.0.0.1:${port}`,
    ws: `ws://127.0.0.1:${port}/ws`,
    log: () => log,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        if (stopping) return exited; // killed by the test itself
        // it died before the test asked it to stop: that is a failure, whatever the test saw
        const r = await exited;
        assert.fail(`coinage exited on its own (code ${r.code}, signal ${r.sig}); its log:\n${log}`);
      }
      stopping = true;
      proc.kill('SIGTERM');
      const r = await exited;
      assert.ok(!/ERROR: AddressSanitizer|runtime error:/.test(log), `sanitizer report:\n${log}`);
      return r;
    },
    async kill() {
      stopping = true;
      proc.kill('SIGKILL');
      return exited;
    },
  };
  // A sanitizer build on a busy 2-core CI machine takes from 5 s to over a minute to load the
  // replay before it quotes a book (seen: 63 s for ETH-USDT alone at load average 15), so the
  // deadline is generous; COINAGE_TEST_START_MS overrides it.
  const deadline = Date.now() + Number(process.env.COINAGE_TEST_START_MS || 300000);
  for (;;) {
    if (proc.exitCode !== null) {
      const e = new Error(`coinage exited early:\n${log}`);
      e.portTaken = /server: cannot listen on/.test(log);
      throw e;
    }
    try {
      const r = await fetch(`${srv.base}/health`);
      if (r.status === 200) {
        // wait until the replay has quoted the BTC book
        const b = await (await fetch(`${srv.base}/api/v1/markets/BTC-USDT/book?depth=1`)).json();
        if (b.bids.length && b.asks.length) break;
      }
    } catch (e) { /* not up yet */ }
    if (Date.now() > deadline) throw new Error(`coinage did not start:\n${log}`);
    await sleep(100);
  }
  return srv;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function api(srv, method, p, { token, body, headers, raw } = {}) {
  const h = { ...(headers || {}) };
  if (token) h.authorization = `Bearer ${token}`;
  let payload;
  if (raw !== undefined) payload = raw;
  else if (body !== undefined) { payload = JSON.stringify(body); h['content-type'] = 'application/json'; }
  const r = await fetch(srv.base + p, { method, headers: h, body: payload });
  const text = await r.text();
  let json;
  try { json = text ? JSON.parse(text) : null; } catch { json = { unparsed: text }; }
  return { status: r.status, body: json, headers: r.headers };
}

let userSeq = 0;
export async function newUser(srv, label = 'u') {
  const email = `${label}${process.pid}x${++userSeq}x${Date.now()}@example.com`;
  const password = 'long-enough-pass-9';
  const reg = await api(srv, 'POST', '/api/v1/auth/register', { body: { email, password } });
  assert.equal(reg.status, 201, JSON.stringify(reg.body));
  return login(srv, email, password);
}

export async function login(srv, email, password) {
  const r = await api(srv, 'POST', '/api/v1/auth/login', { body: { email, password } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return { email, password, token: r.body.access_token, refresh: r.body.refresh_token, id: r.body.user_id };
}

export async function adminToken(srv) {
  return (await login(srv, ADMIN_EMAIL, ADMIN_PASSWORD)).token;
}

let keySeq = 0;
export async function deposit(srv, user, asset, amount) {
  const r = await api(srv, 'POST', '/api/v1/deposits', {
    token: user.token, body: { asset, amount },
    headers: { 'idempotency-key': `dep-${process.pid}-${++keySeq}-${Date.now()}` },
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

// Exact decimal strings <-> BigInt minor units.
export function minor(s, scale = 8) {
  assert.equal(typeof s, 'string', `expected a decimal string, got ${s}`);
  const neg = s.startsWith('-');
  const [i, f = ''] = (neg ? s.slice(1) : s).split('.');
  assert.ok(f.length <= scale, `${s} has more than ${scale} decimals`);
  const v = BigInt(i + f.padEnd(scale, '0'));
  return neg ? -v : v;
}

export async function balances(srv, user) {
  const r = await api(srv, 'GET', '/api/v1/balances', { token: user.token });
  assert.equal(r.status, 200);
  const out = {};
  for (const b of r.body.data) out[b.asset] = b;
  return out;
}

export async function openOrders(srv, user) {
  const r = await api(srv, 'GET', '/api/v1/orders?status=open&limit=500', { token: user.token });
  assert.equal(r.status, 200);
  return r.body.data;
}

export async function waitFor(fn, timeoutMs = 30000, what = 'condition') {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

// The house rules, checked through the API: the store's ledger sums to zero per asset and every
// user's held equals what open orders reserve (admin endpoint), and for the given users: no
// negative balance, held == sum of open orders' held, available + held == total.
export async function assertInvariants(srv, users = []) {
  const admin = await adminToken(srv);
  const inv = await api(srv, 'GET', '/api/v1/admin/invariants', { token: admin });
  assert.equal(inv.status, 200);
  assert.equal(inv.body.ok, true, inv.body.detail);
  for (const u of users) {
    const bal = await balances(srv, u);
    const orders = await openOrders(srv, u);
    const reserved = {};
    for (const o of orders) {
      const [base, quote] = o.market.split('-');
      const asset = o.side === 'buy' ? quote : base;
      reserved[asset] = (reserved[asset] || 0n) + minor(o.held, asset === 'DOGE' ? 6 : 8);
    }
    for (const [asset, b] of Object.entries(bal)) {
      const sc = asset === 'DOGE' ? 6 : 8;
      assert.ok(minor(b.total, sc) >= 0n, `${asset} total negative`);
      assert.ok(minor(b.available, sc) >= 0n, `${asset} available negative`);
      assert.equal(minor(b.available, sc) + minor(b.held, sc), minor(b.total, sc));
      assert.equal(minor(b.held, sc), reserved[asset] || 0n, `${asset} held vs open orders`);
    }
  }
}

// A WebSocket client that collects every message.
export async function wsConnect(srv) {
  const ws = new WebSocket(srv.ws);
  const msgs = [];
  const waiters = [];
  ws.on('message', (d) => {
    const m = JSON.parse(d.toString());
    msgs.push(m);
    for (const w of [...waiters]) {
      if (w.pred(m)) { waiters.splice(waiters.indexOf(w), 1); clearTimeout(w.timer); w.resolve(m); }
    }
  });
  await new Promise((resolve, reject) => { ws.on('open', resolve); ws.on('error', reject); });
  return {
    ws, msgs,
    send: (o) => ws.send(JSON.stringify(o)),
    next(pred, timeoutMs = 15000) {
      const found = msgs.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const w = { pred, resolve };
        waiters.push(w);
        w.timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error('ws: timed out waiting for a message'));
        }, timeoutMs);
      });
    },
    close: () => ws.close(),
  };
}
