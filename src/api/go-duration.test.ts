import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isMeshcaError } from '../errors/index.js';
import { formatGoDuration, parseGoDuration } from './go-duration.js';

const HOUR = 3_600_000;

describe('parseGoDuration', () => {
  it.each([
    ['720h', 720 * HOUR],
    ['1h30m', 1.5 * HOUR],
    ['90s', 90_000],
    ['2h45m30.5s', 2 * HOUR + 45 * 60_000 + 30_500],
    ['0', 0],
    ['+0', 0],
    ['0s', 0],
    ['1.5h', 1.5 * HOUR],
    ['.5s', 500],
    ['5.s', 5_000],
    ['250ms', 250],
    ['1500us', 1.5],
    ['1500µs', 1.5],
    ['1500μs', 1.5],
    ['1ns', 0.000001],
    ['1h1h', 2 * HOUR],
    ['+15m', 15 * 60_000],
    ['2562047h47m16.854775807s', 9_223_372_036_854.775],
  ])('reads %s as Go does', (input, ms) => {
    expect(parseGoDuration(input)).toBeCloseTo(ms, 6);
  });

  it.each([
    ['', 'it is empty'],
    ['1d', 'unit "d" is not a Go duration unit; use hours (e.g. 24h for a day)'],
    ['2w', 'unit "w" is not a Go duration unit'],
    ['-1h', 'durations must not be negative'],
    ['10', 'a unit is missing after "10"'],
    ['1h30', 'a unit is missing after "30"'],
    ['h', 'expected a number at "h"'],
    ['.s', 'expected a number at ".s"'],
    ['1x', 'unknown unit "x"'],
    ['1H', 'unknown unit "H"'],
    ['1 h', 'unknown unit " h"'],
    ['+', 'it has no number'],
    ['2562047h47m16.854775808s', 'it is longer than Go allows (about 292 years)'],
    ['9'.repeat(200) + 'h', 'it is longer than 128 characters'],
  ])('rejects %j because %s', (input, why) => {
    try {
      parseGoDuration(input);
      expect.unreachable('parseGoDuration accepted a bad duration');
    } catch (err) {
      expect(isMeshcaError(err, 'INVALID_INPUT')).toBe(true);
      expect((err as Error).message).toContain(why);
    }
  });
});

describe('formatGoDuration', () => {
  it.each([
    [720 * HOUR, '720h0m0s'],
    [1.5 * HOUR, '1h30m0s'],
    [90_000, '1m30s'],
    [30_500, '30.5s'],
    [250, '250ms'],
    [1.5, '1.5ms'],
    [0.0015, '1.5µs'],
    [0.000001, '1ns'],
    [0, '0s'],
    [HOUR + 0.5, '1h0m0.0005s'],
  ])('prints %d ms as %s, like Go', (ms, text) => {
    expect(formatGoDuration(ms)).toBe(text);
  });

  it.each([[-1], [Number.NaN], [Number.POSITIVE_INFINITY]])('refuses %d, which is no duration', (ms) => {
    expect(() => formatGoDuration(ms)).toThrow(/must be a finite, non-negative number of milliseconds/);
  });

  it('reads back every whole number of milliseconds it prints', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 9_000_000_000_000 }), (ms) => {
        expect(parseGoDuration(formatGoDuration(ms))).toBe(ms);
      }),
    );
  });

  it('prints the canonical form of any composed duration it can read', () => {
    const component = fc.tuple(fc.integer({ min: 0, max: 10_000 }), fc.constantFrom('h', 'm', 's', 'ms'));
    fc.assert(
      fc.property(fc.array(component, { minLength: 1, maxLength: 4 }), (parts) => {
        const text = parts.map(([n, u]) => `${n}${u}`).join('');
        const ms = parseGoDuration(text);
        const unit: Record<string, number> = { h: HOUR, m: 60_000, s: 1000, ms: 1 };
        expect(ms).toBe(parts.reduce((sum, [n, u]) => sum + n * (unit[u] ?? 0), 0));
        expect(parseGoDuration(formatGoDuration(ms))).toBe(ms);
      }),
    );
  });

  it('never throws anything but a MeshcaError on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (text) => {
        try {
          expect(parseGoDuration(text)).toBeGreaterThanOrEqual(0);
        } catch (err) {
          expect(isMeshcaError(err, 'INVALID_INPUT')).toBe(true);
        }
      }),
    );
  });
});
