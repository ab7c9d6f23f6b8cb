import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MeshcaError } from '../../errors/index.js';
import { decodeGrpcMessage, encodeGrpcMessage } from './grpc-message.js';
import { GrpcStatus, grpcFailureOf } from './grpc-status.js';
import { parseGrpcTimeout } from './grpc-timeout.js';
import { VerifiedTokenCache } from '../auth/verified-token-cache.js';

describe('grpc-message percent-encoding', () => {
  it('round-trips every string and emits only 0x20–0x7E', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (s) => {
        const enc = encodeGrpcMessage(s);
        expect(enc).toMatch(/^[\x20-\x7e]*$/);
        expect(decodeGrpcMessage(enc)).toBe(s);
      }),
    );
  });

  it.each([
    ['plain text', 'csr is bad', 'csr is bad'],
    ['a percent sign', '100%', '100%25'],
    ['a newline and a non-ASCII letter', 'a\né', 'a%0A%C3%A9'],
  ])('encodes %s as the spec says', (_n, input, want) => {
    expect(encodeGrpcMessage(input)).toBe(want);
  });

  it('keeps a malformed escape as it is', () => {
    expect(decodeGrpcMessage('50%zz%4')).toBe('50%zz%4');
  });
});

describe('grpc-timeout', () => {
  it.each([
    ['10S', 10_000],
    ['1H', 3_600_000],
    ['2M', 120_000],
    ['250m', 250],
    ['99999999u', 99_999.999],
    ['1000000n', 1],
  ])('reads %s as %d ms', (v, ms) => {
    expect(parseGrpcTimeout(v)).toBeCloseTo(ms, 6);
  });

  it.each(['', '10', 'S', '123456789S', '10s', '-1S', '1.5S', '10 S'])('refuses %j', (v) => {
    expect(() => parseGrpcTimeout(v)).toThrow('malformed grpc-timeout header');
  });
});

describe('status mapping', () => {
  it.each([
    [new MeshcaError('UNAUTHENTICATED', 'x'), GrpcStatus.UNAUTHENTICATED],
    [new MeshcaError('RATE_LIMITED', 'x'), GrpcStatus.RESOURCE_EXHAUSTED],
    [new MeshcaError('PERMISSION_DENIED', 'x'), GrpcStatus.PERMISSION_DENIED],
    [new MeshcaError('ISSUER_NOT_READY', 'x'), GrpcStatus.UNAVAILABLE],
    [new TypeError('boom'), GrpcStatus.INTERNAL],
  ])('maps %s through the error catalog', (err, status) => {
    expect(grpcFailureOf(err).status).toBe(status);
  });
});

describe('the verified-token cache', () => {
  it('holds at most its bound and drops entries at their expiry', () => {
    const c = new VerifiedTokenCache<number>(3);
    for (let i = 0; i < 10; i++) c.set(VerifiedTokenCache.keyOf(`t${i}`), i, 100);
    expect(c.size).toBe(3);
    expect(c.get(VerifiedTokenCache.keyOf('t9'), 99)).toBe(9);
    expect(c.get(VerifiedTokenCache.keyOf('t0'), 0)).toBeUndefined();
    expect(c.get(VerifiedTokenCache.keyOf('t9'), 100)).toBeUndefined();
  });
});
