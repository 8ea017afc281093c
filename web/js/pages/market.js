// Market view: header with live ticker and the replay label; candle chart (interval switch,
// overlays, volume, live); live order book with spread; recent trades; order entry (limit,
// market, stop) with client-side rule checks; the user's open orders (cancel, amend), order
// history and fills.

import { api, currentSession, newIdempotencyKey } from '../api.js';
import { CandleChart, INTERVALS, OVERLAYS, fetchIndicator } from '../chart.js';
import { loadMarket, loadMarkets, replayText } from '../data.js';
import { cmp, div, fmt, isZero, mul, stepDecimals, sub, trim, truncate } from '../decimal.js';
import { ORDER_TYPES, needsPrice, needsStop, validateOrder } from '../orderrules.js';
import { live } from '../ws.js';
import { emptyRow, errorText, field, fmtClock, fmtDate, fmtTime, h, messageLine, put, select, signClass } from '../ui.js';
import { displayPrice } from './markets.js';

const BOOK_LEVELS = 10;
const CANDLES = 1000;

// Prices from the API have the quote asset's fixed number of decimals, so two of them compare
// exactly as (integer-part length, then text).
function cmpFixed(a, b) {
  const ia = a.indexOf('.');
  const ib = b.indexOf('.');
  const la = ia < 0 ? a.length : ia;
  const lb = ib < 0 ? b.length : ib;
  if (la !== lb) return la - lb;
  return a < b ? -1 : a > b ? 1 : 0;
}

