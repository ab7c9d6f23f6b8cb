import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_PROBLEM_DETAIL, parseRetryAfter, problemError, readProblem } from './acme-problem.js';

const now = new Date('2030-01-01T00:00:00Z');

describe('parseRetryAfter', () => {
  it.each([
    ['delay-seconds is counted from now', '120', '2030-01-01T00:02:00.000Z'],
    ['an HTTP-date is taken as it is', 'Tue, 01 Jan 2030 00:05:00 GMT', '2030-01-01T00:05:00.000Z'],
    ['a date in the past means now', 'Mon, 31 Dec 2029 00:00:00 GMT', '2030-01-01T00:00:00.000Z'],
    ['a wait longer than a day is capped at a day', '999999999', '2030-01-02T00:00:00.000Z'],
  ])('%s', (_name, header, expected) => {
    expect(parseRetryAfter(header, now)?.toISOString()).toBe(expected);
  });

  it.each([
    ['absent', undefined],
    ['not a date', 'soon'],
    ['an oversized header', '1'.repeat(100)],
    ['a number type', 5],
  ])('reads nothing from a header that is %s', (_name, header) => {
    expect(parseRetryAfter(header, now)).toBeUndefined();
  });

  it('never answers an instant before now or more than a day after it, whatever the header', () => {
    fc.assert(
      fc.property(fc.string(), (header) => {
        const at = parseRetryAfter(header, now);
        if (at === undefined) return;
        expect(at.getTime()).toBeGreaterThanOrEqual(now.getTime());
        expect(at.getTime()).toBeLessThanOrEqual(now.getTime() + 86_400_000);
      }),
    );
  });
});

describe('problemError', () => {
  it.each([
    [
      'a rateLimited problem is retryable and keeps Retry-After',
      429,
      'urn:ietf:params:acme:error:rateLimited',
      'RATE_LIMITED',
      true,
    ],
    ['a 503 is retryable', 503, 'urn:ietf:params:acme:error:serverInternal', 'UPSTREAM_UNAVAILABLE', true],
    [
      'a badNonce left over after retries is retryable',
      400,
      'urn:ietf:params:acme:error:badNonce',
      'UPSTREAM_UNAVAILABLE',
      true,
    ],
    [
      'a rejectedIdentifier is final',
      400,
      'urn:ietf:params:acme:error:rejectedIdentifier',
      'UPSTREAM_REJECTED',
      false,
    ],
    ['an unauthorized is final', 403, 'urn:ietf:params:acme:error:unauthorized', 'UPSTREAM_REJECTED', false],
  ])('%s', (_name, status, type, code, retryable) => {
    const error = problemError('the new order', status, { type, detail: 'said the server' }, '30', now);
    expect(error.code).toBe(code);
    expect(error.retryable).toBe(retryable);
    expect(error.message).toContain(`said the server (${type})`);
    expect(error.problem).toEqual({ type, detail: 'said the server', status });
    expect(error.retryAfter?.toISOString()).toBe('2030-01-01T00:00:30.000Z');
  });

  it('keeps a hostile detail to one line of bounded length', () => {
    const problem = readProblem({ type: 'x', detail: `evil\n\u0007${'a'.repeat(10_000)}` }, 400);
    expect(problem.detail.includes('\n') || problem.detail.includes('\u0007')).toBe(false);
    expect(problem.detail.length).toBeLessThanOrEqual(MAX_PROBLEM_DETAIL + 1);
  });

  it.each([
    ['a string body', 'oops'],
    ['an array body', [1, 2]],
    ['null', null],
    ['fields of the wrong types', { type: 7, detail: { nested: true }, status: 'x' }],
  ])('reads %s as a problem without a document', (_name, body) => {
    expect(readProblem(body, 500)).toEqual({
      type: 'about:blank',
      detail: 'HTTP 500 without a problem document',
      status: 500,
    });
  });
});
