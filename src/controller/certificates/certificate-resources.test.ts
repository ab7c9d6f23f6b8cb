import { describe, expect, it } from 'vitest';
import { checkDns1123Subdomain } from '../../api/value-rules.js';
import { requestName, suffixedName } from './certificate-resources.js';

/** A valid Certificate name of `length` characters whose character at `at` is `c`. */
const nameOf = (length: number, at?: number, c?: string): string => {
  const chars = Array.from({ length }, (_, i) => 'abcdefghij'[i % 10]!);
  if (at !== undefined && c !== undefined) chars[at] = c;
  return chars.join('');
};

describe('requestName', () => {
  it('keeps <certificate>-<revision> for every name that fits, as stores already hold it', () => {
    expect(requestName('web', 1)).toBe('web-1');
    expect(requestName('istio-ca', 12)).toBe('istio-ca-12');
    const n251 = nameOf(251);
    expect(requestName(n251, 9)).toBe(`${n251}-9`);
    expect(requestName(n251, 9)).toHaveLength(253);
  });

  it.each<[string, string, number]>([
    ['of 253 characters at revision 1', nameOf(253), 1],
    ['of 252 characters at revision 1', nameOf(252), 1],
    ['of 251 characters at revision 10', nameOf(251), 10],
    ['of 253 characters with "-" at character 52', nameOf(253, 51, '-'), 3],
    ['of 253 characters with "." at character 52', nameOf(253, 51, '.'), 3],
    ['of 253 characters with "--" at characters 51 and 52', `${nameOf(50)}--${nameOf(201)}`, 7],
  ])('shortens the name of a Certificate %s to a valid name', (_what, name, revision) => {
    expect(checkDns1123Subdomain(name)).toBeUndefined();
    const shortened = requestName(name, revision);
    expect(checkDns1123Subdomain(shortened)).toBeUndefined();
    expect(shortened.length).toBeLessThanOrEqual(52 + 1 + 16);
    expect(shortened).toMatch(/^[a-z0-9][-a-z0-9.]*[a-z0-9]-[0-9a-f]{16}$/);
    expect(name.startsWith(shortened.slice(0, -17))).toBe(true);
    // The same Certificate and revision always give the same name: every controller finds it.
    expect(requestName(name, revision)).toBe(shortened);
  });

  it('gives every revision of a long name, and long names sharing a prefix, their own request', () => {
    const a = nameOf(253);
    const b = `${a.slice(0, 252)}z`;
    const names = new Set<string>();
    for (let r = 1; r <= 50; r++) {
      names.add(requestName(a, r));
      names.add(requestName(b, r));
    }
    expect(names.size).toBe(100);
  });
});

describe('suffixedName', () => {
  it('appends the suffix to a name that leaves room for it', () => {
    expect(suffixedName('web', 'x7k2p')).toBe('web-x7k2p');
    expect(suffixedName(nameOf(247), 'x7k2p')).toBe(`${nameOf(247)}-x7k2p`);
  });

  it('shortens a long name, cut back to a letter or digit, so the result stays a valid name', () => {
    const name = nameOf(253, 51, '.');
    const result = suffixedName(name, 'x7k2p');
    expect(result).toBe(`${name.slice(0, 51)}-x7k2p`);
    expect(checkDns1123Subdomain(result)).toBeUndefined();
  });
});
