// ccxt.pro (the npm `ccxt` package, unmodified, configured only by URLs and options) against a real
// coinage on loopback: watchTicker, watchTrades, watchOHLCV and watchOrderBook receive live replayed
// data, and the order book ccxt maintains from /api/v3/depth + btcusdt@depth@100ms stays equal to
// Coinage's native book (rebuilt from the native /ws book channel) at every update id for 60 s.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import ccxt from 'ccxt';
import { startServer, api, newUser, deposit, wsConnect, sleep } from '../api/helpers.mjs';

const BOOK_RUN_MS = 60000;

function exchange(srv) {
  return new ccxt.pro.binance({
    urls: {
      api: {
        public: `${srv.base}/api/v3`,
        private: `${srv.base}/api/v3`,
        ws: { spot: `ws://127.0.0.1:${srv.port}/ws` },
      },
    },
    options: { fetchMarkets: { types: ['spot'] }, fetchCurrencies: false, fetchMargins: false },
    // ccxt in Node opens plain ws:// (not wss://) only through an explicit http.Agent
    httpAgent: new http.Agent(),
  });
}

// The native book at every seq, from the native /ws book channel (snapshot + contiguous deltas).
async function nativeBooks(srv, market) {
  const c = await wsConnect(srv);
  const state = { seq: 0, bids: new Map(), asks: new Map(), hist: new Map(), c };
  const levels = (m, desc) => [...m.entries()].map(([p, q]) => [Number(p), Number(q)])
    .sort((a, b) => (desc ? b[0] - a[0] : a[0] - b[0]));
  c.ws.on('message', (d) => {
    const m = JSON.parse(d.toString());
    if (m.op || m.channel !== 'book' || m.market !== market) return;
    if (m.type === 'snapshot') {
      state.bids = new Map(m.bids);
      state.asks = new Map(m.asks);
    } else {
      assert.equal(m.seq, state.seq + 1);
      for (const [side, arr] of [['bids', m.bids], ['asks', m.asks]]) {
        for (const [p, q] of arr) {
          if (Number(q) === 0) state[side].delete(p);
          else state[side].set(p, q);
        }
      }
    }
    state.seq = m.seq;
    state.hist.set(m.seq, { bids: levels(state.bids, true), asks: levels(state.asks, false) });
  });
  c.send({ op: 'subscribe', channel: 'book', market });
  await c.next((m) => m.channel === 'book' && m.type === 'snapshot');
  return state;
}

