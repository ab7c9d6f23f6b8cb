import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isMeshcaError } from '../../errors/index.js';
import { makeIssued, makeRoot } from '../testing/pki-fixtures.js';
import { encodeJks, type JksInput } from './jks.js';

const root = makeRoot();
const leaf = makeIssued(root);
const now = new Date('2030-01-01T00:00:00Z');
const message = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    return isMeshcaError(err) ? `${err.code}: ${err.message}` : String(err);
  }
  return 'no error';
};

describe('encodeJks', () => {
  it('writes magic FEEDFEED, version 2, the entry count and a SHA-1 integrity check keyed by the password', () => {
    const jks = encodeJks({
      entries: [
        { alias: 'certificate', key: leaf.key, chain: [leaf.certificate] },
        { alias: 'ca', trusted: root.certificate },
      ],
      password: 'changeit',
      now,
    });
    expect(jks.readUInt32BE(0)).toBe(0xfeedfeed);
    expect(jks.readUInt32BE(4)).toBe(2);
    expect(jks.readUInt32BE(8)).toBe(2);
    expect(jks.readUInt32BE(12)).toBe(1); // a private key entry first
    const body = jks.subarray(0, -20);
    const pw = Buffer.from('changeit'.split('').flatMap((c) => [0, c.charCodeAt(0)]));
    const check = createHash('sha1').update(pw).update('Mighty Aphrodite').update(body).digest();
    expect(jks.subarray(-20).equals(check)).toBe(true);
    expect(body.includes(root.certificate.der)).toBe(true);
  });

  it('never holds the private key in clear', () => {
    // The private scalar: the PKCS#8 also holds the public key, which the certificates show anyway.
    const secret = Buffer.from(leaf.key.export({ format: 'jwk' }).d ?? '', 'base64url');
    const jks = encodeJks({
      entries: [{ alias: 'k', key: leaf.key, chain: [leaf.certificate] }],
      password: 'pw',
      now,
    });
    expect(secret.length).toBeGreaterThan(16);
    expect(jks.includes(secret)).toBe(false);
  });

  it.each<[string, Partial<JksInput>, string]>([
    [
      'an empty password',
      { password: '' },
      'INVALID_INPUT: the JKS password must be 1 to 1024 characters, got 0',
    ],
    ['an oversized password', { password: 'x'.repeat(1025) }, 'got 1025'],
    [
      'an invalid date',
      { now: new Date(Number.NaN) },
      'INVALID_INPUT: the JKS entry date is not a valid date',
    ],
    [
      'two aliases differing only in case',
      {
        entries: [
          { alias: 'CA', trusted: root.certificate },
          { alias: 'ca', trusted: root.certificate },
        ],
      },
      'INVALID_INPUT: the JKS alias "ca" is used twice',
    ],
    [
      'an empty alias',
      { entries: [{ alias: '', trusted: root.certificate }] },
      'INVALID_INPUT: the JKS alias must be 1 to 65535 octets without NUL',
    ],
    [
      'a key without its chain',
      { entries: [{ alias: 'k', key: leaf.key, chain: [] }] },
      'INVALID_INPUT: the JKS key entry "k" needs its certificate chain',
    ],
    [
      'a public key',
      { entries: [{ alias: 'k', key: leaf.certificate.publicKey, chain: [leaf.certificate] }] },
      'KEY_INVALID: a JKS key entry needs the private key',
    ],
  ])('refuses %s', (_, override, expected) => {
    const input: JksInput = {
      entries: [{ alias: 'ca', trusted: root.certificate }],
      password: 'pw',
      now,
      ...override,
    };
    expect(message(() => encodeJks(input))).toContain(expected);
  });
});
