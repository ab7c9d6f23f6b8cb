import { MeshcaError } from '../errors/index.js';

// Go's time.ParseDuration units, in nanoseconds. Both micro signs are accepted, like Go.
const UNIT_NS: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1_000n,
  µs: 1_000n, // U+00B5 MICRO SIGN
  μs: 1_000n, // U+03BC GREEK SMALL LETTER MU
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};

// Go durations are int64 nanoseconds; anything past this overflows in Go and is rejected there.
const MAX_NS = (1n << 63n) - 1n;
const NS_PER_MS = 1_000_000n;
const MAX_INPUT_LENGTH = 128;

const invalid = (input: string, why: string): MeshcaError =>
  new MeshcaError('INVALID_INPUT', `invalid duration ${JSON.stringify(input)}: ${why}`, {
    hint: 'write a Go duration such as "720h", "1h30m" or "90s" (units: h, m, s, ms, us, ns; no days)',
  });

/**
 * Parses a Go duration string (`720h`, `1h30m`, `2h45m30.5s`) into milliseconds, following Go's
 * time.ParseDuration exactly, except that negative durations are rejected (no meshca field takes one).
 * The result may carry a fraction of a millisecond for `us`/`ns` components.
 */
export function parseGoDuration(input: string): number {
  if (input.length === 0) throw invalid(input, 'it is empty');
  if (input.length > MAX_INPUT_LENGTH)
    throw invalid(input.slice(0, 32) + '…', `it is longer than ${MAX_INPUT_LENGTH} characters`);
  let rest = input;
  if (rest.startsWith('-')) throw invalid(input, 'durations must not be negative');
  if (rest.startsWith('+')) rest = rest.slice(1);
  // Go accepts a bare "0" (and "+0") without a unit, nothing else unitless.
  if (rest === '0') return 0;
  if (rest.length === 0) throw invalid(input, 'it has no number');
  let total = 0n;
  while (rest.length > 0) {
    const m = /^(\d*)(?:\.(\d*))?/.exec(rest);
    const whole = m?.[1] ?? '';
    const frac = m?.[2] ?? '';
    if (whole.length === 0 && frac.length === 0) {
      throw invalid(input, `expected a number at ${JSON.stringify(rest)}`);
    }
    rest = rest.slice(m?.[0].length ?? 0);
    const u = /^[^\d.]+/.exec(rest)?.[0] ?? '';
    if (u.length === 0)
      throw invalid(input, `a unit is missing after ${JSON.stringify(whole + (frac ? '.' + frac : ''))}`);
    const unit = UNIT_NS[u];
    if (unit === undefined) {
      const why =
        u === 'd' || u === 'w' || u === 'y'
          ? `unit "${u}" is not a Go duration unit; use hours (e.g. 24h for a day)`
          : `unknown unit "${u}"`;
      throw invalid(input, why);
    }
    rest = rest.slice(u.length);
    let ns = BigInt(whole.length > 0 ? whole : '0') * unit;
    if (frac.length > 0) {
      // Go truncates fractional nanoseconds; so do we.
      ns += (BigInt(frac) * unit) / 10n ** BigInt(frac.length);
    }
    total += ns;
    if (total > MAX_NS) throw invalid(input, 'it is longer than Go allows (about 292 years)');
  }
  const ms = total / NS_PER_MS;
  const remNs = total % NS_PER_MS;
  return Number(ms) + Number(remNs) / 1e6;
}

/** Formats milliseconds the way Go's Duration.String does: `720h0m0s`, `1h30m0s`, `1.5s`, `250ms`, `0s`. */
export function formatGoDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) {
    throw new MeshcaError(
      'INVALID_INPUT',
      `cannot format ${String(ms)} as a duration: it must be a finite, non-negative number of milliseconds`,
    );
  }
  const wholeMs = Math.trunc(ms);
  const ns = BigInt(wholeMs) * NS_PER_MS + BigInt(Math.round((ms - wholeMs) * 1e6));
  if (ns === 0n) return '0s';
  if (ns < 1_000_000_000n) {
    // Below one second Go picks the largest unit that keeps an integer part: ms, µs or ns.
    if (ns < 1_000n) return `${ns}ns`;
    if (ns < 1_000_000n) return `${decimal(ns, 1_000n)}µs`;
    return `${decimal(ns, 1_000_000n)}ms`;
  }
  const h = ns / 3_600_000_000_000n;
  const afterH = ns % 3_600_000_000_000n;
  const m = afterH / 60_000_000_000n;
  const s = afterH % 60_000_000_000n;
  const secs = `${decimal(s, 1_000_000_000n)}s`;
  if (h > 0n) return `${h}h${m}m${secs}`;
  if (m > 0n) return `${m}m${secs}`;
  return secs;
}

// Integer division with the remainder printed as a decimal fraction without trailing zeros.
function decimal(value: bigint, unit: bigint): string {
  const whole = value / unit;
  const rem = value % unit;
  if (rem === 0n) return whole.toString();
  const width = unit.toString().length - 1;
  return `${whole}.${rem.toString().padStart(width, '0').replace(/0+$/, '')}`;
}
