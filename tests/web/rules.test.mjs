// The dashboard's exact decimal arithmetic and order checks (web/js/decimal.js,
// web/js/orderrules.js), run in Node: the same ES modules the browser loads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as D from '../../web/js/decimal.js';
import { validateOrder } from '../../web/js/orderrules.js';

const BTC = {
  name: 'BTC-USDT', base: 'BTC', quote: 'USDT', base_scale: 8, quote_scale: 8,
  tick_size: '0.01000000', lot_size: '0.00001000', min_quantity: '0.00001000',
  max_quantity: '9000.00000000', min_notional: '5.00000000',
};

test('decimal: exact parse/format, no float rounding', () => {
  assert.equal(D.toUnits('0.1', 8), 10000000n);
  assert.equal(D.fromUnits(10000000n, 8), '0.10000000');
  assert.equal(D.add('0.1', '0.2'), '0.3'); // 0.1 + 0.2 !== 0.3 in floats
  assert.equal(D.sub('61833.10', '61833.09'), '0.01');
  assert.equal(D.mul('61833.09', '0.00001'), '0.6183309');
  assert.equal(D.mul('90071992547409.93', '100'), '9007199254740993.00'); // beyond 2^53
  assert.equal(D.div('1', '3', 6), '0.333333');
  assert.equal(D.div('-2', '3', 2), '-0.66');
  assert.equal(D.cmp('10.0', '9.99'), 1);
  assert.equal(D.cmp('0.00000001', '0'), 1);
  assert.equal(D.cmp('1.50', '1.5'), 0);
  assert.throws(() => D.toUnits('0.123456789', 8), /more than 8 decimals/);
  assert.equal(D.toUnits('0.123456780', 8), 12345678n);
  assert.equal(D.trim('61833.09000000', 2), '61833.09');
  assert.equal(D.trim('1.00000000', 2), '1.00');
  assert.equal(D.trim('1.00000000'), '1');
  assert.equal(D.trim('0.05704000', 2), '0.05704');
  assert.equal(D.group('1234567.891'), '1,234,567.891');
  assert.equal(D.group('-1234.5'), '-1,234.5');
  assert.equal(D.fmt('9007199254740993.12345678', 2), '9,007,199,254,740,993.12345678');
  assert.equal(D.fmt(null), '—');
  assert.equal(D.truncate('1.999', 2), '1.99');
  assert.equal(D.stepDecimals('0.01000000'), 2);
  assert.equal(D.stepDecimals('1.00000000'), 0);
  assert.ok(D.isMultipleOf('61833.09', '0.01000000'));
  assert.ok(!D.isMultipleOf('61833.091', '0.01'));
  assert.ok(D.isMultipleOf('0.00003', '0.00001000'));
  assert.ok(!D.isMultipleOf('0.000015', '0.00001'));
  assert.equal(D.normalizeInput('.5'), '0.5');
  assert.equal(D.normalizeInput('5.'), '5');
  assert.throws(() => D.normalizeInput('1e3'));
  assert.throws(() => D.normalizeInput('-1'));
  assert.ok(!D.isDecimalInput('0x10'));
});

