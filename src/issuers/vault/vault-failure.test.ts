import { describe, expect, it } from 'vitest';
import { vaultErrorsText, vaultFailure } from './vault-failure.js';

describe('vaultErrorsText', () => {
  it.each([
    [{ errors: ['permission denied'] }, 'permission denied'],
    [{ errors: ['1 error occurred:\n\t* unknown role: mesh\n\n'] }, '1 error occurred: * unknown role: mesh'],
    [{ errors: ['a', 7, '', 'b'] }, 'a; b'],
    [{ errors: [] }, undefined],
    [{ errors: 'permission denied' }, undefined],
    ['text', undefined],
    [null, undefined],
  ])('reads %j as %j', (body, text) => {
    expect(vaultErrorsText(body)).toBe(text);
  });

  it('cuts a huge errors array to a readable length', () => {
    expect(vaultErrorsText({ errors: ['x'.repeat(10_000)] })?.length).toBeLessThanOrEqual(501);
  });
});

describe('vaultFailure', () => {
  it.each([
    [500, 'UPSTREAM_UNAVAILABLE', true],
    [503, 'UPSTREAM_UNAVAILABLE', true],
    [429, 'UPSTREAM_UNAVAILABLE', true],
    [400, 'UPSTREAM_REJECTED', false],
    [403, 'UPSTREAM_REJECTED', false],
    [404, 'UPSTREAM_REJECTED', false],
  ])("maps HTTP %d to %s (retryable %s), with Vault's own words", (status, code, retryable) => {
    const err = vaultFailure({ status, body: { errors: ['permission denied'] } }, 'sign at pki/sign/mesh');
    expect(err).toMatchObject({
      code,
      retryable,
      message: `vault: sign at pki/sign/mesh: HTTP ${status}: permission denied`,
    });
  });
});
