// Cached reference data: the market list with its rules (tick, lot, min notional) and what each
// market replays.
import { api } from './api.js';

let marketsP = null;

/** [{name, base, quote, tick_size, lot_size, min_quantity, max_quantity, min_notional, market_data...}] */
export function loadMarkets() {
  if (!marketsP) {
    marketsP = api('GET', '/markets', { auth: false }).then((r) => r.data).catch((e) => {
      marketsP = null;
      throw e;
    });
  }
  return marketsP;
}

export async function loadMarket(name) {
  const all = await loadMarkets();
  return all.find((m) => m.name === name) || null;
}

/** Assets that appear in any market, quote assets first. */
export async function loadAssets() {
  const all = await loadMarkets();
  const quotes = [...new Set(all.map((m) => m.quote))];
  const bases = [...new Set(all.map((m) => m.base))].filter((a) => !quotes.includes(a));
  return [...quotes, ...bases];
}

/** Human label of what a market replays: "Binance … · 2024-08-08 23:54 → 2024-08-09 00:05 UTC". */
export function replayText(m) {
  const md = m.market_data || {};
  if (!md.replay) return 'live data';
  const kind = md.kind === 'l2_depth_and_trades' ? 'L2 order book + trades' : md.kind === 'klines_1h' ? '1h klines' : md.kind;
  const range = md.original_start
    ? `${md.original_start.slice(0, 16).replace('T', ' ')} → ${md.original_end.slice(0, 16).replace('T', ' ')} UTC`
    : 'original dates not reported';
  return { kind, source: md.source, range };
}