test('order rules: tick, lot, min/max quantity, min notional, as the server checks them', () => {
  let v = validateOrder(BTC, { side: 'buy', type: 'limit', quantity: '0.001', price: '60000.00' });
  assert.ok(v.ok, JSON.stringify(v.errors));
  assert.deepEqual(v.body, { market: 'BTC-USDT', side: 'buy', type: 'limit', quantity: '0.001', price: '60000.00', time_in_force: 'gtc' });
  assert.equal(v.notional, '60.00000');

  v = validateOrder(BTC, { side: 'buy', type: 'limit', quantity: '0.001', price: '60000.001' });
  assert.match(v.errors.price, /tick size 0\.01/);
  v = validateOrder(BTC, { side: 'buy', type: 'limit', quantity: '0.000015', price: '60000' });
  assert.match(v.errors.quantity, /lot size 0\.00001/);
  v = validateOrder(BTC, { side: 'buy', type: 'limit', quantity: '9000.00001', price: '60000' });
  assert.match(v.errors.quantity, /at most 9000/);
  v = validateOrder(BTC, { side: 'buy', type: 'limit', quantity: '0.123456789', price: '60000' });
  assert.match(v.errors.quantity, /more than 8 decimals/);
  // min notional: 0.00008 x 60000 = 4.8 < 5; 0.00009 x 60000 = 5.4 ok; exactly 5 is allowed
  v = validateOrder(BTC, { side: 'sell', type: 'limit', quantity: '0.00008', price: '60000' });
  assert.match(v.errors.notional, /below the minimum 5/);
  assert.ok(validateOrder(BTC, { side: 'sell', type: 'limit', quantity: '0.00009', price: '60000' }).ok);
  assert.ok(validateOrder(BTC, { side: 'sell', type: 'limit', quantity: '0.0001', price: '50000' }).ok);
  // required fields and junk
  v = validateOrder(BTC, { side: 'buy', type: 'limit', quantity: '', price: 'abc' });
  assert.match(v.errors.quantity, /required/);
  assert.match(v.errors.price, /number/);
  v = validateOrder(BTC, { side: 'buy', type: 'limit', quantity: '0', price: '1' });
  assert.match(v.errors.quantity, /greater than 0/);

  // market orders: no price; notional estimated at the best ask (buy) / bid (sell)
  v = validateOrder(BTC, { side: 'buy', type: 'market', quantity: '0.00001' }, { ask: '61833.10', bid: '61833.09' });
  assert.match(v.errors.notional, /value 0\.618331 USDT is below the minimum 5.00 USDT/);
  v = validateOrder(BTC, { side: 'buy', type: 'market', quantity: '0.01' }, { ask: '61833.10' });
  assert.ok(v.ok);
  assert.deepEqual(v.body, { market: 'BTC-USDT', side: 'buy', type: 'market', quantity: '0.01' });
  // without a book the server decides
  assert.ok(validateOrder(BTC, { side: 'sell', type: 'market', quantity: '0.00001' }, {}).ok);

  // stops: stop price on the tick; stop-limit needs both
  v = validateOrder(BTC, { side: 'sell', type: 'stop_loss', quantity: '0.01', stop_price: '50000.005' });
  assert.match(v.errors.stop_price, /tick size/);
  v = validateOrder(BTC, { side: 'sell', type: 'stop_loss_limit', quantity: '0.01', stop_price: '50000' });
  assert.match(v.errors.price, /required/);
  v = validateOrder(BTC, { side: 'sell', type: 'stop_loss_limit', quantity: '0.01', stop_price: '50000', price: '49900' });
  assert.deepEqual(v.body, { market: 'BTC-USDT', side: 'sell', type: 'stop_loss_limit', quantity: '0.01', price: '49900', stop_price: '50000' });
});

test('order rules: a market order by quote amount (quote_quantity)', () => {
  let v = validateOrder(BTC, { side: 'buy', type: 'market', amount_in: 'quote', quantity: '100' });
  assert.ok(v.ok, JSON.stringify(v.errors));
  assert.deepEqual(v.body, { market: 'BTC-USDT', side: 'buy', type: 'market', quote_quantity: '100' });
  v = validateOrder(BTC, { side: 'buy', type: 'market', amount_in: 'quote', quantity: '4.99999999' });
  assert.match(v.errors.notional, /below the minimum 5/);
  v = validateOrder(BTC, { side: 'buy', type: 'market', amount_in: 'quote', quantity: '10.123456789' });
  assert.match(v.errors.quantity, /more than 8 decimals/);
  // a sell by quote amount: what it receives before the fee, same rules
  v = validateOrder(BTC, { side: 'sell', type: 'market', amount_in: 'quote', quantity: '100' });
  assert.deepEqual(v.body, { market: 'BTC-USDT', side: 'sell', type: 'market', quote_quantity: '100' });
  v = validateOrder(BTC, { side: 'sell', type: 'market', amount_in: 'quote', quantity: '4.99999999' });
  assert.match(v.errors.notional, /below the minimum 5/);
  // amount_in is for market orders only: a limit order keeps the quantity rules
  v = validateOrder(BTC, { side: 'sell', type: 'limit', amount_in: 'quote', quantity: '0.000015', price: '60000' });
  assert.match(v.errors.quantity, /lot size/);
});
