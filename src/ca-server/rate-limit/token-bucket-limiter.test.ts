import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TokenBucketLimiter } from './token-bucket-limiter.js';

describe('the token bucket limiter', () => {
  it('allows a burst, then refuses with the wait until the next token', () => {
    let now = 0;
    const l = new TokenBucketLimiter({ ratePerSecond: 2, burst: 3, maxKeys: 10, clock: () => now });
    expect([l.take('a'), l.take('a'), l.take('a')].every((r) => r.allowed)).toBe(true);
    expect(l.take('a')).toEqual({ allowed: false, retryAfterMs: 500 });
    expect(l.take('b').allowed).toBe(true);
    now = 500;
    expect(l.take('a').allowed).toBe(true);
    expect(l.take('a').allowed).toBe(false);
  });

  it('never allows more than burst plus rate × elapsed, whatever the call pattern', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 2000 }), { maxLength: 200 }), (gaps) => {
        let now = 0;
        const l = new TokenBucketLimiter({ ratePerSecond: 5, burst: 4, maxKeys: 10, clock: () => now });
        let allowed = 0;
        for (const g of gaps) {
          now += g;
          if (l.take('k').allowed) allowed++;
        }
        expect(allowed).toBeLessThanOrEqual(4 + Math.floor((now * 5) / 1000));
      }),
    );
  });

  it('keeps at most maxKeys buckets, forgetting the least recently used', () => {
    const l = new TokenBucketLimiter({ ratePerSecond: 1, burst: 1, maxKeys: 100, clock: () => 0 });
    for (let i = 0; i < 10_000; i++) l.take(`id-${i}`);
    expect(l.size).toBe(100);
  });

  it('adds nothing when the clock steps back', () => {
    let now = 10_000;
    const l = new TokenBucketLimiter({ ratePerSecond: 1, burst: 1, maxKeys: 10, clock: () => now });
    l.take('a');
    now = 0;
    expect(l.take('a').allowed).toBe(false);
  });

  it('refuses a configuration that cannot work', () => {
    expect(() => new TokenBucketLimiter({ ratePerSecond: 0, burst: 1, maxKeys: 1, clock: () => 0 })).toThrow(
      'ratePerSecond > 0',
    );
  });
});
