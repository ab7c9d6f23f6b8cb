import { describe, expect, it } from 'vitest';
import { makeIssued, makeRoot } from '../../pki/testing/pki-fixtures.js';
import { alternateChainUrls, chainMatchesPreferred } from './acme-alternates.js';

const BASE = 'https://acme.example.test/cert/1';

describe('alternateChainUrls', () => {
  it.each<[string, string | string[] | undefined, string[]]>([
    ['one alternate', '<https://acme.example.test/cert/1/1>;rel="alternate"', ['https://acme.example.test/cert/1/1']],
    [
      'several, with spaces and an unquoted rel',
      '<https://acme.example.test/cert/1/1> ; rel=alternate, <https://acme.example.test/cert/1/2>;rel="alternate"',
      ['https://acme.example.test/cert/1/1', 'https://acme.example.test/cert/1/2'],
    ],
    ['a relative target, resolved against the certificate URL', '</cert/1/alt>;rel="alternate"', ['https://acme.example.test/cert/1/alt']],
    ['rel with several relation types', '<https://acme.example.test/a>;title="x"; rel="up ALTERNATE"', ['https://acme.example.test/a']],
    ['other relations only', '<https://acme.example.test/dir>;rel="index", <https://acme.example.test/up>;rel="up"', []],
    ['a comma inside the URL', '<https://acme.example.test/a,b>;rel="alternate"', ['https://acme.example.test/a,b']],
    ['the header given twice (an array)', ['<https://acme.example.test/1>;rel="alternate"', '<https://acme.example.test/2>;rel="alternate"'], ['https://acme.example.test/1', 'https://acme.example.test/2']],
    ['the same target twice', '<https://acme.example.test/1>;rel="alternate", </1>;rel="alternate"', ['https://acme.example.test/1']],
    ['another host', '<https://metadata.internal/latest>;rel="alternate"', []],
    ['another port', '<https://acme.example.test:8443/cert/1/1>;rel="alternate"', []],
    ['plain http on the same host', '<http://acme.example.test/cert/1/1>;rel="alternate"', []],
    ['a scheme that is not http', '<file:///etc/passwd>;rel="alternate"', []],
    ['garbage', 'rel="alternate", <<<>>>;;;', []],
    ['no header', undefined, []],
  ])('%s', (_name, header, expected) => {
    expect(alternateChainUrls(header, BASE)).toEqual(expected);
  });
});

describe('chainMatchesPreferred', () => {
  const rootA = makeRoot({ name: 'Root A' });
  const intermediate = makeIssued(rootA, { isCA: true, subject: { commonName: 'Intermediate' } });
  const leaf = makeIssued(intermediate, { sans: { dnsNames: ['web.example.test'] } });

  it('matches the issuer of the root-most certificate (a chain that stops below the root)', () => {
    expect(chainMatchesPreferred([leaf.certificate, intermediate.certificate], 'Root A')).toBe(true);
  });

  it('matches the root-most certificate itself when the chain carries its root', () => {
    expect(chainMatchesPreferred([leaf.certificate, intermediate.certificate, rootA.certificate], 'Root A')).toBe(true);
  });

  it('does not match a name below the root-most certificate, or another name', () => {
    expect(chainMatchesPreferred([leaf.certificate, intermediate.certificate, rootA.certificate], 'Intermediate')).toBe(false);
    expect(chainMatchesPreferred([leaf.certificate, intermediate.certificate], 'web.example.test')).toBe(false);
    expect(chainMatchesPreferred([leaf.certificate, intermediate.certificate], 'Root B')).toBe(false);
    expect(chainMatchesPreferred([], 'Root A')).toBe(false);
  });
});
