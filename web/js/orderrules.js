// Client-side checks of an order against the market's rules, with the same arithmetic as the
// server (exact decimals): price a multiple of tick_size, quantity a multiple of lot_size and
// within [min_quantity, max_quantity], price x quantity >= min_notional. The server stays the
// authority: whatever passes here may still be refused (e.g. insufficient_funds,
// stop_would_trigger), and that refusal is shown as is.

import { cmp, decimalsOf, isDecimalInput, isMultipleOf, isZero, mul, normalizeInput, trim } from './decimal.js';

export const ORDER_TYPES = [
  ['limit', 'Limit'],
  ['market', 'Market'],
  ['stop_loss', 'Stop market (stop-loss)'],
  ['stop_loss_limit', 'Stop limit (stop-loss limit)'],
  ['take_profit', 'Take profit (market)'],
  ['take_profit_limit', 'Take profit limit'],
];

export function needsPrice(type) {
  return type === 'limit' || type.endsWith('_limit');
}

export function needsStop(type) {
  return type.startsWith('stop_loss') || type.startsWith('take_profit');
}

function checkDecimal(field, raw, scale, label, errors) {
  if (raw == null || String(raw).trim() === '') {
    errors[field] = `${label} is required`;
    return null;
  }
  if (!isDecimalInput(String(raw).trim())) {
    errors[field] = `${label} must be a number like 0.5`;
    return null;
  }
  const v = normalizeInput(raw);
  if (isZero(v)) {
    errors[field] = `${label} must be greater than 0`;
    return null;
  }
  if (decimalsOf(trim(v)) > scale) {
    errors[field] = `${label} has more than ${scale} decimals`;
    return null;
  }
  return v;
}

/**
 * A market order by quote amount (quote_quantity): what a buy spends, fees included, or what a sell
 * receives before its fee. The amount must fit the quote asset's scale and reach the minimum
 * notional.
 */
function validateByQuote(market, o) {
  const errors = {};
  const spend = checkDecimal('quantity', o.quantity, market.quote_scale, `Amount (${market.quote})`, errors);
  if (spend && cmp(spend, market.min_notional) < 0) {
    errors.notional = `Order value ${trim(spend, 2)} ${market.quote} is below the minimum ${trim(market.min_notional, 2)} ${market.quote}`;
  }
  const ok = Object.keys(errors).length === 0;
  return { ok, errors, notional: spend, body: ok ? { market: market.name, side: o.side, type: 'market', quote_quantity: spend } : null };
}

/**
 * Validate an order form. market: the /markets entry; o: {side, type, quantity, price,
 * stop_price, amount_in ('base' or 'quote': a market order may give a quote amount to spend or receive)}; ref: {bid, ask} decimal strings of the book (for a market order's notional
 * estimate), may be empty. Returns {ok, errors:{field: text}, notional (decimal string or null),
 * body (the POST /orders body when ok)}.
 */
export function validateOrder(market, o, ref = {}) {
  if (o.type === 'market' && o.amount_in === 'quote') return validateByQuote(market, o);
  const errors = {};
  const type = o.type;
  const qty = checkDecimal('quantity', o.quantity, market.base_scale, 'Quantity', errors);
  let price = null;
  let stop = null;
  if (needsPrice(type)) price = checkDecimal('price', o.price, market.quote_scale, 'Price', errors);
  if (needsStop(type)) stop = checkDecimal('stop_price', o.stop_price, market.quote_scale, 'Stop price', errors);

  if (price && !isMultipleOf(price, market.tick_size)) errors.price = `Price must be a multiple of the tick size ${trim(market.tick_size)}`;
  if (stop && !isMultipleOf(stop, market.tick_size)) errors.stop_price = `Stop price must be a multiple of the tick size ${trim(market.tick_size)}`;
  if (qty) {
    if (!isMultipleOf(qty, market.lot_size)) errors.quantity = `Quantity must be a multiple of the lot size ${trim(market.lot_size)}`;
    else if (cmp(qty, market.min_quantity) < 0) errors.quantity = `Quantity must be at least ${trim(market.min_quantity)} ${market.base}`;
    else if (cmp(qty, market.max_quantity) > 0) errors.quantity = `Quantity must be at most ${trim(market.max_quantity)} ${market.base}`;
  }

  // the price the notional is judged at: the limit price, else the stop price, else the book
  const at = price || stop || (o.side === 'buy' ? ref.ask : ref.bid) || null;
  let notional = null;
  if (qty && at) {
    notional = mul(qty, at);
    if (!errors.quantity && !errors.price && !errors.stop_price && cmp(notional, market.min_notional) < 0) {
      errors.notional = `Order value ${trim(notional, 2)} ${market.quote} is below the minimum ${trim(market.min_notional, 2)} ${market.quote}`;
    }
  }
  const ok = Object.keys(errors).length === 0;
  let body = null;
  if (ok) {
    body = { market: market.name, side: o.side, type, quantity: qty };
    if (price) body.price = price;
    if (stop) body.stop_price = stop;
    if (type === 'limit') {
      body.time_in_force = o.time_in_force || 'gtc';
      if (o.post_only) body.post_only = true;
    }
  }
  return { ok, errors, notional, body };
}
