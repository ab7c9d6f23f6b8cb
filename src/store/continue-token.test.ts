import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isMeshcaError } from '../errors/index.js';
import { decodeContinueToken, encodeContinueToken } from './continue-token.js';

describe('continue tokens', () => {
  it('decode what they encode, for any position', () => {
    fc.assert(
      fc.property(fc.string(), fc.nat().map(String), fc.string(), fc.string(), (scope, rv, ns, name) => {
        const token = { scope, resourceVersion: rv, after: [ns, name] as [string, string] };
        expect(decodeContinueToken(encodeContinueToken(token), scope)).toEqual(token);
      }),
    );
  });

  it('refuse any other text with INVALID_INPUT', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        try {
          decodeContinueToken(text, 'scope');
        } catch (e) {
          expect(isMeshcaError(e, 'INVALID_INPUT')).toBe(true);
        }
      }),
    );
  });

  it.each([
    [
      'a token of another list',
      encodeContinueToken({ scope: 'other', resourceVersion: '1', after: ['a', 'b'] }),
      'another list',
    ],
    [
      'a non-numeric resourceVersion',
      Buffer.from(JSON.stringify([1, 'scope', 'x', 'a', 'b'])).toString('base64url'),
      'malformed',
    ],
    [
      'another format version',
      Buffer.from(JSON.stringify([2, 'scope', '1', 'a', 'b'])).toString('base64url'),
      'malformed',
    ],
    ['a number', 42, 'malformed'],
  ])('refuse %s', (_what, text, fragment) => {
    expect(() => decodeContinueToken(text, 'scope')).toThrow(fragment);
  });
});
