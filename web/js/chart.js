// Candle chart (TradingView lightweight-charts, vendored): candles + volume bars, optional
// SMA / EMA / Bollinger overlays from the analytics API, live updates of the current candle.
// Prices go to the chart library as Numbers: the chart only plots them; every price the user
// reads as text elsewhere comes from the API's decimal strings.

import { api } from './api.js';
import { stepDecimals } from './decimal.js';

const UP = '#0ecb81';
const DOWN = '#f6465d';

export const INTERVALS = ['1m', '5m', '15m', '1h', '4h', '1d'];
export const OVERLAYS = {
  sma: { label: 'SMA 20', query: 'name=sma&period=20', colors: ['#f0b90b'] },
  ema: { label: 'EMA 20', query: 'name=ema&period=20', colors: ['#3d8bfd'] },
  bbands: { label: 'Bollinger 20, 2σ', query: 'name=bbands&period=20&stddev=2', colors: ['#b27cf2', '#8a8f98', '#b27cf2'] },
};

function lc() {
  const L = window.LightweightCharts;
  if (!L) throw new Error('the chart library did not load (web/vendor missing: run `make`)');
  return L;
}

export function toBar(c) {
  return { time: Math.floor(c.open_time / 1000), open: Number(c.open), high: Number(c.high), low: Number(c.low), close: Number(c.close) };
}

export function toVolume(c) {
  return { time: Math.floor(c.open_time / 1000), value: Number(c.volume), color: Number(c.close) >= Number(c.open) ? 'rgba(14,203,129,0.45)' : 'rgba(246,70,93,0.45)' };
}

export class CandleChart {
  constructor(el, market) {
    const L = lc();
    this.L = L;
    this.market = market;
    this.chart = L.createChart(el, {
      autoSize: true,
      layout: { background: { color: '#161a1e' }, textColor: '#b7bdc6', fontFamily: 'system-ui, sans-serif', attributionLogo: true },
      grid: { vertLines: { color: '#20262d' }, horzLines: { color: '#20262d' } },
      rightPriceScale: { borderColor: '#2b3139' },
      timeScale: { borderColor: '#2b3139', timeVisible: true, secondsVisible: false },
      crosshair: { mode: 0 },
    });
    const precision = stepDecimals(market.tick_size);
    this.candles = this.chart.addSeries(L.CandlestickSeries, {
      upColor: UP, downColor: DOWN, borderVisible: false, wickUpColor: UP, wickDownColor: DOWN,
      priceFormat: { type: 'price', precision, minMove: Number(market.tick_size) },
    });
    this.candles.priceScale().applyOptions({ scaleMargins: { top: 0.08, bottom: 0.25 } });
    this.volume = this.chart.addSeries(L.HistogramSeries, { priceFormat: { type: 'volume' }, priceScaleId: 'volume', lastValueVisible: false, priceLineVisible: false });
    this.volume.priceScale().applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
    this.overlaySeries = {};
    // keep all candles in view when the window is resized (after the chart's own resize)
    this.resize = new ResizeObserver(() => requestAnimationFrame(() => this.chart && this.chart.timeScale().fitContent()));
    this.resize.observe(el);
    this.lastTime = null;
    this.count = 0;
  }

  /**
   * Show candles (API objects, oldest first). Resolves with the milliseconds from handing the
   * data to the chart until it has painted (two animation frames later).
   */
  async setCandles(list) {
    const t0 = performance.now();
    this.candles.setData(list.map(toBar));
    this.volume.setData(list.map(toVolume));
    this.lastTime = list.length ? Math.floor(list[list.length - 1].open_time / 1000) : null;
    this.count = list.length;
    this.chart.timeScale().fitContent();
    await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    return performance.now() - t0;
  }

  /** A live candle (API object): updates the last bar or appends a new one. true if new. */
  update(c) {
    const t = Math.floor(c.open_time / 1000);
    if (this.lastTime != null && t < this.lastTime) return false; // older than what is shown
    const isNew = this.lastTime == null || t > this.lastTime;
    this.candles.update(toBar(c));
    this.volume.update(toVolume(c));
    this.lastTime = t;
    if (isNew) this.count++;
    return isNew;
  }

  /** Replace the overlay `name` with points from the indicators API ({columns, points}). */
  setOverlay(name, resp) {
    this.clearOverlay(name);
    const spec = OVERLAYS[name];
    const cols = resp.columns || ['value'];
    this.overlaySeries[name] = cols.map((col, i) => {
      const s = this.chart.addSeries(this.L.LineSeries, {
        color: spec.colors[i % spec.colors.length], lineWidth: col === 'middle' ? 1 : 2,
        lineStyle: col === 'middle' ? 2 : 0, priceLineVisible: false, lastValueVisible: false,
        crosshairMarkerVisible: false, title: cols.length > 1 ? '' : spec.label,
      });
      s.setData(resp.points.map((p) => {
        const v = p[col] !== undefined ? p[col] : p.value;
        const time = Math.floor(p.time / 1000);
        return v == null ? { time } : { time, value: Number(v) };
      }));
      return s;
    });
  }

  clearOverlay(name) {
    for (const s of this.overlaySeries[name] || []) this.chart.removeSeries(s);
    delete this.overlaySeries[name];
  }

  destroy() {
    this.resize.disconnect();
    this.chart.remove();
    this.chart = null;
  }
}

/** GET the indicator for market/interval aligned with `limit` candles. */
export function fetchIndicator(market, name, interval, limit) {
  return api('GET', `/markets/${market}/indicators?${OVERLAYS[name].query}&interval=${interval}&limit=${limit}`, { auth: false });
}
