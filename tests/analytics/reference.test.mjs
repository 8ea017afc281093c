// Reference check: Coinage's C indicators (src/analytics/indicators.c, run by the ind_ref driver
// on the shipped real Binance 1h and 1d klines of all 8 coins) against the npm package
// technicalindicators 3.1.0 (pinned in package.json / package-lock.json).
//
// Tolerance: |coinage - reference| <= 1e-9 * max(|coinage|, |reference|, scale), after the
// warm-up. `scale` keeps values that cross zero (MACD, histogram, OBV) from demanding a relative
// precision that no float computation of a difference has: it is the bar's close for
// price-denominated outputs, 1 for RSI and %K/%D (0..100), and the bar's volume for OBV.
//
// Where the package's convention differs from TA-Lib's, Coinage follows TA-Lib and this test
// says how it compares:
// - RSI: the package rounds its RSI to 2 decimals. We compare with 100 - 100/(1 + AG/AL) built
//   from the package's own unrounded AverageGain/AverageLoss (1e-9), and with its rounded RSI
//   within 0.005 (+1e-9).
// - MACD: TA-Lib seeds the fast EMA at bar slow-1 (SMA of x[slow-fast..slow-1]); the package at
//   bar fast-1. We compare exactly (1e-9) with the TA-Lib construction made of the package's
//   EMA (fast EMA run on x from bar slow-fast, slow EMA on x, signal EMA on the line), and with
//   the package's own MACD from the bar where the seed difference has decayed below 1e-12
//   ((1 - 2/(fast+1))^m < 1e-12).
// - OBV: TA-Lib starts at volume[0] on bar 0; the package starts at 0 and has no bar-0 value,
//   so coinage[i] = package[i-1] + volume[0].
// - Stochastic with smooth > 1 (slow %K): the package has only smooth = 1; the reference is
//   the package's SMA over the package's fast %K, and %D the package's SMA of that.
// - VWAP with a period (rolling): the package's VWAP is anchored at its first input, so the
//   reference for bar i is the package's VWAP of bars i-period+1..i (checked on every 97th bar).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import fs from 'node:fs';
import ti from 'technicalindicators';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const BIN = process.env.IND_REF_BIN || path.join(ROOT, 'build', 'debug', 'tests', 'ind_ref');
const COINS = [
  ['BTC', 8], ['ETH', 8], ['BNB', 8], ['SOL', 8], ['XRP', 8], ['ADA', 8], ['DOGE', 6], ['LTC', 8],
];
const SPECS = [
  'sma:period=20', 'sma:period=50', 'ema:period=20', 'ema:period=9', 'wma:period=20',
  'wma:period=10', 'rsi:period=14', 'rsi:period=7', 'macd:fast=12,slow=26,signal=9',
  'macd:fast=5,slow=35,signal=5', 'bbands:period=20,stddev=2', 'bbands:period=10,stddev=1.5',
  'atr:period=14', 'atr:period=7', 'stoch:k=14,d=3,smooth=1', 'stoch:k=5,d=3,smooth=3',
  'vwap:period=0', 'vwap:period=24', 'obv',
];
const TOL = 1e-9;

function params(spec) {
  const [name, rest] = spec.split(':');
  const p = {};
  for (const kv of (rest ? rest.split(',') : [])) {
    const [k, v] = kv.split('=');
    p[k] = Number(v);
  }
  return { name, p };
}

// Compare ours (full length, null = warm-up) with ref (same length, undefined where the
// reference has no value) from index `from`; returns the number of values compared.
function compare(label, ours, ref, from, scaleAt, stats) {
  let compared = 0;
  for (let i = from; i < ours.length; i++) {
    const a = ours[i];
    const b = ref[i];
    assert.ok(a !== null && Number.isFinite(a), `${label}: bar ${i} is ${a}, expected a number`);
    assert.ok(b !== undefined && Number.isFinite(b), `${label}: reference bar ${i} is ${b}`);
    const scale = Math.max(Math.abs(a), Math.abs(b), scaleAt(i));
    const err = Math.abs(a - b) / scale;
    if (err > stats.max) stats.max = err;
    assert.ok(err <= TOL, `${label}: bar ${i}: coinage ${a} vs reference ${b} (rel ${err})`);
    compared++;
  }
  return compared;
}

