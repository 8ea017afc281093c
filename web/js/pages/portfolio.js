// Portfolio: equity and cash, holdings with average cost and P&L, allocation, the equity chart
// and performance figures, all from the portfolio API (GET /portfolio, /portfolio/history,
// /portfolio/performance); balances from /balances. If the server has no portfolio API, the page
// says so and shows the balances only (nothing is estimated in the browser).

import { api } from '../api.js';
import { cmp, div, fmt, mul, trim } from '../decimal.js';
import { live } from '../ws.js';
import { emptyRow, errorText, fmtDate, h, messageLine, put, signClass } from '../ui.js';
import { balancesTable } from './funding.js';

const RANGES = ['1W', '1M', '3M', '1Y', 'ALL'];
const PALETTE = ['#f0b90b', '#3d8bfd', '#0ecb81', '#b27cf2', '#f6465d', '#29c5d6', '#ff8c42', '#8a8f98'];

function signed(s, min = 2) {
  if (s == null) return '—';
  return (s.startsWith('-') ? '' : '+') + fmt(s, min);
}

function pct(s) {
  if (s == null) return '—';
  return signed(s, 2) + '%';
}

/** A ratio given as a decimal string or number (0.1234) -> percent text, no float rounding of money. */
function ratioPct(v) {
  if (v == null) return '—';
  if (typeof v === 'number') return (v >= 0 ? '+' : '') + (v * 100).toFixed(2) + '%';
  return pct(trim(mul(v, '100'), 2));
}

