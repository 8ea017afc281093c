// Markets say what they replay: kind, source and the original time range of the real data.
// The feed thread parses the replay data after the server starts answering, so the range
// appears once a market's data is loaded (and never an invented one before).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, api, waitFor } from './helpers.mjs';

let srv;
before(async () => { srv = await startServer(); });
after(async () => { await srv.stop(); });

test('every market reports its replay source and original time range', async () => {
  const markets = await waitFor(async () => {
    const r = await api(srv, 'GET', '/api/v1/markets');
    assert.equal(r.status, 200);
    const list = r.body.data;
    return list.every((m) => m.market_data.original_start) ? list : null;
  }, 60000, 'every market to load its replay data');
  assert.equal(markets.length, 8);
  for (const m of markets) {
    const d = m.market_data;
    assert.equal(d.replay, true, m.name);
    assert.ok(d.source.length > 10, `${m.name} source`);
    assert.ok(Date.parse(d.original_start) < Date.parse(d.original_end), `${m.name} range`);
    assert.ok(d.events > 1000, `${m.name} events ${d.events}`);
  }
  const btc = markets.find((m) => m.name === 'BTC-USDT').market_data;
  assert.equal(btc.kind, 'l2_depth_and_trades');
  assert.match(btc.original_start, /^2024-08-08T23:5/);
  assert.equal(markets.find((m) => m.name === 'BNB-USDT').market_data.kind, 'klines_1h');
});
