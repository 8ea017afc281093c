// Portfolio: equity and cash, holdings with average cost and P&L, allocation, the equity chart
// and performance figures, all from the portfolio API (GET /portfolio, /portfolio/history,
// /portfolio/performance); balances from /balances. If the server has no portfolio API, the page
// says so and shows the balances only (nothing is estimated in the browser).

import { api } from '../api.js';
import { cmp, div, fmt, mul, trim } from '../decimal.js';
import { live } from '../ws.js';
import { emptyRow, errorText, fmtDate, h, messageLine, put, signClass } from '../ui.js';
import { balancesTable } from './funding.js';

const RANGES = ['1D', '1W', '1M', '3M', 'YTD', '1Y', 'MAX'];
const PALETTE = ['#f0b90b', '#3d8bfd', '#0ecb81', '#b27cf2', '#f6465d', '#29c5d6', '#ff8c42', '#8a8f98'];

function signed(s, min = 2) {
  if (s == null) return '—';
  return (s.startsWith('-') ? '' : '+') + fmt(s, min);
}

function pct(s) {
  if (s == null) return '—';
  return signed(s, 2) + '%';
}

/** A statistic given as a ratio (0.1234, a double: returns are statistics, not money) -> "+12.34%". */
function ratioPct(v, signedOut = true) {
  if (v == null || !Number.isFinite(v)) return '—';
  const p = v * 100;
  // small returns keep two significant digits instead of collapsing to "-0.00%"
  const txt = p === 0 || Math.abs(p) >= 0.01 ? p.toFixed(2) : p.toPrecision(2);
  return (signedOut && v >= 0 ? '+' : '') + txt + '%';
}