async function marketBuy(srv, user, quantity) {
  const r = await api(srv, 'POST', '/api/v1/orders', {
    token: user.token, body: { market: 'BTC-USDT', side: 'buy', type: 'market', quantity },
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

describe('ccxt.pro binance against coinage', () => {
  let srv;
  let ex;
  let user;
  before(async () => {
    srv = await startServer({ speed: 5 });
    ex = exchange(srv);
    await ex.loadMarkets();
    user = await newUser(srv, 'ccxtpro');
    await deposit(srv, user, 'USDT', '200000');
  });
  after(async () => {
    await ex.close();
    await srv.stop();
  });

  // bounded: a stream that never delivers fails the test instead of hanging `make test`
  it('watchTrades receives the fills of a live order; watchTicker and watchOHLCV follow them', { timeout: 180000 }, async () => {
    const tradesP = ex.watchTrades('BTC/USDT');
    // the kline stream carries only the current candle (as Binance's): subscribe before the fill, or
    // a minute that ends before the subscription is never seen (the test hung ~1 run in 20)
    const ohlcvP = ex.watchOHLCV('BTC/USDT', '1m');
    await sleep(500); // subscribed
    const order = await marketBuy(srv, user, '0.3');
    const ids = new Set(order.fills.map((f) => String(f.id)));
    const seen = [];
    const deadline = Date.now() + 20000;
    let batch = await tradesP;
    for (;;) {
      for (const t of batch) if (ids.has(t.id)) seen.push(t);
      if (ids.size <= new Set(seen.map((t) => t.id)).size || Date.now() > deadline) break;
      batch = await ex.watchTrades('BTC/USDT');
    }
    const got = new Map(seen.map((t) => [t.id, t]));
    for (const f of order.fills) {
      const t = got.get(String(f.id));
      assert.ok(t, `ccxt received trade ${f.id}`);
      assert.equal(t.symbol, 'BTC/USDT');
      assert.equal(t.price, Number(f.price));
      assert.equal(t.amount, Number(f.quantity));
      assert.equal(t.timestamp, f.ts);
      assert.equal(t.side, 'buy');
    }

    const native = (await api(srv, 'GET', '/api/v1/markets/BTC-USDT/ticker')).body;
    // ccxt 4.5's watchTicker subscribes <s>@miniTicker by default; {name:'ticker'} selects <s>@ticker
    for (const params of [{}, { name: 'ticker' }]) {
      let tk = await ex.watchTicker('BTC/USDT', params);
      while (tk.last !== Number(native.last)) tk = await ex.watchTicker('BTC/USDT', params);
      assert.equal(tk.info.e, params.name ? '24hrTicker' : '24hrMiniTicker');
      assert.equal(tk.symbol, 'BTC/USDT');
      assert.equal(tk.open, Number(native.open_24h));
      assert.equal(tk.high, Number(native.high_24h));
      assert.equal(tk.low, Number(native.low_24h));
      assert.equal(tk.baseVolume, Number(native.volume_24h));
      assert.equal(tk.quoteVolume, Number(native.quote_volume_24h));
      if (params.name) {
        assert.ok(tk.bid > 0 && tk.bid < tk.ask, `live bid below ask: ${JSON.stringify(tk.info)}`);
        assert.equal(tk.change, Number(native.change_24h));
      }
    }

    let ohlcv = await ohlcvP;
    const last = order.fills[order.fills.length - 1];
    const minute = last.ts - (last.ts % 60000);
    while (!ohlcv.some((c) => c[0] === minute)) ohlcv = await ex.watchOHLCV('BTC/USDT', '1m');
    const bar = ohlcv.find((c) => c[0] === minute);
    const nat = (await api(srv, 'GET', `/api/v1/markets/BTC-USDT/candles?interval=1m&start=${minute}&end=${minute}`)).body.data[0];
    assert.deepEqual(bar, [minute, Number(nat.open), Number(nat.high), Number(nat.low), Number(nat.close), Number(nat.volume)]);
  });

  it('watchOrderBook stays equal to the native book at every update id for 60 s', { timeout: BOOK_RUN_MS + 240000 }, async () => {
    const native = await nativeBooks(srv, 'BTC-USDT');
    // what ccxt did, for the failure message: snapshots taken, diffs seen and applied
    const trace = [];
    const origSnap = ex.fetchRestOrderBookSafe.bind(ex);
    ex.fetchRestOrderBookSafe = async (...a) => {
      trace.push(`rest snapshot requested at native seq ${native.seq}`);
      const ob = await origSnap(...a);
      trace.push(`rest snapshot lastUpdateId ${ob.nonce} (native seq now ${native.seq})`);
      return ob;
    };
    const origHandle = ex.handleOrderBook.bind(ex);
    ex.handleOrderBook = (client, message) => {
      trace.push(`diff U=${message.U} u=${message.u} b=${message.b.length} a=${message.a.length}`);
      return origHandle(client, message);
    };
    const origApply = ex.handleOrderBookMessage.bind(ex);
    ex.handleOrderBookMessage = (client, message, ob) => {
      trace.push(`  applied U=${message.U} u=${message.u} on nonce ${ob.nonce}`);
      return origApply(client, message, ob);
    };
    const origSubs = ex.handleOrderBookSubscription.bind(ex);
    ex.handleOrderBookSubscription = (...a) => { trace.push('subscription acknowledged'); return origSubs(...a); };
    const t0 = Date.now();
    let updates = 0;
    let lastNonce = 0;
    let trades = 0;
    while (Date.now() - t0 < BOOK_RUN_MS) {
      const ob = await ex.watchOrderBook('BTC/USDT');
      // ccxt returns its live order book object and keeps applying diffs to it: take the update
      // id together with the levels, before any await (re-reading ob.nonce after waiting for the
      // native side compared the levels of one update id with the native book at a later one)
      const nonce = ob.nonce;
      const bids = Array.from(ob.bids, ([p, q]) => [p, q]);
      const asks = Array.from(ob.asks, ([p, q]) => [p, q]);
      assert.ok(nonce > lastNonce, 'nonce grows');
      lastNonce = nonce;
      if (bids.length && asks.length) assert.ok(bids[0][0] < asks[0][0], `not crossed at ${nonce}`);
      const deadline = Date.now() + 10000;
      while (!native.hist.has(nonce)) {
        if (Date.now() > deadline) assert.fail(`native book never reached ${nonce}`);
        await sleep(10);
      }
      const n = native.hist.get(nonce);
      const why = () => `\nccxt trace (last 40):\n${trace.slice(-40).join('\n')}`;
      assert.deepEqual(bids, n.bids, `bids at ${nonce}${why()}`);
      assert.deepEqual(asks, n.asks, `asks at ${nonce}${why()}`);
      updates++;
      // keep the book moving with our own trades too
      if (Date.now() - t0 > (trades + 1) * 15000) {
        trades++;
        await marketBuy(srv, user, '0.05');
      }
    }
    assert.ok(updates >= 100, `ccxt order book updates in 60 s: ${updates}`);
    native.c.close();
  });
});
