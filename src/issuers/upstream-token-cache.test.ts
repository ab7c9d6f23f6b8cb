import { describe, expect, it } from 'vitest';
import { UpstreamTokenCache } from './upstream-token-cache.js';

const at = (s: number): Date => new Date(Date.UTC(2030, 0, 1) + s * 1000);

describe('UpstreamTokenCache', () => {
  it.each([
    ['well before its lease ends', 0, true],
    ['31 seconds before its lease ends', 569, true],
    ['within the 30-second margin before its lease ends', 571, false],
    ['after its lease ended', 700, false],
  ])('hands a token out %s only while it is usable', (_what, second, kept) => {
    const cache = new UpstreamTokenCache();
    cache.set('k', { token: 't', expiresAt: at(600) });
    expect(cache.get('k', at(second))?.token).toBe(kept ? 't' : undefined);
  });

  it('keeps a token with no lease until it is deleted', () => {
    const cache = new UpstreamTokenCache();
    cache.set('k', { token: 't' });
    expect(cache.get('k', at(1e9))?.token).toBe('t');
    cache.delete('k');
    expect(cache.get('k', at(0))).toBeUndefined();
    expect(cache.size).toBe(0);
  });
});
