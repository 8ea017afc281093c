// Exact decimal arithmetic on the API's decimal strings, with BigInt. Prices and amounts are never
// turned into floating-point numbers for display or validation (the chart library alone gets
// Numbers, for plotting). A "decimal" here is a string like "50000.00", "-0.5" or "3".

const DEC_RE = /^-?\d+(\.\d+)?$/;
const INPUT_RE = /^\d*(\.\d*)?$/;

/** true if s is a plain non-negative decimal as a user may type it ("1", "0.5", ".5", "1."). */
export function isDecimalInput(s) {
  return typeof s === 'string' && s !== '' && s !== '.' && INPUT_RE.test(s);
}

/** Normalise user input ("" -> "", ".5" -> "0.5", "1." -> "1"). Throws on anything else. */
export function normalizeInput(s) {
  s = String(s).trim();
  if (!isDecimalInput(s)) throw new Error(`not a decimal number: ${s}`);
  if (s.startsWith('.')) s = '0' + s;
  if (s.endsWith('.')) s = s.slice(0, -1);
  return s;
}

/** Number of decimals written in s ("1.500" -> 3). */
export function decimalsOf(s) {
  const i = s.indexOf('.');
  return i < 0 ? 0 : s.length - i - 1;
}

/** Decimal string -> BigInt count of 10^-scale units. Throws if s has more non-zero decimals. */
export function toUnits(s, scale) {
  if (!DEC_RE.test(s)) throw new Error(`not a decimal: ${s}`);
  const neg = s.startsWith('-');
  const [i, f = ''] = (neg ? s.slice(1) : s).split('.');
  const extra = f.slice(scale);
  if (/[^0]/.test(extra)) throw new Error(`${s} has more than ${scale} decimals`);
  const v = BigInt(i + f.slice(0, scale).padEnd(scale, '0'));
  return neg ? -v : v;
}

/** BigInt units at scale -> decimal string with exactly `scale` decimals. */
export function fromUnits(v, scale) {
  const neg = v < 0n;
  let s = (neg ? -v : v).toString().padStart(scale + 1, '0');
  if (scale > 0) s = s.slice(0, s.length - scale) + '.' + s.slice(s.length - scale);
  return (neg ? '-' : '') + s;
}

function commonScale(...xs) {
  return Math.max(...xs.map(decimalsOf));
}

/** a - b, a + b, a * b, compare: exact. */
export function add(a, b) {
  const s = commonScale(a, b);
  return fromUnits(toUnits(a, s) + toUnits(b, s), s);
}
export function sub(a, b) {
  const s = commonScale(a, b);
  return fromUnits(toUnits(a, s) - toUnits(b, s), s);
}
export function mul(a, b) {
  const sa = decimalsOf(a);
  const sb = decimalsOf(b);
  return fromUnits(toUnits(a, sa) * toUnits(b, sb), sa + sb);
}
export function cmp(a, b) {
  const s = commonScale(a, b);
  const x = toUnits(a, s);
  const y = toUnits(b, s);
  return x < y ? -1 : x > y ? 1 : 0;
}
export function isZero(a) {
  return cmp(a, '0') === 0;
}

/** true if value is an integer multiple of step (both decimal strings, step > 0). */
export function isMultipleOf(value, step) {
  const s = commonScale(value, step);
  const st = toUnits(step, s);
  if (st <= 0n) return true;
  return toUnits(value, s) % st === 0n;
}

/** Drop trailing zeros of the fraction, keeping at least minDecimals ("1.50000" -> "1.5"). */
export function trim(s, minDecimals = 0) {
  if (s == null) return s;
  const i = s.indexOf('.');
  if (i < 0) return minDecimals > 0 ? s + '.' + '0'.repeat(minDecimals) : s;
  let end = s.length;
  while (end > i + 1 + minDecimals && s[end - 1] === '0') end--;
  if (end === i + 1) end = i;
  return s.slice(0, end);
}

/** Truncate (toward zero, not rounding) to at most `decimals` decimals. */
export function truncate(s, decimals) {
  const i = s.indexOf('.');
  if (i < 0 || s.length - i - 1 <= decimals) return s;
  return decimals === 0 ? s.slice(0, i) : s.slice(0, i + 1 + decimals);
}

/** Thousands separators on the integer part ("61833.09" -> "61,833.09"). */
export function group(s) {
  if (s == null) return s;
  const neg = s.startsWith('-');
  const body = neg ? s.slice(1) : s;
  const i = body.indexOf('.');
  const int = i < 0 ? body : body.slice(0, i);
  const frac = i < 0 ? '' : body.slice(i);
  return (neg ? '-' : '') + int.replace(/\B(?=(\d{3})+(?!\d))/g, ',') + frac;
}

/** Display a decimal string exactly: trailing zeros trimmed to minDecimals, grouped. */
export function fmt(s, minDecimals = 2) {
  if (s == null || s === '') return '—';
  return group(trim(s, minDecimals));
}

/** Decimals a step size implies ("0.01000000" -> 2, "1.00" -> 0). */
export function stepDecimals(step) {
  return decimalsOf(trim(step, 0));
}

/** a / b as a decimal string truncated to `decimals` places (exact long division, b != 0). */
export function div(a, b, decimals) {
  const s = commonScale(a, b);
  const x = toUnits(a, s);
  const y = toUnits(b, s);
  if (y === 0n) throw new Error('division by zero');
  const q = (x * 10n ** BigInt(decimals)) / y;
  return fromUnits(q, decimals);
}