export function portfolioPage(main) {
  const cleanups = [];
  let closed = false;
  cleanups.push(() => { closed = true; });
  const msg = messageLine('portfolio-msg');
  const summary = h('dl', { class: 'stats big-stats', id: 'portfolio-summary' });
  const holdingsBox = h('div', { id: 'holdings-box' });
  const allocBox = h('div', { id: 'allocation', class: 'allocation' });
  const equityEl = h('div', { class: 'chart small', id: 'equity-chart', role: 'img', 'aria-label': 'Equity over time' });
  const equityMsg = messageLine('equity-msg');
  const perfBox = h('div', { id: 'performance' });
  const balBox = h('div', { id: 'portfolio-balances' });
  const rangeGroup = h('div', { class: 'seg', role: 'radiogroup', 'aria-label': 'Performance range' });
  let range = localStorage.getItem('coinage.perf.range') || '1M';
  let chart = null;
  cleanups.push(() => chart && chart.remove());

  put(main, h('section', { class: 'page' },
    h('div', { class: 'page-head' }, h('h1', {}, 'Portfolio'), rangeGroup),
    msg,
    h('section', { class: 'card', 'aria-label': 'Summary' }, summary),
    h('div', { class: 'portfolio-grid' },
      h('section', { class: 'card', 'aria-labelledby': 'hold-title' }, h('h2', { id: 'hold-title' }, 'Holdings'), holdingsBox),
      h('section', { class: 'card', 'aria-labelledby': 'alloc-title' }, h('h2', { id: 'alloc-title' }, 'Allocation'), allocBox)),
    h('div', { class: 'portfolio-grid' },
      h('section', { class: 'card', 'aria-labelledby': 'eq-title' }, h('h2', { id: 'eq-title' }, 'Equity'), equityEl, equityMsg),
      h('section', { class: 'card', 'aria-labelledby': 'perf-title' }, h('h2', { id: 'perf-title' }, 'Performance'), perfBox)),
    h('section', { class: 'card', 'aria-labelledby': 'pbal-title' }, h('h2', { id: 'pbal-title' }, 'Balances'), balBox)));

  function renderRanges() {
    put(rangeGroup, RANGES.map((r) => h('button', {
      type: 'button', role: 'radio', class: 'seg-btn', 'aria-checked': r === range ? 'true' : 'false',
      onclick: () => { range = r; localStorage.setItem('coinage.perf.range', r); renderRanges(); loadPerformance(); loadHistory(); },
    }, r)));
  }

  function renderOverview(p) {
    const cash = p.cash_asset || p.valuation_asset || 'USDT';
    put(summary,
      h('div', {}, h('dt', {}, 'Equity'), h('dd', { class: 'big', id: 'equity-value' }, fmt(p.equity, 2), ' ', h('small', { class: 'muted' }, cash))),
      h('div', {}, h('dt', {}, 'Cash'), h('dd', {}, fmt(p.cash, 2))),
      h('div', {}, h('dt', {}, 'Unrealized P&L'), h('dd', { class: signClass(p.unrealized_pnl), id: 'unrealized-pnl' }, signed(p.unrealized_pnl))),
      h('div', {}, h('dt', {}, 'Realized P&L'), h('dd', { class: signClass(p.realized_pnl) }, signed(p.realized_pnl))),
      p.fees != null ? h('div', {}, h('dt', {}, 'Fees paid'), h('dd', {}, fmt(p.fees, 2))) : null,
      p.net_deposits != null ? h('div', {}, h('dt', {}, 'Net deposits'), h('dd', {}, fmt(p.net_deposits, 2))) : null);
    const hs = p.holdings || [];
    put(holdingsBox, h('table', { class: 'grid', id: 'holdings' },
      h('caption', { class: 'sr-only' }, 'Holdings with average cost and profit and loss'),
      h('thead', {}, h('tr', {}, ['Asset', 'Quantity', 'Avg cost', 'Price', 'Market value', 'Unrealized P&L', 'Realized P&L', 'Weight'].map((c, i) => h('th', { scope: 'col', class: i ? 'num' : '' }, c)))),
      h('tbody', {}, hs.length ? hs.map((x) => h('tr', { dataset: { asset: x.asset } },
        h('th', { scope: 'row' }, x.asset),
        h('td', { class: 'num' }, fmt(x.quantity, 0)),
        h('td', { class: 'num' }, fmt(x.average_cost, 2)),
        h('td', { class: 'num' }, fmt(x.price, 2)),
        h('td', { class: 'num' }, fmt(x.market_value, 2)),
        h('td', { class: 'num ' + signClass(x.unrealized_pnl) }, signed(x.unrealized_pnl), x.unrealized_pnl_percent != null ? h('small', {}, ' (' + pct(x.unrealized_pnl_percent) + ')') : null),
        h('td', { class: 'num ' + signClass(x.realized_pnl) }, signed(x.realized_pnl)),
        h('td', { class: 'num' }, x.allocation != null ? ratioPct(x.allocation).replace('+', '') : '—'))) : emptyRow(8, 'No holdings yet.'))));
    renderAllocation(p);
  }

  function renderAllocation(p) {
    const parts = (p.allocation || p.holdings || []).map((x) => ({ asset: x.asset, value: x.market_value, weight: x.weight ?? x.allocation }))
      .filter((x) => x.value && cmp(x.value, '0') > 0);
    if (!parts.length || !p.equity || cmp(p.equity, '0') <= 0) {
      put(allocBox, h('p', { class: 'muted' }, 'Nothing to allocate yet.'));
      return;
    }
    // shares from the exact values: value / equity, to 4 decimals (truncated)
    const shares = parts.map((x) => ({ ...x, share: div(x.value, p.equity, 4) }));
    put(allocBox,
      h('div', { class: 'alloc-bar', role: 'img', 'aria-label': shares.map((x) => `${x.asset} ${trim(mul(x.share, '100'), 2)}%`).join(', ') },
        shares.map((x, i) => h('span', { style: `width:${trim(mul(x.share, '100'), 2)}%;background:${PALETTE[i % PALETTE.length]}`, title: x.asset }))),
      h('ul', { class: 'legend' }, shares.map((x, i) => h('li', {},
        h('span', { class: 'swatch', style: `background:${PALETTE[i % PALETTE.length]}` }),
        h('strong', {}, x.asset), ' ', trim(mul(x.share, '100'), 2), '% ', h('span', { class: 'muted' }, fmt(x.value, 2))))));
  }

  async function loadOverview() {
    try {
      const p = await api('GET', '/portfolio');
      if (closed) return;
      renderOverview(p);
      return true;
    } catch (e) {
      if (e.code === 'route_not_found') {
        msg.show('This server has no portfolio API yet: holdings, P&L, equity and performance are not available. Balances are below.', 'error');
        put(summary, h('div', {}, h('dt', {}, 'Portfolio'), h('dd', {}, 'not available')));
        put(holdingsBox, h('p', { class: 'muted' }, 'Needs the portfolio API.'));
        put(allocBox, h('p', { class: 'muted' }, 'Needs the portfolio API.'));
        return false;
      }
      msg.show(errorText(e), 'error');
      return false;
    }
  }

  async function loadHistory() {
    const resolution = range === '1W' || range === '1M' ? '1h' : '1d';
    try {
      const r = await api('GET', `/portfolio/history?resolution=${resolution}&range=${range}`);
      if (closed) return;
      const L = window.LightweightCharts;
      if (!chart) {
        chart = L.createChart(equityEl, {
          autoSize: true,
          layout: { background: { color: '#161a1e' }, textColor: '#b7bdc6' },
          grid: { vertLines: { color: '#20262d' }, horzLines: { color: '#20262d' } },
          timeScale: { timeVisible: true, borderColor: '#2b3139' },
          rightPriceScale: { borderColor: '#2b3139' },
        });
        chart.series = chart.addSeries(L.AreaSeries, { lineColor: '#f0b90b', topColor: 'rgba(240,185,11,0.35)', bottomColor: 'rgba(240,185,11,0.02)', lineWidth: 2, priceFormat: { type: 'price', precision: 2, minMove: 0.01 } });
      }
      const pts = r.points || [];
      chart.series.setData(pts.map((p) => ({ time: Math.floor(p.time / 1000), value: Number(p.equity) })));
      chart.timeScale().fitContent();
      equityEl.dataset.points = String(pts.length);
      equityMsg.show(pts.length ? `${pts.length} points at ${resolution} resolution, ${fmtDate(pts[0].time)} → ${fmtDate(pts[pts.length - 1].time)}` : 'No equity history yet.');
    } catch (e) {
      equityMsg.show(e.code === 'route_not_found' ? 'Needs the portfolio history API.' : errorText(e), e.code === 'route_not_found' ? 'ok' : 'error');
    }
  }

  async function loadPerformance() {
    try {
      const r = await api('GET', `/portfolio/performance?range=${range}`);
      if (closed) return;
      const rows = [];
      const add = (label, value, cls) => rows.push(h('div', {}, h('dt', {}, label), h('dd', { class: cls || '' }, value)));
      const twr = r.twr ?? r.time_weighted_return;
      const mwr = r.mwr ?? r.money_weighted_return;
      add('Time-weighted return (TWR)', ratioPct(twr), signClass(typeof twr === 'string' ? twr : twr == null ? null : String(twr)));
      add('Money-weighted return (MWR)', ratioPct(mwr), signClass(typeof mwr === 'string' ? mwr : mwr == null ? null : String(mwr)));
      if (r.pnl != null) add('P&L', signed(r.pnl), signClass(r.pnl));
      const bench = r.benchmark;
      if (bench) add(`Benchmark${bench.name || bench.market ? ' (' + (bench.name || bench.market) + ')' : ''}`, ratioPct(bench.return ?? bench.twr), '');
      if (r.max_drawdown != null) add('Max drawdown', ratioPct(r.max_drawdown), 'down');
      if (r.volatility != null) add('Volatility (annualized)', ratioPct(r.volatility), '');
      if (r.sharpe != null) add('Sharpe ratio', typeof r.sharpe === 'number' ? r.sharpe.toFixed(2) : r.sharpe, '');
      put(perfBox, h('p', { class: 'muted' }, `Range ${range}${r.start ? ': ' + fmtDate(r.start) + ' → ' + fmtDate(r.end) : ''}`), h('dl', { class: 'kv' }, rows));
    } catch (e) {
      put(perfBox, h('p', { class: 'muted' }, e.code === 'route_not_found' ? 'Needs the portfolio performance API.' : errorText(e)));
    }
  }

  async function loadBalances() {
    try {
      const b = await api('GET', '/balances');
      if (!closed) put(balBox, balancesTable('balances', b.data));
    } catch (e) {
      put(balBox, h('p', { class: 'msg error', role: 'alert' }, errorText(e)));
    }
  }

  renderRanges();
  (async () => {
    loadBalances();
    if (await loadOverview()) {
      loadHistory();
      loadPerformance();
    } else {
      put(perfBox, h('p', { class: 'muted' }, 'Needs the portfolio API.'));
      equityMsg.show('Needs the portfolio API.');
    }
  })();
  let t = null;
  cleanups.push(live.subscribe({ channel: 'balances' }, () => {
    clearTimeout(t);
    t = setTimeout(() => { loadBalances(); loadOverview(); }, 250);
  }));
  cleanups.push(() => clearTimeout(t));
  return () => cleanups.forEach((f) => f());
}
