import { describe, expect, it } from 'vitest';
import { isMeshcaError } from '../../errors/index.js';
import { DerReader } from '../der/der-reader.js';
import { Tag } from '../der/der-writer.js';
import { makeIssued, makeRoot } from '../testing/pki-fixtures.js';
import { encodePkcs12, pkcs12Kdf, type Pkcs12Profile } from './pkcs12.js';

const root = makeRoot();
const leaf = makeIssued(root);
let counter = 0;
const fixedRandom = (n: number): Buffer => Buffer.alloc(n, 7);
const countingRandom = (n: number): Buffer => Buffer.alloc(n, ++counter);

const code = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    return isMeshcaError(err) ? `${err.code}: ${err.message}` : String(err);
  }
  return 'no error';
};

describe('encodePkcs12', () => {
  it.each<Pkcs12Profile>(['LegacyRC2', 'LegacyDES', 'Modern2023'])(
    'writes a %s PFX of version 3 with an authSafe and a MAC',
    (profile) => {
      const der = encodePkcs12({ key: leaf.key, certificates: [leaf.certificate], password: 'pw', profile });
      const r = new DerReader(der, 'pfx');
      const top = r.expect(Tag.SEQUENCE, '');
      r.finish();
      const inner = DerReader.within(der, top, 'pfx');
      expect(inner.readSmallInteger('version')).toBe(3);
      inner.expect(Tag.SEQUENCE, 'authSafe');
      inner.expect(Tag.SEQUENCE, 'macData');
      inner.finish();
    },
  );

  it('is a function of its inputs and randomness: the same salts give the same file, other salts another', () => {
    const input = {
      key: leaf.key,
      certificates: [leaf.certificate],
      password: 'pw',
      profile: 'Modern2023' as const,
    };
    const a = encodePkcs12({ ...input, randomBytes: fixedRandom });
    expect(encodePkcs12({ ...input, randomBytes: fixedRandom }).equals(a)).toBe(true);
    expect(encodePkcs12({ ...input, randomBytes: countingRandom }).equals(a)).toBe(false);
    expect(encodePkcs12({ ...input, password: 'other', randomBytes: fixedRandom }).equals(a)).toBe(false);
  });

  it('never holds the private key in clear', () => {
    // The private scalar: the PKCS#8 also holds the public key, which the certificates show anyway.
    const secret = Buffer.from(leaf.key.export({ format: 'jwk' }).d ?? '', 'base64url');
    for (const profile of ['LegacyRC2', 'LegacyDES', 'Modern2023'] as const) {
      const der = encodePkcs12({ key: leaf.key, certificates: [leaf.certificate], password: 'pw', profile });
      expect(der.includes(secret)).toBe(false);
    }
  });

  it.each<[string, Parameters<typeof encodePkcs12>[0], string]>([
    [
      'no certificate',
      { certificates: [], password: 'pw' },
      'INVALID_INPUT: a PKCS#12 file needs at least one certificate',
    ],
    [
      'an oversized password',
      { certificates: [leaf.certificate], password: 'x'.repeat(2000) },
      'INVALID_INPUT: the PKCS#12 password is 2000 characters; the limit is 1024',
    ],
    [
      'an unknown profile',
      { certificates: [leaf.certificate], password: 'pw', profile: 'Modern2099' as Pkcs12Profile },
      'INVALID_INPUT: unknown PKCS#12 profile "Modern2099"',
    ],
    [
      'a public key',
      { key: leaf.certificate.publicKey, certificates: [leaf.certificate], password: 'pw' },
      'KEY_INVALID: a PKCS#12 keystore needs the private key',
    ],
  ])('refuses %s', (_, input, message) => {
    expect(code(() => encodePkcs12(input))).toBe(message);
  });
});

describe('pkcs12Kdf (RFC 7292 Appendix B.2)', () => {
  it('gives distinct key, IV and MAC material of the asked length for one password and salt', () => {
    const pw = Buffer.from([0, 0x70, 0, 0x77, 0, 0]);
    const salt = Buffer.alloc(8, 1);
    const outs = ([1, 2, 3] as const).map((id) => pkcs12Kdf('sha1', pw, salt, id, 2, 45));
    expect(outs.map((o) => o.length)).toEqual([45, 45, 45]);
    expect(new Set(outs.map((o) => o.toString('hex'))).size).toBe(3);
    // The first hash block does not depend on the asked length.
    expect(pkcs12Kdf('sha1', pw, salt, 1, 2, 20).equals(outs[0]?.subarray(0, 20) ?? Buffer.alloc(0))).toBe(
      true,
    );
  });
});