function numClass(v) {
  if (v == null || !Number.isFinite(v) || v === 0) return '';
  return v > 0 ? 'up' : 'down';
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
  let range = localStorage.getItem('coinage.perf.range') || 'MAX';
  if (!RANGES.includes(range)) range = 'MAX';
  let chart = null;
  cleanups.push(() => chart && chart.remove());

  put(main, h('section', { class: 'page' },
    h('div', { class: 'page-head' }, h('h1', {}, 'Portfolio'), rangeGroup),
    msg,
    h('section', { class: 'card', 'aria-label': 'Summary' }, summary),
    h('section', { class: 'card scroll-x', 'aria-labelledby': 'hold-title' }, h('h2', { id: 'hold-title' }, 'Holdings'), holdingsBox),
    h('div', { class: 'portfolio-grid' },
      h('section', { class: 'card', 'aria-labelledby': 'eq-title' }, h('h2', { id: 'eq-title' }, 'Equity'), equityEl, equityMsg),
      h('section', { class: 'card', 'aria-labelledby': 'perf-title' }, h('h2', { id: 'perf-title' }, 'Performance and risk'), perfBox)),
    h('div', { class: 'portfolio-grid' },
      h('section', { class: 'card', 'aria-labelledby': 'alloc-title' }, h('h2', { id: 'alloc-title' }, 'Allocation'), allocBox),
      h('section', { class: 'card', 'aria-labelledby': 'pbal-title' }, h('h2', { id: 'pbal-title' }, 'Balances'), balBox))));

  function renderRanges() {
    put(rangeGroup, RANGES.map((r) => h('button', {
      type: 'button', role: 'radio', class: 'seg-btn', 'aria-checked': r === range ? 'true' : 'false',
      onclick: () => { range = r; localStorage.setItem('coinage.perf.range', r); renderRanges(); loadPerformance(); loadHistory(); },
    }, r)));
  }

  function renderOverview(p) {
    const cash = p.valuation_asset || 'USDT';
    put(summary,
      h('div', {}, h('dt', {}, 'Equity'), h('dd', { class: 'big', id: 'equity-value' }, fmt(p.equity, 2), ' ', h('small', { class: 'muted' }, cash))),
      h('div', {}, h('dt', {}, 'Cash'), h('dd', {}, fmt(p.cash, 2))),
      h('div', {}, h('dt', {}, 'Holdings value'), h('dd', {}, fmt(p.market_value, 2))),
      h('div', {}, h('dt', {}, 'Unrealized P&L'), h('dd', { class: signClass(p.unrealized_pnl), id: 'unrealized-pnl' }, signed(p.unrealized_pnl))),
      h('div', {}, h('dt', {}, 'Realized P&L'), h('dd', { class: signClass(p.realized_pnl) }, signed(p.realized_pnl))),
      h('div', {}, h('dt', {}, 'Total P&L'), h('dd', { class: signClass(p.total_pnl), id: 'total-pnl' }, signed(p.total_pnl))),
      h('div', {}, h('dt', {}, 'Fees paid'), h('dd', {}, fmt(p.fees_paid, 2))),
      h('div', {}, h('dt', {}, 'Net deposits'), h('dd', {}, fmt(p.net_deposits, 2))));
    const hs = (p.holdings || []).filter((x) => x.asset !== cash);
    put(holdingsBox, h('table', { class: 'grid', id: 'holdings' },
      h('caption', { class: 'sr-only' }, `Holdings with average cost and profit and loss, in ${cash}`),
      h('thead', {}, h('tr', {}, ['Asset', 'Quantity', 'Avg cost', 'Price', 'Market value', 'Unrealized P&L', 'Realized P&L', 'Weight'].map((c, i) => h('th', { scope: 'col', class: i ? 'num' : '' }, c)))),
      h('tbody', {}, hs.length ? hs.map((x) => h('tr', { dataset: { asset: x.asset } },
        h('th', { scope: 'row' }, x.asset),
        h('td', { class: 'num' }, fmt(x.quantity, 0)),
        h('td', { class: 'num' }, fmt(x.average_cost, 2)),
        h('td', { class: 'num', title: x.price_source ? 'price: ' + x.price_source : null }, fmt(x.price, 2)),
        h('td', { class: 'num' }, fmt(x.market_value, 2)),
        h('td', { class: 'num ' + signClass(x.unrealized_pnl), 'data-col': 'unrealized' }, signed(x.unrealized_pnl)),
        h('td', { class: 'num ' + signClass(x.realized_pnl) }, signed(x.realized_pnl)),
        h('td', { class: 'num' }, p.equity && cmp(p.equity, '0') > 0 ? trim(div(mul(x.market_value, '100'), p.equity, 2), 2) + '%' : '—'))) : emptyRow(8, 'No holdings yet: buy something on a market page.'))));
    renderAllocation(p);
  }

  function renderAllocation(p) {
    const parts = (p.allocation || []).filter((x) => x.value && cmp(x.value, '0') > 0);
    if (!parts.length || !p.equity || cmp(p.equity, '0') <= 0) {
      put(allocBox, h('p', { class: 'muted' }, 'Nothing to allocate yet.'));
      return;
    }
    // shares from the exact values: value / equity in percent, 2 decimals (truncated)
    const shares = parts.map((x) => ({ ...x, pct: trim(div(mul(x.value, '100'), p.equity, 2), 2) }));
    put(allocBox,
      h('div', { class: 'alloc-bar', role: 'img', 'aria-label': 'Allocation: ' + shares.map((x) => `${x.asset} ${x.pct}%`).join(', ') },
        shares.map((x, i) => h('span', { style: `width:${x.pct}%;background:${PALETTE[i % PALETTE.length]}`, title: `${x.asset} ${x.pct}%` }))),
      h('ul', { class: 'legend', id: 'allocation-legend' }, shares.map((x, i) => h('li', { dataset: { asset: x.asset } },
        h('span', { class: 'swatch', style: `background:${PALETTE[i % PALETTE.length]}` }),
        h('strong', {}, x.asset), ` ${x.pct}% `, h('span', { class: 'muted' }, fmt(x.value, 2))))));
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
    const resolution = range === '3M' || range === 'YTD' || range === '1Y' ? '1d' : '1h';
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
      const [r, risk] = await Promise.all([
        api('GET', `/portfolio/performance?range=${range}`),
        api('GET', `/risk?range=${range}`).catch(() => null),
      ]);
      if (closed) return;
      const rows = [];
      const add = (label, value, cls, title) => rows.push(h('div', { title }, h('dt', {}, label), h('dd', { class: cls || '' }, value)));
      add('P&L (after flows)', signed(r.absolute_pnl), signClass(r.absolute_pnl));
      add('Time-weighted return (TWR)', ratioPct(r.twr), numClass(r.twr), 'GIPS true time-weighted return: deposits and withdrawals do not move it');
      add('Money-weighted return (MWR)', ratioPct(r.mwr), numClass(r.mwr), 'Money-weighted: weighs returns by the money invested, so the timing of deposits and withdrawals counts');
      if (r.benchmark) add(`Benchmark: ${r.benchmark.name}`, ratioPct(r.benchmark.return), numClass(r.benchmark.return), `${r.benchmark.market} ${fmt(r.benchmark.start_price, 2)} → ${fmt(r.benchmark.end_price, 2)}`);
      if (r.benchmark && r.benchmark.excess_twr != null) add('TWR minus benchmark', ratioPct(r.benchmark.excess_twr), numClass(r.benchmark.excess_twr));
      add('Equity at start → end', `${fmt(r.start_equity, 2)} → ${fmt(r.end_equity, 2)}`);
      add('Deposits / withdrawals', `${fmt(r.deposits, 2)} / ${fmt(r.withdrawals, 2)}`);
      if (risk) {
        const v95 = (risk.value_at_risk || []).find((v) => v.method === 'historical' && v.confidence === '0.95');
        add('Volatility (annualised)', ratioPct(risk.volatility, false));
        add('Sharpe ratio', risk.sharpe == null ? '—' : risk.sharpe.toFixed(2));
        add('Max drawdown', risk.max_drawdown ? ratioPct(risk.max_drawdown.depth) : '—', numClass(risk.max_drawdown && risk.max_drawdown.depth));
        if (v95) add(`VaR 95% (${v95.horizon}, historical)`, v95.var_amount == null ? '—' : fmt(v95.var_amount, 2) + ' ' + (r.valuation_asset || ''), '', 'Loss not exceeded with 95% confidence over one period, from the portfolio\'s own returns');
      }
      put(perfBox, h('p', { class: 'muted' }, `Range ${range}: ${fmtDate(r.start)} → ${fmtDate(r.end)}`), h('dl', { class: 'kv', id: 'performance-figures' }, rows));
    } catch (e) {
      put(perfBox, h('p', { class: 'muted' }, e.code === 'route_not_found' ? 'Needs the portfolio performance API.' : errorText(e)));
    }
  }

  async function loadBalances() {
    try {
      const b = await api('GET', '/balances');
      if (!closed) put(balBox, balancesTable('balances', b.data.filter((x) => !/^0(\.0*)?$/.test(x.total))));
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
