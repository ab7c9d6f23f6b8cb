import { describe, expect, it } from 'vitest';
import { suggestName } from './suggest.js';

const SUBJECT = [
  'organizations',
  'countries',
  'organizationalUnits',
  'localities',
  'provinces',
  'streetAddresses',
  'postalCodes',
  'serialNumber',
];

describe('suggestName', () => {
  it.each([
    ['organisations', SUBJECT, 'organizations'],
    ['Organizations', SUBJECT, 'organizations'],
    ['organization', SUBJECT, 'organizations'],
    ['organisationalUnits', SUBJECT, 'organizationalUnits'],
    ['postal_codes', SUBJECT, 'postalCodes'],
    ['contries', SUBJECT, 'countries'],
    ['dnsName', ['dnsNames', 'uris', 'ipAddresses'], 'dnsNames'],
    ['secretname', ['secretName', 'secretTemplate'], 'secretName'],
    ['isCa', ['isCA', 'usages'], 'isCA'],
    ['renewbefore', ['renewBefore', 'renewBeforePercentage'], 'renewBefore'],
    ['grup', ['name', 'kind', 'group'], 'group'],
    ['server-auth', ['server auth', 'client auth'], 'server auth'],
    ['ecdsa', ['RSA', 'ECDSA', 'Ed25519'], 'ECDSA'],
    ['colour', ['color'], 'color'],
  ])('suggests the field meant by %j', (input, candidates, meant) => {
    expect(suggestName(input, candidates)).toBe(meant);
  });

  it.each([
    ['venafi', ['selfSigned', 'ca', 'vault', 'acme']],
    ['x', ['isCA', 'uris']],
    ['completelyDifferent', SUBJECT],
    ['a'.repeat(10_000), SUBJECT],
  ])('suggests nothing for %j, which is close to no candidate', (input, candidates) => {
    expect(suggestName(input, candidates)).toBeUndefined();
  });

  it('does not suggest the very name the user typed', () => {
    expect(suggestName('spec', ['spec'])).toBeUndefined();
  });
});
