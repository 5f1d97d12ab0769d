// Exact decimal strings, as the APIs send them ("20000", "0.30000000", "0e-8", "1e-8"): parsed into a BigInt
// scaled by a power of ten, so that sums (cumulative depth) and comparisons (book order) never drift.

const PATTERN = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

// {digits: BigInt, scale: number} meaning digits / 10^scale; null for anything that is not a decimal.
export function parse(text) {
  const match = PATTERN.exec(String(text).trim());
  if (match === null || (match[2] === '' && (match[3] === undefined || match[3] === ''))) return null;
  const fraction = match[3] || '';
  let digits = BigInt((match[2] || '0') + fraction);
  let scale = fraction.length - Number(match[4] || 0);
  if (scale < 0) {
    digits *= 10n ** BigInt(-scale);
    scale = 0;
  }
  return {digits: match[1] === '-' ? -digits : digits, scale};
}

// The value at `scale` decimals (cut toward zero), as a BigInt; 0n for text that is not a decimal.
export function scaled(text, scale) {
  const value = parse(text);
  if (value === null) return 0n;
  if (value.scale === scale) return value.digits;
  if (value.scale < scale) return value.digits * 10n ** BigInt(scale - value.scale);
  return value.digits / 10n ** BigInt(value.scale - scale);
}

// A scaled BigInt written with exactly `decimals` decimals (cut toward zero).
export function format(value, scale, decimals) {
  let digits = value;
  if (decimals < scale) digits = value / 10n ** BigInt(scale - decimals);
  else if (decimals > scale) digits = value * 10n ** BigInt(decimals - scale);
  const negative = digits < 0n;
  let text = (negative ? -digits : digits).toString();
  if (decimals > 0) {
    text = text.padStart(decimals + 1, '0');
    text = `${text.slice(0, -decimals)}.${text.slice(-decimals)}`;
  }
  return negative ? `-${text}` : text;
}

// `text` with exactly `decimals` decimals: the APIs trim zeros, a table lines its columns up.
export function fixed(text, decimals) {
  const value = parse(text);
  return value === null ? String(text) : format(value.digits, value.scale, decimals);
}

// -1, 0 or 1 as a < b, a = b, a > b.
export function compare(a, b) {
  const x = parse(a);
  const y = parse(b);
  const scale = Math.max(x.scale, y.scale);
  const left = x.digits * 10n ** BigInt(scale - x.scale);
  const right = y.digits * 10n ** BigInt(scale - y.scale);
  return left < right ? -1 : left > right ? 1 : 0;
}

export function isZero(text) {
  const value = parse(text);
  return value === null || value.digits === 0n;
}

// Decimals of the step of a merge interval such as "0.01" (2) or "10" (0).
export function decimalsOf(text) {
  const value = parse(text);
  return value === null ? 0 : Math.max(0, value.scale - trailingZeros(value.digits));
}

function trailingZeros(digits) {
  let count = 0;
  let rest = digits < 0n ? -digits : digits;
  while (rest !== 0n && rest % 10n === 0n) {
    rest /= 10n;
    count += 1;
  }
  return count;
}
