import { describe, expect, it } from 'vitest';
import { isMeshcaError } from '../../errors/index.js';
import { renewalTime } from './renewal-time.js';

const nb = new Date('2030-01-01T00:00:00Z');
const na = new Date('2030-01-01T09:00:00Z'); // 9h lifetime
const h = 3_600_000;

describe('renewalTime', () => {
  it.each([
    ['renews at two thirds of the lifetime by default', {}, '2030-01-01T06:00:00.000Z'],
    [
      'renews renewBefore ahead of expiry when it is shorter than the lifetime',
      { renewBeforeMs: 1 * h },
      '2030-01-01T08:00:00.000Z',
    ],
    [
      'ignores a renewBefore as long as the lifetime and uses the default',
      { renewBeforeMs: 9 * h },
      '2030-01-01T06:00:00.000Z',
    ],
    ['ignores a zero renewBefore', { renewBeforeMs: 0 }, '2030-01-01T06:00:00.000Z'],
    [
      'uses renewBeforePercentage when renewBefore does not apply',
      { renewBeforePercentage: 50 },
      '2030-01-01T04:30:00.000Z',
    ],
    [
      'prefers a valid renewBefore to renewBeforePercentage',
      { renewBeforeMs: 3 * h, renewBeforePercentage: 50 },
      '2030-01-01T06:00:00.000Z',
    ],
    ['truncates to whole seconds', { renewBeforeMs: 1500 }, '2030-01-01T08:59:58.000Z'],
  ])('%s', (_name, extra, expected) => {
    expect(renewalTime({ notBefore: nb, notAfter: na, ...extra }).toISOString()).toBe(expected);
  });

  it.each([
    ['a notAfter before notBefore', { notBefore: na, notAfter: nb }],
    ['a percentage of 100', { notBefore: nb, notAfter: na, renewBeforePercentage: 100 }],
    ['a percentage of 0', { notBefore: nb, notAfter: na, renewBeforePercentage: 0 }],
  ])('refuses %s with VALIDITY_INVALID', (_name, args) => {
    expect(() => renewalTime(args)).toThrow(expect.objectContaining({ code: 'VALIDITY_INVALID' }) as Error);
    try {
      renewalTime(args);
    } catch (err) {
      expect(isMeshcaError(err, 'VALIDITY_INVALID')).toBe(true);
    }
  });
});
