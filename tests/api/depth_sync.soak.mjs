// Repro harness for the ccxt.pro watchOrderBook mismatch: Binance's "manage a local order book"
// procedure exactly as ccxt runs it (SUBSCRIBE on /ws, REST /api/v3/depth after the ack, cached
// diffs applied), many times over, each checked against the native book at every u.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startServer, wsConnect, sleep } from './helpers.mjs';

const ROUNDS = Number(process.env.ROUNDS || 15);

async function nativeHist(srv) {
  const c = await wsConnect(srv);
  const st = { seq: 0, bids: new Map(), asks: new Map(), hist: new Map(), c };
  const lv = (m, desc) => [...m.entries()].map(([p, q]) => [Number(p), Number(q)]).sort((a, b) => (desc ? b[0] - a[0] : a[0] - b[0]));
  c.ws.on('message', (d) => {
    const m = JSON.parse(d.toString());
    if (m.op || m.channel !== 'book' || m.market !== 'BTC-USDT') return;
    if (m.type === 'snapshot') { st.bids = new Map(m.bids); st.asks = new Map(m.asks); } else {
      if (m.seq !== st.seq + 1) st.gap = `native gap ${st.seq} -> ${m.seq}`;
      for (const [side, arr] of [['bids', m.bids], ['asks', m.asks]]) for (const [p, q] of arr) { if (Number(q) === 0) st[side].delete(p); else st[side].set(p, q); }
    }
    st.seq = m.seq;
    st.hist.set(m.seq, JSON.stringify([lv(st.bids, true), lv(st.asks, false)]));
  });
  c.send({ op: 'subscribe', channel: 'book', market: 'BTC-USDT' });
  await c.next((m) => m.channel === 'book' && m.type === 'snapshot');
  return st;
}

test('depth sync like ccxt, many rounds', { timeout: 1800000 }, async () => {
  const srv = await startServer({ speed: 5 });
  const nat = await nativeHist(srv);
  const bad = [];
  for (let r = 0; r < ROUNDS; r++) {
    const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/ws/${r}`);
    await new Promise((res, rej) => { ws.on('open', res); ws.on('error', rej); });
    const msgs = [];
    let acked = false;
    let ackResolve;
    const ack = new Promise((res) => { ackResolve = res; });
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString());
      if (m.id === 1) { acked = true; ackResolve(); return; }
      if (m.e === 'depthUpdate') msgs.push({ ...m, afterAck: acked, at: Date.now() });
    });
    ws.send(JSON.stringify({ method: 'SUBSCRIBE', params: ['btcusdt@depth@100ms'], id: 1 }));
    await ack;
    const snap = await (await fetch(`${srv.base}/api/v3/depth?symbol=BTCUSDT&limit=1000`)).json();
    const book = { bids: new Map(snap.bids.map(([p, q]) => [Number(p), Number(q)])), asks: new Map(snap.asks.map(([p, q]) => [Number(p), Number(q)])) };
    let nonce = snap.lastUpdateId;
    const t0 = Date.now();
    let i = 0;
    let started = false;
    const log = [`snapshot ${snap.lastUpdateId}`];
    let failed = null;
    while (Date.now() - t0 < 3000 && !failed) {
      if (i >= msgs.length) { await sleep(10); continue; }
      const m = msgs[i++];
      log.push(`U=${m.U} u=${m.u} afterAck=${m.afterAck} nb=${m.b.length} na=${m.a.length}`);
      if (m.u <= nonce) continue;
      if (!started) { if (!(m.U - 1 <= nonce && m.u - 1 >= nonce)) { failed = `first event ${m.U}..${m.u} vs ${nonce}`; break; } started = true; } else if (m.U - 1 !== nonce) { failed = `gap ${nonce} -> ${m.U}`; break; }
      for (const [side, arr] of [['bids', m.b], ['asks', m.a]]) for (const [p, q] of arr) { if (Number(q) === 0) book[side].delete(Number(p)); else book[side].set(Number(p), Number(q)); }
      nonce = m.u;
      const dl = Date.now() + 10000;
      while (!nat.hist.has(nonce) && Date.now() < dl) await sleep(10);
      const mine = JSON.stringify([[...book.bids.entries()].sort((a, b) => b[0] - a[0]), [...book.asks.entries()].sort((a, b) => a[0] - b[0])]);
      if (mine !== nat.hist.get(nonce)) failed = `mismatch at ${nonce}\n mine   ${mine}\n native ${nat.hist.get(nonce)}`;
    }
    ws.close();
    if (failed) { bad.push(`round ${r}: ${failed}\n${log.join('\n')}`); console.log(bad[bad.length - 1]); }
  }
  nat.c.close();
  await srv.stop();
  assert.equal(bad.length, 0, bad.join('\n\n'));
});
