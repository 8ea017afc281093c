// Markets: a live ticker for every market (last, 24h change, high, low, volume, bid/ask),
// sortable by any column, searchable, and what each market replays.
import { api } from '../api.js';
import { loadMarkets, replayText } from '../data.js';
import { cmp, fmt, stepDecimals } from '../decimal.js';
import { live } from '../ws.js';
import { emptyRow, errorText, h, messageLine, put, signClass } from '../ui.js';

const COLS = [
  ['market', 'Market', 'text'],
  ['last', 'Last price', 'dec'],
  ['change_percent_24h', '24h change', 'dec'],
  ['high_24h', '24h high', 'dec'],
  ['low_24h', '24h low', 'dec'],
  ['volume_24h', '24h volume', 'dec'],
  ['quote_volume_24h', '24h quote volume', 'dec'],
  ['bid', 'Bid', 'dec'],
  ['ask', 'Ask', 'dec'],
];

/** Last traded price, or the replayed reference price before the first trade. */
export function displayPrice(t) {
  return t.last ?? t.reference_price ?? null;
}

export function marketsPage(main) {
  const tickers = new Map();
  let markets = [];
  let sortKey = localStorage.getItem('coinage.markets.sort') || 'quote_volume_24h';
  let sortDir = localStorage.getItem('coinage.markets.dir') || 'desc';
  const msg = messageLine('markets-msg');
  const search = h('input', { type: 'search', id: 'market-search', placeholder: 'Search markets (e.g. BTC)', 'aria-label': 'Search markets', autocomplete: 'off' });
  const tbody = h('tbody', { id: 'tickers' });
  const headRow = h('tr');
  const table = h('table', { class: 'grid markets', 'aria-describedby': 'markets-caption' },
    h('caption', { id: 'markets-caption', class: 'sr-only' }, 'Markets with live 24 hour statistics; column headers sort'),
    h('thead', {}, headRow), tbody);
  const unsubs = [];

  function value(t, key) {
    if (key === 'market') return t.market;
    if (key === 'last') return displayPrice(t);
    return t[key];
  }

  function renderHead() {
    put(headRow, COLS.map(([key, label]) => {
      const active = key === sortKey;
      return h('th', { scope: 'col', 'aria-sort': active ? (sortDir === 'asc' ? 'ascending' : 'descending') : 'none', class: key === 'market' ? '' : 'num' },
        h('button', {
          type: 'button', class: 'sort', dataset: { key },
          onclick: () => {
            if (sortKey === key) sortDir = sortDir === 'asc' ? 'desc' : 'asc';
            else { sortKey = key; sortDir = key === 'market' ? 'asc' : 'desc'; }
            localStorage.setItem('coinage.markets.sort', sortKey);
            localStorage.setItem('coinage.markets.dir', sortDir);
            renderHead();
            render();
          },
        }, label, active ? (sortDir === 'asc' ? ' ▲' : ' ▼') : ''));
    }), h('th', { scope: 'col' }, 'Replayed data'));
  }

  function render() {
    const q = search.value.trim().toUpperCase().replace('/', '-');
    const rows = markets.filter((m) => !q || m.name.includes(q) || m.base.includes(q) || m.quote.includes(q))
      .map((m) => ({ m, t: tickers.get(m.name) || { market: m.name } }));
    const [, , kind] = COLS.find((c) => c[0] === sortKey) || COLS[0];
    rows.sort((a, b) => {
      const x = value(a.t, sortKey);
      const y = value(b.t, sortKey);
      if (x == null && y == null) return a.m.name.localeCompare(b.m.name);
      if (x == null) return 1; // unknown values last in either direction
      if (y == null) return -1;
      const c = kind === 'dec' ? cmp(x, y) : x.localeCompare(y);
      return sortDir === 'asc' ? c : -c;
    });
    if (!rows.length) {
      put(tbody, emptyRow(COLS.length + 1, q ? `No market matches “${search.value}”.` : 'Loading markets…'));
      return;
    }
    put(tbody, rows.map(({ m, t }) => {
      const r = replayText(m);
      const scale = stepDecimals(m.tick_size); // prices are multiples of the tick
      return h('tr', { dataset: { market: m.name } },
        h('th', { scope: 'row' }, h('a', { href: '#/market/' + m.name, class: 'mkt' }, m.base, h('span', { class: 'muted' }, ' / ' + m.quote))),
        h('td', { class: 'num price', 'data-col': 'last' }, fmt(displayPrice(t), scale), t.last == null && t.reference_price ? h('small', { class: 'muted', title: 'No trade on Coinage yet: the replayed reference price' }, ' ref') : null),
        h('td', { class: 'num ' + signClass(t.change_percent_24h), 'data-col': 'change' }, t.change_percent_24h == null ? '—' : (t.change_percent_24h.startsWith('-') ? '' : '+') + fmt(t.change_percent_24h, 2) + '%'),
        h('td', { class: 'num' }, fmt(t.high_24h, scale)),
        h('td', { class: 'num' }, fmt(t.low_24h, scale)),
        h('td', { class: 'num' }, fmt(t.volume_24h, stepDecimals(m.lot_size))),
        h('td', { class: 'num' }, fmt(t.quote_volume_24h, 2)),
        h('td', { class: 'num bid' }, fmt(t.bid, scale)),
        h('td', { class: 'num ask' }, fmt(t.ask, scale)),
        h('td', { class: 'replay-cell', title: r.source }, h('span', { class: 'tag' }, 'replay'), ' ', r.kind, h('br'), h('small', { class: 'muted' }, r.range)));
    }));
  }

  search.addEventListener('input', render);
  put(main,
    h('section', { class: 'page' },
      h('div', { class: 'page-head' },
        h('h1', {}, 'Markets'),
        search),
      h('p', { class: 'banner', role: 'note' },
        h('strong', {}, 'Market replay. '),
        'Every market replays recorded real Binance spot data (order books and trades, or 1h klines) on a loop; your paper orders trade against it. Sources and original dates are listed per market.'),
      msg,
      h('div', { class: 'card scroll' }, table)));
  renderHead();
  render();

  (async () => {
    try {
      markets = await loadMarkets();
      const t = await api('GET', '/tickers', { auth: false });
      for (const x of t.data) tickers.set(x.market, x);
      render();
      let pending = false;
      for (const m of markets) {
        unsubs.push(live.subscribe({ channel: 'ticker', market: m.name }, (msgx) => {
          tickers.set(msgx.market, msgx.data);
          window.__coinage = window.__coinage || {};
          window.__coinage.tickerMessages = (window.__coinage.tickerMessages || 0) + 1;
          if (!pending) {
            pending = true; // coalesce bursts into one render per frame
            requestAnimationFrame(() => { pending = false; render(); });
          }
        }));
      }
    } catch (e) {
      msg.show(errorText(e), 'error');
    }
  })();
  search.focus();
  return () => unsubs.forEach((u) => u());
}