// Align a package result (which omits the warm-up) to the input length.
function pad(n, arr) {
  const out = new Array(n - arr.length).fill(undefined);
  return out.concat(arr);
}

const SETS = [['1h', 20000], ['1d', 1000]]; // interval, fewest bars expected in each shipped file

for (const [interval, minBars] of SETS) for (const [coin, qtyScale] of COINS) {
  test(`indicators match technicalindicators on ${coin}USDT ${interval}`, (t) => {
    const file = path.join(ROOT, 'data', 'klines', interval, `${coin}USDT_${interval}.csv.gz`);
    assert.ok(fs.existsSync(BIN), `driver ${BIN} missing: run make test-analytics`);
    const doc = JSON.parse(execFileSync(BIN, [file, '8', String(qtyScale), ...SPECS],
      { maxBuffer: 1 << 30 }).toString());
    const { n, high, low, close, volume } = doc;
    assert.ok(n > minBars, `${coin} ${interval}: ${n} bars`);
    const stats = { max: 0 };
    let total = 0;
    const px = (i) => Math.abs(close[i]);
    const one = () => 1;

    for (const out of doc.outputs) {
      const { name, p } = params(out.spec);
      const c = out.columns;
      const label = `${coin} ${out.spec}`;
      // our warm-up is exactly the documented lookback: null before, numbers from there
      const first = Object.values(c).map((col) => col.findIndex((v) => v !== null));
      const lastCol = Object.values(c)[Object.values(c).length - 1];
      assert.equal(lastCol.findIndex((v) => v !== null), out.lookback, `${label}: lookback`);
      assert.ok(first.every((f) => f >= 0), `${label}: some column has no value`);

      switch (name) {
        case 'sma':
          total += compare(label, c.value, pad(n, ti.SMA.calculate({ period: p.period, values: close })),
            p.period - 1, px, stats);
          break;
        case 'ema':
          total += compare(label, c.value, pad(n, ti.EMA.calculate({ period: p.period, values: close })),
            p.period - 1, px, stats);
          break;
        case 'wma':
          total += compare(label, c.value, pad(n, ti.WMA.calculate({ period: p.period, values: close })),
            p.period - 1, px, stats);
          break;
        case 'rsi': {
          const ag = pad(n, ti.AverageGain.calculate({ period: p.period, values: close }));
          const al = pad(n, ti.AverageLoss.calculate({ period: p.period, values: close }));
          const ref = ag.map((g, i) => (g === undefined ? undefined
            : al[i] === 0 ? 100 : g === 0 ? 0 : 100 - 100 / (1 + g / al[i])));
          total += compare(label, c.value, ref, p.period, one, stats);
          const rounded = pad(n, ti.RSI.calculate({ period: p.period, values: close }));
          for (let i = p.period; i < n; i++) {
            assert.ok(Math.abs(c.value[i] - rounded[i]) <= 0.005 + 1e-9,
              `${label}: bar ${i}: ${c.value[i]} vs package's rounded RSI ${rounded[i]}`);
          }
          break;
        }
        case 'macd': {
          const { fast, slow, signal } = p;
          // TA-Lib construction from the package's EMA
          const fastE = pad(n, ti.EMA.calculate({ period: fast, values: close.slice(slow - fast) }));
          const slowE = pad(n, ti.EMA.calculate({ period: slow, values: close }));
          const line = slowE.map((s, i) => (i >= slow - 1 ? fastE[i] - s : undefined));
          const sig = pad(n, ti.EMA.calculate({ period: signal, values: line.slice(slow - 1) }));
          const hist = line.map((l, i) => (sig[i] === undefined ? undefined : l - sig[i]));
          total += compare(`${label} line`, c.macd, line, slow - 1, px, stats);
          total += compare(`${label} signal`, c.signal, sig, slow + signal - 2, px, stats);
          total += compare(`${label} histogram`, c.histogram, hist, slow + signal - 2, px, stats);
          // the package's own MACD once its earlier fast-EMA seed has been forgotten
          const pk = pad(n, ti.MACD.calculate({
            values: close, fastPeriod: fast, slowPeriod: slow, signalPeriod: signal,
            SimpleMAOscillator: false, SimpleMASignal: false,
          }));
          const settle = Math.ceil(Math.log(1e-12) / Math.log(1 - 2 / (fast + 1)));
          const from = slow + signal - 2 + settle;
          total += compare(`${label} vs package line`, c.macd, pk.map((o) => o && o.MACD), from, px, stats);
          total += compare(`${label} vs package signal`, c.signal, pk.map((o) => o && o.signal), from, px, stats);
          total += compare(`${label} vs package histogram`, c.histogram, pk.map((o) => o && o.histogram),
            from, px, stats);
          break;
        }
        case 'bbands': {
          const bb = pad(n, ti.BollingerBands.calculate({ period: p.period, stdDev: p.stddev, values: close }));
          for (const col of ['upper', 'middle', 'lower']) {
            total += compare(`${label} ${col}`, c[col], bb.map((o) => o && o[col]), p.period - 1, px, stats);
          }
          break;
        }
        case 'atr':
          total += compare(label, c.value, pad(n, ti.ATR.calculate({ period: p.period, high, low, close })),
            p.period, px, stats);
          break;
        case 'stoch': {
          const fastK = pad(n, ti.Stochastic.calculate({ period: p.k, signalPeriod: p.d, high, low, close }));
          let kRef;
          let dRef;
          if (p.smooth === 1) {
            kRef = fastK.map((o) => o && o.k);
            dRef = fastK.map((o) => o && o.d);
          } else {
            const fk = fastK.slice(p.k - 1).map((o) => o.k);
            kRef = pad(n, ti.SMA.calculate({ period: p.smooth, values: fk }));
            dRef = pad(n, ti.SMA.calculate({ period: p.d, values: kRef.slice(p.k + p.smooth - 2) }));
          }
          total += compare(`${label} k`, c.k, kRef, p.k + p.smooth - 2, one, stats);
          total += compare(`${label} d`, c.d, dRef, p.k + p.smooth + p.d - 3, one, stats);
          break;
        }
        case 'vwap':
          if (p.period === 0) {
            total += compare(label, c.value, ti.VWAP.calculate({ high, low, close, volume }), 0, px, stats);
          } else {
            const ref = new Array(n).fill(undefined);
            const ours = new Array(n).fill(null);
            let from = -1;
            for (let i = p.period - 1; i < n; i += 97) {
              const s = i - p.period + 1;
              const w = ti.VWAP.calculate({ high: high.slice(s, i + 1), low: low.slice(s, i + 1),
                close: close.slice(s, i + 1), volume: volume.slice(s, i + 1) });
              ref[i] = w[w.length - 1];
              ours[i] = c.value[i];
              if (from < 0) from = i;
            }
            // compare only the sampled bars
            const idx = ref.map((v, i) => (v === undefined ? -1 : i)).filter((i) => i >= 0);
            total += compare(label, idx.map((i) => ours[i]), idx.map((i) => ref[i]), 0,
              (j) => Math.abs(close[idx[j]]), stats);
          }
          break;
        case 'obv': {
          const pk = ti.OBV.calculate({ close, volume });
          assert.equal(pk.length, n - 1);
          const ref = [volume[0], ...pk.map((v) => v + volume[0])];
          total += compare(label, c.value, ref, 0, (i) => Math.max(1, volume[i]), stats);
          break;
        }
        default:
          assert.fail(`no reference for ${name}`);
      }
    }
    assert.ok(total > SPECS.length * minBars, `${coin}: only ${total} values compared`);
    t.diagnostic(`${coin}USDT ${interval}: ${n} bars, ${total} values compared, max relative difference ` +
      `${stats.max.toExponential(2)} (tolerance ${TOL})`);
  });
}
