import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isMeshcaError } from '../errors/index.js';
import {
  formatLabelSelector,
  matchesLabelSelector,
  parseLabelSelector,
  type LabelRequirement,
  type LabelSelector,
} from './label-selector.js';

const nameChar = fc.constantFrom(...'abcxyzABZ019-_.'.split(''));
const alnum = fc.constantFrom(...'abcxyzABZ019'.split(''));
/** A label name part or value: alphanumeric ends, at most 63 characters. */
const namePart = fc
  .tuple(alnum, fc.array(nameChar, { maxLength: 10 }), alnum)
  .map(([a, mid, b]) => `${a}${mid.join('')}${b}`);
const dnsLabel = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?$/);
const labelKey = fc.oneof(
  namePart,
  fc
    .tuple(fc.array(dnsLabel, { minLength: 1, maxLength: 3 }), namePart)
    .map(([p, n]) => `${p.join('.')}/${n}`),
);
const labelValue = fc.oneof(fc.constant(''), namePart);

const requirement: fc.Arbitrary<LabelRequirement> = fc.oneof(
  fc.record({
    key: labelKey,
    operator: fc.constantFrom('Equals' as const, 'NotEquals' as const),
    values: labelValue.map((v) => [v]),
  }),
  fc.record({
    key: labelKey,
    operator: fc.constantFrom('In' as const, 'NotIn' as const),
    values: fc.array(namePart, { minLength: 1, maxLength: 4 }),
  }),
  fc.record({
    key: labelKey,
    operator: fc.constantFrom('Exists' as const, 'DoesNotExist' as const),
    values: fc.constant([]),
  }),
);
const selector: fc.Arbitrary<LabelSelector> = fc.array(requirement, { maxLength: 5 });
const labels = fc.dictionary(
  fc.constantFrom('app', 'tier', 'a.io/x'),
  fc.constantFrom('', 'web', 'db', 'v1'),
);