export function marketPage(main, name) {
  const cleanups = [];
  const state = { market: null, interval: localStorage.getItem('coinage.interval') || '1h', overlays: new Set(JSON.parse(localStorage.getItem('coinage.overlays') || '[]')), bids: new Map(), asks: new Map(), ticker: null, balances: new Map() };
  window.__coinage = window.__coinage || {};
  const metrics = window.__coinage;
  // prices with the tick's decimals and quantities with the lot's: exact, since every price is a
  // multiple of the tick (fmt only trims zeros; a longer value keeps all its digits)
  const px = (v) => fmt(v, state.market ? stepDecimals(state.market.tick_size) : 2);
  const qx = (v) => fmt(v, state.market ? stepDecimals(state.market.lot_size) : 0);

  // ---- layout ----
  const title = h('h1', { id: 'market-title' }, name.replace('-', ' / '));
  const picker = h('select', { id: 'market-picker', 'aria-label': 'Switch market', onchange: (e) => { location.hash = '#/market/' + e.target.value; } });
  const stats = h('dl', { class: 'stats', id: 'market-stats' });
  const replay = h('p', { class: 'replay-label', id: 'replay-label', role: 'note' }, 'Market replay');
  const chartMsg = messageLine('chart-msg');
  const chartNote = h('p', { class: 'chart-note muted', id: 'chart-note' });
  const chartEl = h('div', { class: 'chart', id: 'chart', role: 'img', 'aria-label': `Candle chart of ${name}` });
  const ivGroup = h('div', { class: 'seg', role: 'radiogroup', 'aria-label': 'Candle interval' });
  const ovGroup = h('fieldset', { class: 'overlays' }, h('legend', { class: 'sr-only' }, 'Overlays'));
  const bookAsks = h('tbody', { id: 'book-asks' });
  const bookBids = h('tbody', { id: 'book-bids' });
  const spreadRow = h('div', { class: 'spread', id: 'spread', 'aria-live': 'off' }, '—');
  const tradesBody = h('tbody', { id: 'trades' });
  const orderBox = h('section', { class: 'card order-entry', 'aria-labelledby': 'order-title' });
  const tabsBox = h('section', { class: 'card orders-area', 'aria-label': 'Your orders and fills' });

  put(main, h('div', { class: 'market-page' },
    h('div', { class: 'market-head' }, title, picker, stats),
    replay,
    h('section', { class: 'card chart-card', 'aria-label': 'Chart' },
      h('div', { class: 'toolbar' }, ivGroup, ovGroup),
      chartEl, chartNote, chartMsg),
    h('section', { class: 'card book', 'aria-labelledby': 'book-title' },
      h('h2', { id: 'book-title' }, 'Order book'),
      h('table', { class: 'grid compact book-table' },
        h('caption', { class: 'sr-only' }, 'Asks, lowest last'),
        h('thead', {}, h('tr', {}, h('th', { scope: 'col', class: 'num' }, 'Price'), h('th', { scope: 'col', class: 'num' }, 'Amount'), h('th', { scope: 'col', class: 'num' }, 'Value'))),
        bookAsks),
      spreadRow,
      h('table', { class: 'grid compact book-table' }, h('caption', { class: 'sr-only' }, 'Bids, highest first'), bookBids)),
    h('section', { class: 'card trades', 'aria-labelledby': 'trades-title' },
      h('h2', { id: 'trades-title' }, 'Recent trades'),
      h('table', { class: 'grid compact' },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col', class: 'num' }, 'Price'), h('th', { scope: 'col', class: 'num' }, 'Amount'), h('th', { scope: 'col', class: 'num' }, 'Time (UTC)'))),
        tradesBody)),
    orderBox,
    tabsBox));

  let chart = null;
  let closed = false;
  cleanups.push(() => { closed = true; if (chart) chart.destroy(); });

  // ---- header ----
  function renderStats() {
    const t = state.ticker;
    const m = state.market;
    if (!t || !m) return;
    const ch = t.change_percent_24h;
    put(stats,
      h('div', {}, h('dt', {}, 'Last'), h('dd', { class: 'big', id: 'last-price' }, px(displayPrice(t)), ' ', h('small', { class: 'muted' }, m.quote), t.last == null ? h('small', { class: 'muted', title: 'No trade on Coinage yet: the replayed reference price' }, ' (ref)') : null)),
      h('div', {}, h('dt', {}, '24h change'), h('dd', { class: signClass(ch) }, ch == null ? '—' : (ch.startsWith('-') ? '' : '+') + fmt(ch, 2) + '%')),
      h('div', {}, h('dt', {}, '24h high'), h('dd', {}, px(t.high_24h))),
      h('div', {}, h('dt', {}, '24h low'), h('dd', {}, px(t.low_24h))),
      h('div', {}, h('dt', {}, `24h volume (${m.base})`), h('dd', {}, qx(t.volume_24h))),
      h('div', {}, h('dt', {}, 'Reference (replayed)'), h('dd', {}, px(t.reference_price))));
  }

  // ---- chart ----
  function renderToolbar() {
    put(ivGroup, INTERVALS.map((iv) => h('button', {
      type: 'button', role: 'radio', 'aria-checked': iv === state.interval ? 'true' : 'false', class: 'seg-btn', dataset: { interval: iv },
      onclick: () => { if (iv !== state.interval) { state.interval = iv; localStorage.setItem('coinage.interval', iv); renderToolbar(); loadChart(); } },
    }, iv)));
    put(ovGroup, h('legend', { class: 'sr-only' }, 'Overlays'), Object.entries(OVERLAYS).map(([key, spec]) => {
      const id = 'ov-' + key;
      return h('label', { for: id, class: 'check' },
        h('input', {
          type: 'checkbox', id, checked: state.overlays.has(key),
          onchange: (e) => {
            if (e.target.checked) state.overlays.add(key); else state.overlays.delete(key);
            localStorage.setItem('coinage.overlays', JSON.stringify([...state.overlays]));
            if (e.target.checked) loadOverlay(key); else if (chart) chart.clearOverlay(key);
          },
        }),
        h('span', { class: 'swatch', style: `background:${spec.colors[0]}` }), spec.label);
    }));
  }

  let candleUnsub = null;
  let chartGen = 0;
  async function loadChart() {
    const gen = ++chartGen;
    if (candleUnsub) candleUnsub();
    candleUnsub = null;
    chartMsg.show('Loading candles…');
    try {
      const r = await api('GET', `/markets/${name}/candles?interval=${state.interval}&limit=${CANDLES}`, { auth: false });
      if (closed || gen !== chartGen) return;
      if (!chart) chart = new CandleChart(chartEl, state.market);
      for (const k of Object.keys(OVERLAYS)) chart.clearOverlay(k);
      const ms = await chart.setCandles(r.data);
      metrics.chartRender = { candles: r.data.length, ms, interval: state.interval };
      chartEl.dataset.candles = String(r.data.length);
      chartMsg.show(r.data.length ? '' : `No ${state.interval} candles yet: they form from trades on Coinage. Try 1h or 1d for the imported history.`);
      const baseNote = candleSources(r.data);
      let liveNew = 0;
      put(chartNote, baseNote);
      for (const k of state.overlays) loadOverlay(k);
      candleUnsub = live.subscribe({ channel: 'candles', market: name, interval: state.interval }, (m) => {
        if (!chart || gen !== chartGen) return;
        const isNew = chart.update(m.data);
        chartEl.dataset.candles = String(chart.count);
        metrics.liveCandles = (metrics.liveCandles || 0) + 1;
        if (isNew) {
          liveNew++;
          put(chartNote, `${baseNote}${baseNote ? ' · ' : ''}${liveNew} new live candle${liveNew > 1 ? 's' : ''} from trades on Coinage`);
          for (const k of state.overlays) loadOverlay(k);
        }
      });
    } catch (e) {
      chartMsg.show(errorText(e), 'error');
    }
  }
  cleanups.push(() => candleUnsub && candleUnsub());

  async function loadOverlay(key) {
    const gen = chartGen;
    try {
      const r = await fetchIndicator(name, key, state.interval, CANDLES);
      if (closed || gen !== chartGen || !state.overlays.has(key)) return;
      chart.setOverlay(key, r);
      metrics.overlays = { ...(metrics.overlays || {}), [key]: { interval: state.interval, points: r.points.length, columns: r.columns } };
    } catch (e) {
      if (e.code === 'route_not_found') chartMsg.show('Overlays need the indicators API, which this server does not have yet.', 'error');
      else chartMsg.show(`${OVERLAYS[key].label}: ${errorText(e)}`, 'error');
    }
  }

  // ---- order book ----
  let bookPending = false;
  function scheduleBook() {
    if (bookPending) return;
    bookPending = true;
    requestAnimationFrame(() => { bookPending = false; renderBook(); });
  }

  function topLevels(map, best) {
    const keys = [...map.keys()];
    keys.sort((a, b) => (best === 'high' ? cmpFixed(b, a) : cmpFixed(a, b)));
    return keys.slice(0, BOOK_LEVELS).map((p) => [p, map.get(p)]);
  }

  function renderBook() {
    const m = state.market;
    if (!m) return;
    const asks = topLevels(state.asks, 'low');
    const bids = topLevels(state.bids, 'high');
    // depth bars: cumulative size relative to the larger side (display only)
    let cum = 0;
    const askCum = asks.map(([, q]) => (cum += Number(q)));
    const askMax = cum;
    cum = 0;
    const bidCum = bids.map(([, q]) => (cum += Number(q)));
    const max = Math.max(askMax, cum) || 1;
    const row = (side, p, q, c) => h('tr', { class: side, dataset: { price: p } },
      h('td', { class: 'num price' }, h('button', { type: 'button', class: 'link', title: 'Use this price', onclick: () => usePrice(p) }, px(p))),
      h('td', { class: 'num' }, qx(q)),
      h('td', { class: 'num depth', style: `--depth:${((c / max) * 100).toFixed(1)}%` }, fmt(sumStr(side, p), 2)));
    put(bookAsks, asks.length ? asks.map(([p, q], i) => row('ask', p, q, askCum[i])).reverse() : emptyRow(3, 'No asks'));
    put(bookBids, bids.length ? bids.map(([p, q], i) => row('bid', p, q, bidCum[i])) : emptyRow(3, 'No bids'));
    if (asks.length && bids.length) {
      const spread = sub(asks[0][0], bids[0][0]);
      put(spreadRow, h('span', {}, 'Spread '), h('strong', { id: 'spread-value' }, px(spread)), ' ', h('span', { class: 'muted' }, percentOf(spread, asks[0][0])));
    } else {
      put(spreadRow, 'Spread —');
    }
    metrics.bookRenders = (metrics.bookRenders || 0) + 1;
    metrics.bookSeq = state.bookSeq;
  }

  // level total (price x amount) in the quote asset, exact
  function sumStr(side, p) {
    const q = (side === 'ask' ? state.asks : state.bids).get(p);
    return truncate(mul(p, q), 2);
  }

  function usePrice(p) {
    const input = document.getElementById('order-price');
    if (input && !input.closest('[hidden]')) {
      input.value = trim(p, 0);
      input.dispatchEvent(new Event('input'));
      input.focus();
    }
  }

  cleanups.push(live.subscribe({ channel: 'book', market: name }, (m) => {
    if (m.type === 'snapshot') {
      state.bids = new Map(m.bids);
      state.asks = new Map(m.asks);
    } else {
      for (const [p, q] of m.bids) if (isZero(q)) state.bids.delete(p); else state.bids.set(p, q);
      for (const [p, q] of m.asks) if (isZero(q)) state.asks.delete(p); else state.asks.set(p, q);
    }
    state.bookSeq = m.seq;
    metrics.bookMessages = (metrics.bookMessages || 0) + 1;
    scheduleBook();
  }));

  // ---- trades ----
  let trades = [];
  function renderTrades() {
    put(tradesBody, trades.length ? trades.slice(0, 30).map((t) => h('tr', { class: t.taker_side === 'buy' ? 'bid' : 'ask' },
      h('td', { class: 'num price' }, px(t.price)), h('td', { class: 'num' }, qx(t.quantity)), h('td', { class: 'num muted' }, fmtClock(t.ts)))) : emptyRow(3, 'No trades on Coinage yet'));
  }
  cleanups.push(live.subscribe({ channel: 'trades', market: name }, (m) => {
    trades = [...m.data.slice().reverse(), ...trades].slice(0, 50);
    renderTrades();
  }));
  cleanups.push(live.subscribe({ channel: 'ticker', market: name }, (m) => {
    state.ticker = m.data;
    renderStats();
  }));

  // ---- order entry ----
  function renderOrderEntry() {
    const m = state.market;
    const s = currentSession();
    if (!s) {
      put(orderBox, h('h2', { id: 'order-title' }, 'Place order'),
        h('p', {}, h('a', { href: '#/login' }, 'Log in'), ' or ', h('a', { href: '#/signup' }, 'sign up'), ' to trade with paper money.'));
      return;
    }
    let side = 'buy';
    const sideGroup = h('div', { class: 'seg side', role: 'radiogroup', 'aria-label': 'Side' });
    const type = select('Order type', ORDER_TYPES, { id: 'order-type' });
    const price = field(`Price (${m.quote})`, { id: 'order-price', inputmode: 'decimal', autocomplete: 'off' }, `Tick size ${trim(m.tick_size)}`);
    const stop = field(`Stop price (${m.quote})`, { id: 'order-stop', inputmode: 'decimal', autocomplete: 'off' }, 'Triggers on the last traded price');
    const qty = field(`Quantity (${m.base})`, { id: 'order-qty', inputmode: 'decimal', autocomplete: 'off' }, `Lot size ${trim(m.lot_size)}, min ${trim(m.min_quantity)}`);
    const amountIn = select('Amount in', [['base', `${m.base} (quantity)`], ['quote', `${m.quote} (amount)`]], { id: 'order-amount-in' });
    const tif = select('Time in force', [['gtc', 'Good till canceled'], ['ioc', 'Immediate or cancel'], ['fok', 'Fill or kill']], { id: 'order-tif' });
    const postOnly = h('label', { class: 'check', for: 'order-post-only' }, h('input', { type: 'checkbox', id: 'order-post-only' }), 'Post only (maker)');
    const avail = h('p', { class: 'avail', id: 'order-available', 'aria-live': 'polite' });
    const summary = h('p', { class: 'order-summary', id: 'order-notional', 'aria-live': 'polite' });
    const errs = h('ul', { class: 'errors', id: 'order-errors', 'aria-live': 'assertive' });
    const msg = messageLine('order-msg');
    const submit = h('button', { type: 'submit', class: 'btn buy wide', id: 'order-submit' }, 'Buy');

    const setSide = (v) => {
      side = v;
      put(sideGroup, ['buy', 'sell'].map((x) => h('button', {
        type: 'button', role: 'radio', 'aria-checked': x === side ? 'true' : 'false', class: 'seg-btn ' + x, id: 'side-' + x,
        onclick: () => setSide(x),
      }, x === 'buy' ? 'Buy' : 'Sell')));
      submit.className = 'btn wide ' + side;
      submit.textContent = `${side === 'buy' ? 'Buy' : 'Sell'} ${m.base}`;
      update();
    };

    const values = () => ({ side, type: type.input.value, amount_in: amountIn.wrap.hidden ? 'base' : amountIn.input.value, quantity: qty.input.value, price: price.input.value, stop_price: stop.input.value, time_in_force: tif.input.value, post_only: postOnly.querySelector('input').checked });
    const ref = () => {
      const a = topLevels(state.asks, 'low')[0];
      const b = topLevels(state.bids, 'high')[0];
      return { ask: a && a[0], bid: b && b[0] };
    };

    let touched = false;
    function update() {
      const t = type.input.value;
      price.wrap.hidden = !needsPrice(t);
      stop.wrap.hidden = !needsStop(t);
      tif.wrap.hidden = t !== 'limit';
      amountIn.wrap.hidden = t !== 'market';
      const byQuote = !amountIn.wrap.hidden && amountIn.input.value === 'quote';
      const quoteLabel = side === 'buy' ? `Amount to spend (${m.quote}, fees included)` : `Amount to receive (${m.quote}, before the fee)`;
      qty.wrap.querySelector('label').textContent = byQuote ? quoteLabel : `Quantity (${m.base})`;
      qty.wrap.querySelector('.hint').textContent = byQuote ? `Min ${trim(m.min_notional)} ${m.quote}` : `Lot size ${trim(m.lot_size)}, min ${trim(m.min_quantity)}`;
      postOnly.hidden = t !== 'limit';
      const asset = side === 'buy' ? m.quote : m.base;
      const b = state.balances.get(asset);
      put(avail, 'Available: ', h('strong', {}, fmt(b ? b.available : '0', 2)), ' ', asset);
      const v = validateOrder(m, values(), ref());
      for (const [f, input] of [['price', price.input], ['stop_price', stop.input], ['quantity', qty.input]]) {
        input.setAttribute('aria-invalid', touched && v.errors[f] ? 'true' : 'false');
      }
      put(errs, touched ? Object.values(v.errors).map((e) => h('li', {}, e)) : []);
      const est = byQuote ? '' : !needsPrice(t) && !needsStop(t) ? ' (estimate at the best ' + (side === 'buy' ? 'ask' : 'bid') + ')' : '';
      put(summary, v.notional ? ['Order value ', h('strong', {}, fmt(trim(v.notional, 2), 2)), ` ${m.quote}${est}`] : '');
      return v;
    }

    const form = h('form', {
      id: 'order-form', novalidate: true,
      oninput: () => update(), onchange: () => update(),
      onsubmit: async (ev) => {
        ev.preventDefault();
        touched = true;
        const v = update();
        if (!v.ok) {
          msg.show('Fix the order first.', 'error');
          return;
        }
        submit.disabled = true;
        msg.show('Sending order…');
        try {
          const o = await api('POST', '/orders', { body: v.body, idempotencyKey: newIdempotencyKey('ord') });
          const filled = o.fills && o.fills.length ? `, ${o.fills.length} fill${o.fills.length > 1 ? 's' : ''} at avg ${px(o.average_price)}` : '';
          msg.show(`Order #${o.id} ${o.status.replace('_', ' ')}${filled}${o.reason ? ' (' + o.reason.replace(/_/g, ' ') + ')' : ''}.`, o.status === 'rejected' || o.status === 'expired' ? 'error' : 'ok');
          touched = false;
          qty.input.value = '';
          update();
          refreshOrders();
          refreshBalances();
        } catch (e) {
          msg.show(`Refused by the server: ${errorText(e)}`, 'error');
        } finally {
          submit.disabled = false;
        }
      },
    }, sideGroup, type.wrap, amountIn.wrap, stop.wrap, price.wrap, qty.wrap, tif.wrap, postOnly, avail, summary, errs, submit, msg);
    put(orderBox, h('h2', { id: 'order-title' }, 'Place order'), form);
    orderBox.update = update;
    setSide('buy');
  }

  // ---- balances (for "available") ----
  async function refreshBalances() {
    if (!currentSession()) return;
    try {
      const r = await api('GET', '/balances');
      for (const b of r.data || r) state.balances.set(b.asset, b);
      if (orderBox.update) orderBox.update();
    } catch { /* shown elsewhere */ }
  }

  // ---- your orders ----
  let tab = 'open';
  const tabButtons = {};
  const tabPanel = h('div', { role: 'tabpanel', id: 'orders-panel', tabindex: '0' });
  function renderTabs() {
    if (!currentSession()) {
      put(tabsBox, h('h2', {}, 'Your orders'), h('p', { class: 'muted' }, 'Log in to see your orders and fills.'));
      return;
    }
    const list = h('div', { role: 'tablist', class: 'tabs', 'aria-label': 'Your orders' });
    for (const [key, label] of [['open', 'Open orders'], ['history', 'Order history'], ['fills', 'Your fills']]) {
      tabButtons[key] = h('button', {
        type: 'button', role: 'tab', id: 'tab-' + key, 'aria-selected': key === tab ? 'true' : 'false', 'aria-controls': 'orders-panel', tabindex: key === tab ? '0' : '-1',
        onclick: () => { tab = key; renderTabs(); refreshOrders(); },
        onkeydown: (e) => {
          const keys = Object.keys(tabButtons);
          const i = keys.indexOf(key);
          if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
            const next = keys[(i + (e.key === 'ArrowRight' ? 1 : keys.length - 1)) % keys.length];
            tab = next; renderTabs(); refreshOrders(); tabButtons[next].focus();
          }
        },
      }, label);
      list.append(tabButtons[key]);
    }
    tabPanel.setAttribute('aria-labelledby', 'tab-' + tab);
    put(tabsBox, list, tabPanel);
  }

  const ordersMsg = messageLine('orders-msg');
  async function refreshOrders() {
    if (!currentSession()) return;
    try {
      if (tab === 'fills') {
        const r = await api('GET', `/fills?market=${name}&limit=50`);
        renderFills(r.data);
      } else {
        const r = await api('GET', `/orders?status=${tab === 'open' ? 'open' : 'closed'}&market=${name}&limit=50`);
        renderOrders(r.data);
      }
    } catch (e) {
      ordersMsg.show(errorText(e), 'error');
      put(tabPanel, ordersMsg);
    }
  }

  function renderOrders(list) {
    const open = tab === 'open';
    const rows = list.map((o) => h('tr', { dataset: { order: o.id } },
      h('td', {}, fmtTime(o.created_at)),
      h('td', { class: o.side === 'buy' ? 'up' : 'down' }, o.side),
      h('td', {}, o.type.replace(/_/g, ' ')),
      h('td', { class: 'num' }, px(o.price)),
      h('td', { class: 'num' }, px(o.stop_price)),
      h('td', { class: 'num' }, qx(o.quantity)),
      h('td', { class: 'num' }, qx(o.filled_quantity)),
      h('td', { class: 'num' }, px(o.average_price)),
      h('td', {}, o.status.replace('_', ' '), o.reason ? h('small', { class: 'muted' }, ' · ' + o.reason.replace(/_/g, ' ')) : null),
      open ? h('td', { class: 'actions' },
        h('button', { type: 'button', class: 'btn small ghost', 'aria-label': `Amend order ${o.id}`, onclick: (e) => amendRow(e.target.closest('tr'), o) }, 'Amend'),
        h('button', { type: 'button', class: 'btn small danger', 'aria-label': `Cancel order ${o.id}`, onclick: () => cancelOrder(o) }, 'Cancel')) : null));
    put(tabPanel, ordersMsg, h('table', { class: 'grid', id: open ? 'open-orders' : 'order-history' },
      h('caption', { class: 'sr-only' }, open ? 'Open orders' : 'Order history'),
      h('thead', {}, h('tr', {}, ['Time', 'Side', 'Type', 'Price', 'Stop', 'Quantity', 'Filled', 'Avg price', 'Status'].map((c, i) => h('th', { scope: 'col', class: i >= 3 && i <= 7 ? 'num' : '' }, c)), open ? h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')) : null)),
      h('tbody', {}, rows.length ? rows : emptyRow(open ? 10 : 9, open ? 'No open orders in this market.' : 'No closed orders yet.'))));
  }

  function renderFills(list) {
    put(tabPanel, ordersMsg, h('table', { class: 'grid', id: 'fills' },
      h('caption', { class: 'sr-only' }, 'Your fills'),
      h('thead', {}, h('tr', {}, ['Time', 'Side', 'Role', 'Price', 'Quantity', 'Value', 'Fee', 'Order'].map((c, i) => h('th', { scope: 'col', class: i >= 3 ? 'num' : '' }, c)))),
      h('tbody', {}, list.length ? list.map((f) => h('tr', {},
        h('td', {}, fmtTime(f.created_at)),
        h('td', { class: f.side === 'buy' ? 'up' : 'down' }, f.side),
        h('td', {}, f.role),
        h('td', { class: 'num' }, px(f.price)),
        h('td', { class: 'num' }, qx(f.quantity)),
        h('td', { class: 'num' }, fmt(f.quote_quantity, 2)),
        h('td', { class: 'num' }, fmt(f.fee, 2), ' ', h('small', { class: 'muted' }, f.fee_asset)),
        h('td', { class: 'num' }, '#' + f.order_id))) : emptyRow(8, 'No fills yet.'))));
  }

  async function cancelOrder(o) {
    try {
      await api('DELETE', `/orders/${o.id}`);
      ordersMsg.show(`Order #${o.id} canceled.`);
    } catch (e) {
      ordersMsg.show(errorText(e), 'error');
    }
    refreshOrders();
    refreshBalances();
  }

  function amendRow(tr, o) {
    const m = state.market;
    const p = field('New price', { id: 'amend-price', value: o.price ? trim(o.price, 0) : '', inputmode: 'decimal', disabled: o.price == null });
    const q = field('New quantity', { id: 'amend-qty', value: trim(o.remaining_quantity || o.quantity, 0), inputmode: 'decimal' });
    const form = h('form', {
      class: 'amend', 'aria-label': `Amend order ${o.id}`,
      onsubmit: async (ev) => {
        ev.preventDefault();
        const body = {};
        if (o.price != null && p.input.value.trim() && p.input.value.trim() !== trim(o.price, 0)) body.price = p.input.value.trim();
        if (q.input.value.trim()) body.quantity = q.input.value.trim();
        const v = validateOrder(m, { side: o.side, type: o.type, quantity: body.quantity || o.quantity, price: body.price || o.price, stop_price: o.stop_price });
        if (!v.ok) {
          ordersMsg.show(Object.values(v.errors).join('; '), 'error');
          return;
        }
        try {
          const r = await api('PATCH', `/orders/${o.id}`, { body });
          ordersMsg.show(`Order #${r.id} amended: ${qx(r.quantity)} @ ${px(r.price)}.`);
        } catch (e) {
          ordersMsg.show(`Refused by the server: ${errorText(e)}`, 'error');
        }
        refreshOrders();
        refreshBalances();
      },
    }, p.wrap, q.wrap, h('button', { type: 'submit', class: 'btn small primary' }, 'Save'), h('button', { type: 'button', class: 'btn small ghost', onclick: () => refreshOrders() }, 'Close'));
    const row = h('tr', { class: 'amend-row' }, h('td', { colspan: 10 }, form));
    tr.after(row);
    p.input.disabled ? q.input.focus() : p.input.focus();
  }

  let ordersTimer = null;
  function onPrivate() {
    clearTimeout(ordersTimer);
    ordersTimer = setTimeout(() => { refreshOrders(); }, 150);
  }
  cleanups.push(() => clearTimeout(ordersTimer));

  // ---- start ----
  (async () => {
    try {
      const [m, all] = await Promise.all([loadMarket(name), loadMarkets()]);
      if (closed) return;
      if (!m) {
        put(main, h('section', { class: 'page' }, h('h1', {}, 'Unknown market'), h('p', {}, `There is no market ${name}. `, h('a', { href: '#/markets' }, 'See all markets'), '.')));
        return;
      }
      state.market = m;
      put(picker, all.map((x) => h('option', { value: x.name, selected: x.name === name }, x.name.replace('-', ' / '))));
      const r = replayText(m);
      put(replay, h('span', { class: 'tag' }, 'Market replay'), ' ', h('strong', {}, r.kind), ' · ', r.source, ' · original dates ', h('strong', { id: 'replay-range' }, r.range), '. Prices are recorded history played back on a loop; trades on Coinage are paper money.');
      renderToolbar();
      renderOrderEntry();
      renderTabs();
      const [t, tr] = await Promise.all([
        api('GET', `/markets/${name}/ticker`, { auth: false }),
        api('GET', `/markets/${name}/trades?limit=30`, { auth: false }),
      ]);
      if (closed) return;
      state.ticker = state.ticker || t;
      renderStats();
      trades = [...tr.data, ...trades].slice(0, 50);
      renderTrades();
      renderBook();
      loadChart();
      if (currentSession()) {
        refreshBalances();
        refreshOrders();
        cleanups.push(live.subscribe({ channel: 'orders' }, onPrivate));
        cleanups.push(live.subscribe({ channel: 'balances' }, (msg) => {
          for (const b of msg.data) state.balances.set(b.asset, b);
          if (orderBox.update) orderBox.update();
        }));
      }
    } catch (e) {
      chartMsg.show(errorText(e), 'error');
    }
  })();

  return () => cleanups.forEach((f) => f());
}

// Where the shown candles come from: imported history (with its dates) and/or Coinage's own trades.
function candleSources(list) {
  const by = new Map();
  for (const c of list) {
    const src = c.source || 'coinage';
    const e = by.get(src) || { n: 0, first: c.open_time, last: c.open_time };
    e.n++;
    e.last = c.open_time;
    by.set(src, e);
  }
  const range = (e) => (fmtDate(e.first) === fmtDate(e.last) ? fmtDate(e.first) : `${fmtDate(e.first)} → ${fmtDate(e.last)}`);
  return [...by.entries()].map(([src, e]) => {
    const what = src === 'binance' ? 'of imported Binance history' : src === 'coinage' ? 'from trades on Coinage' : `from ${src}`;
    return `${e.n} candle${e.n > 1 ? 's' : ''} ${what} (${range(e)})`;
  }).join(' · ');
}

// part / whole in percent, truncated to 6 decimals: "(0.000016%)"
function percentOf(part, whole) {
  if (cmp(whole, '0') <= 0) return '';
  return `(${trim(div(mul(part, '100'), whole, 6), 2)}%)`;
}
