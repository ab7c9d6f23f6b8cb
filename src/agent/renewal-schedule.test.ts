import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isMeshcaError } from '../errors/index.js';
import { MAX_GRACE_PERIOD_RATIO, MIN_GRACE_PERIOD_RATIO, MISSING_BACKOFF, RENEWAL_BACKOFF, backoffDelay, nextRenewalAt } from './renewal-schedule.js';

const H = 3_600_000;
const T = new Date('2026-01-01T00:00:00Z');
const cert = (lifetimeMs: number, from = T) => ({ notBefore: from, notAfter: new Date(from.getTime() + lifetimeMs) });
const at = (ms: number): string => new Date(T.getTime() + ms).toISOString();

describe('nextRenewalAt', () => {
  it.each([
    ['renews a 24h certificate at 12h with ratio 0.5 and no jitter', 24 * H, 0.5, 0.5, at(12 * H)],
    ['moves the ratio down by 0.01 (renews later) when random is 0', 24 * H, 0.5, 0, at(12 * H + 0.01 * 24 * H)],
    ['moves the ratio up by almost 0.01 (renews earlier) when random is almost 1', 24 * H, 0.5, 0.999999, at(12 * H - 0.01 * 24 * H + Math.round(0.000002 * 0.01 * 24 * H))],
    ['renews at 80% of the lifetime with ratio 0.2', 10 * H, 0.2, 0.5, at(8 * H)],
    ['renews a one-hour certificate at 30 minutes', H, 0.5, 0.5, at(H / 2)],
  ])('%s', (_name, lifetime, ratio, random, expected) => {
    expect(nextRenewalAt(cert(lifetime), ratio, () => random).toISOString()).toBe(expected);
  });

  it.each([
    ['a ratio of 0', 0],
    ['a ratio of 1', 1],
    ['a negative ratio', -0.5],
    ['a ratio that is not a number', Number.NaN],
    // With the ±0.01 jitter these could renew at notAfter itself (or at notBefore, over and over).
    ['a ratio of 0.01', 0.01],
    ['a ratio of 0.005', 0.005],
    ['a ratio just under 0.02', 0.0199],
    ['a ratio of 0.99', 0.99],
    ['a ratio just over 0.98', 0.9801],
  ])('refuses %s with a message naming the allowed range', (_name, ratio) => {
    expect(() => nextRenewalAt(cert(H), ratio, () => 0.5)).toThrow(/^the grace period ratio must be from 0.02 to 0.98, got /);
  });

  it.each([
    ['the smallest ratio, moved down by the whole jitter, renews 1% of the lifetime before notAfter', 0.02, 0, at(100 * H - H)],
    ['the largest ratio, moved up by almost the whole jitter, renews about 1% of the lifetime after notBefore', 0.98, 0.9999999, at(H)],
  ])('%s', (_name, ratio, random, expected) => {
    const renew = nextRenewalAt(cert(100 * H), ratio, () => random).getTime();
    expect(Math.abs(renew - new Date(expected).getTime())).toBeLessThanOrEqual(100);
  });

  it('renews at least 1% of the lifetime before notAfter and after notBefore for every accepted ratio, whatever random returns', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 400 * 24 * 3600 }).map((s) => s * 1000),
        fc.double({ min: MIN_GRACE_PERIOD_RATIO, max: MAX_GRACE_PERIOD_RATIO, noNaN: true }),
        fc.oneof(fc.double({ min: -1, max: 2, noNaN: true }), fc.constantFrom(0, 1, 1 - Number.EPSILON)),
        (life, ratio, r) => {
          const c = cert(life);
          const renew = nextRenewalAt(c, ratio, () => r).getTime();
          const margin = Math.round(0.01 * life) - 1;
          expect(renew).toBeLessThan(c.notAfter.getTime());
          expect(c.notAfter.getTime() - renew).toBeGreaterThanOrEqual(margin);
          expect(renew - c.notBefore.getTime()).toBeGreaterThanOrEqual(margin);
        },
      ),
    );
  });

  it('refuses a certificate whose notAfter is not after its notBefore', () => {
    try {
      nextRenewalAt({ notBefore: T, notAfter: T }, 0.5, () => 0.5);
      expect.unreachable();
    } catch (err) {
      expect(isMeshcaError(err, 'VALIDITY_INVALID')).toBe(true);
    }
  });

  it('always lands inside the lifetime, within ±1% of the lifetime of the ratio point, whatever random returns', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1000, max: 400 * 24 * H }), fc.double({ min: 0.02, max: 0.98, noNaN: true }), fc.double({ min: -1, max: 2, noNaN: true }), (life, ratio, r) => {
        const c = cert(life);
        const renew = nextRenewalAt(c, ratio, () => r).getTime();
        const point = c.notAfter.getTime() - ratio * life;
        expect(renew).toBeGreaterThanOrEqual(c.notBefore.getTime());
        expect(renew).toBeLessThanOrEqual(c.notAfter.getTime());
        expect(Math.abs(renew - point)).toBeLessThanOrEqual(0.01 * life + 1);
      }),
    );
  });
});

describe('backoffDelay', () => {
  it.each([
    ['waits between 0.5 s and 1 s before the first retry', 1, 0, 500],
    ['waits exactly the ceiling when random is almost 1', 1, 0.9999999, 1000],
    ['doubles the ceiling each attempt (attempt 4: 8 s ceiling)', 4, 0, 4000],
    ['caps the ceiling at 5 minutes while a valid certificate is in place', 20, 0, 150_000],
    ['stays capped for an absurd attempt number', 5000, 0.9999999, 300_000],
  ])('%s', (_name, attempt, random, expected) => {
    expect(backoffDelay(attempt, () => random, RENEWAL_BACKOFF)).toBe(expected);
  });

  it('caps at 30 s when no valid certificate is in place, so a workload without one gets it sooner', () => {
    expect(backoffDelay(50, () => 0.9999999, MISSING_BACKOFF)).toBe(30_000);
  });

  it.each([
    ['attempt 0', 0],
    ['a negative attempt', -1],
    ['a fractional attempt', 1.5],
  ])('refuses %s', (_name, attempt) => {
    expect(() => backoffDelay(attempt, () => 0, RENEWAL_BACKOFF)).toThrow(/whole number from 1/);
  });

  it('refuses a policy whose cap is below its first delay', () => {
    expect(() => backoffDelay(1, () => 0, { initialMs: 10, maxMs: 5 })).toThrow(/0 < initialMs ≤ maxMs, got 10 and 5/);
  });

  it('never goes below half its ceiling nor above the cap, and never shrinks as attempts grow', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 200 }), fc.double({ min: 0, max: 1, noNaN: true }), (attempt, r) => {
        const d = backoffDelay(attempt, () => r, RENEWAL_BACKOFF);
        const ceiling = Math.min(1000 * 2 ** (attempt - 1), 300_000);
        expect(d).toBeGreaterThanOrEqual(ceiling / 2);
        expect(d).toBeLessThanOrEqual(300_000);
        expect(backoffDelay(attempt + 1, () => r, RENEWAL_BACKOFF)).toBeGreaterThanOrEqual(d);
      }),
    );
  });
});