describe('parseLabelSelector', () => {
  it.each<[string, LabelSelector]>([
    ['', []],
    ['   ', []],
    ['app=web', [{ key: 'app', operator: 'Equals', values: ['web'] }]],
    ['app==web', [{ key: 'app', operator: 'Equals', values: ['web'] }]],
    ['app!=web', [{ key: 'app', operator: 'NotEquals', values: ['web'] }]],
    ['app=', [{ key: 'app', operator: 'Equals', values: [''] }]],
    ['tier in (a, b)', [{ key: 'tier', operator: 'In', values: ['a', 'b'] }]],
    ['tier notin (a)', [{ key: 'tier', operator: 'NotIn', values: ['a'] }]],
    ['meshca.io/role', [{ key: 'meshca.io/role', operator: 'Exists', values: [] }]],
    ['!meshca.io/role', [{ key: 'meshca.io/role', operator: 'DoesNotExist', values: [] }]],
    [
      ' a = b , c in(d) ,! e ',
      [
        { key: 'a', operator: 'Equals', values: ['b'] },
        { key: 'c', operator: 'In', values: ['d'] },
        { key: 'e', operator: 'DoesNotExist', values: [] },
      ],
    ],
  ])('reads %j', (text, expected) => {
    expect(parseLabelSelector(text)).toEqual(expected);
  });

  it.each([
    ['app in web', 'invalid label selector at column 8: expected "(" after "in": write it as app in (v1,v2)'],
    ['app=web,', 'invalid label selector at column 9: expected a requirement after the trailing ","'],
    ['=web', 'invalid label selector at column 1: expected a label key, found "="'],
    ['app=we b', 'invalid label selector at column 8: expected "," between requirements, found "b"'],
    ['app in (a', 'invalid label selector at column 10: expected "," or ")" in the value list of "app in"'],
    ['a!b', 'invalid label selector at column 2: expected "!=" after "!" following key "a"'],
    ['app in ()', 'invalid label selector at column 9: expected a label value, found ")"'],
    [
      'app has x',
      'invalid label selector at column 5: expected an operator (=, ==, !=, in, notin) or "," after key "app", found "has"',
    ],
    ['x/', 'invalid label selector at column 1: label key "x/": the name part is empty'],
    [
      'UPPER.case/a=b',
      'invalid label selector at column 1: label key "UPPER.case/a": prefix "UPPER.case" must be a DNS subdomain',
    ],
    [
      `a=${'v'.repeat(64)}`,
      'invalid label selector at column 3: label value has 64 characters, at most 63 are allowed',
    ],
  ])('refuses %j with INVALID_INPUT: %s', (text, message) => {
    let caught: unknown;
    try {
      parseLabelSelector(text);
    } catch (e) {
      caught = e;
    }
    expect(caught).toMatchObject({ code: 'INVALID_INPUT' });
    expect((caught as Error).message.startsWith(message)).toBe(true);
  });

  it('refuses a selector over 4096 characters with INPUT_TOO_LARGE', () => {
    expect(() => parseLabelSelector(`a in (${'x,'.repeat(3000)}x)`)).toThrow(
      expect.objectContaining({ code: 'INPUT_TOO_LARGE' }),
    );
  });

  it('reads back what formatLabelSelector writes, for any selector', () => {
    fc.assert(
      fc.property(selector, (s) => {
        expect(parseLabelSelector(formatLabelSelector(s))).toEqual(s);
      }),
    );
  });

  it('on any text either parses or fails with a MeshcaError, never anything else', () => {
    const alphabet = fc.constantFrom(...'ab=!(),  in notin/.-_'.split(''), 'in', 'notin', '!=', '==');
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 40 }),
          fc.array(alphabet, { maxLength: 20 }).map((p) => p.join('')),
        ),
        (text) => {
          try {
            parseLabelSelector(text);
          } catch (e) {
            expect(isMeshcaError(e, 'INVALID_INPUT')).toBe(true);
            expect((e as Error).message).toMatch(/^invalid label selector at column \d+: /);
          }
        },
      ),
    );
  });
});

describe('matchesLabelSelector', () => {
  it.each<[string, Record<string, string> | undefined, boolean]>([
    ['app=web', { app: 'web' }, true],
    ['app=web', { app: 'db' }, false],
    ['app=web', undefined, false],
    ['app!=web', undefined, true],
    ['app!=web', { app: 'db' }, true],
    ['app notin (web)', {}, true],
    ['app in (web,db)', { app: 'db' }, true],
    ['app', { app: '' }, true],
    ['!app', { app: '' }, false],
    ['app=', { app: '' }, true],
    ['toString', {}, false],
    ['', undefined, true],
  ])('%j against %j is %s', (text, l, expected) => {
    expect(matchesLabelSelector(parseLabelSelector(text), l)).toBe(expected);
  });

  it('!= is the negation of =, notin of in, and !key of key, for any labels', () => {
    fc.assert(
      fc.property(
        labels,
        fc.constantFrom('app', 'tier', 'a.io/x'),
        fc.array(fc.constantFrom('', 'web', 'db'), { minLength: 1 }),
        (l, key, values) => {
          const one = (operator: LabelRequirement['operator'], v: string[]): boolean =>
            matchesLabelSelector([{ key, operator, values: v }], l);
          expect(one('NotEquals', values.slice(0, 1))).toBe(!one('Equals', values.slice(0, 1)));
          expect(one('NotIn', values)).toBe(!one('In', values));
          expect(one('DoesNotExist', [])).toBe(!one('Exists', []));
        },
      ),
    );
  });

  it('a selector of several requirements matches when each one does', () => {
    fc.assert(
      fc.property(selector, labels, (s, l) => {
        expect(matchesLabelSelector(s, l)).toBe(s.every((r) => matchesLabelSelector([r], l)));
      }),
    );
  });
});
