import { describe, expect, it } from 'vitest';
import { isMeshcaError } from '../../errors/index.js';
import { buildCsr } from '../csr/build-csr.js';
import { encodePrivateKey } from '../keys/private-key-pem.js';
import { publicKeysEqual } from '../keys/key-spec.js';
import { makeIssued, makeRoot } from '../testing/pki-fixtures.js';
import { MAX_CACHED_INPUT_CHARS, ParseCache } from './parse-cache.js';

const root = makeRoot();
const leaf = makeIssued(root);
const keyPem = encodePrivateKey(leaf.key);
const chainPem = leaf.certificate.pem + root.certificate.pem;

describe('ParseCache', () => {
  it('returns the same key object for the same bytes and parses them once', () => {
    const cache = new ParseCache(8);
    const a = cache.parsePrivateKey(keyPem);
    const b = cache.parsePrivateKey(Buffer.from(keyPem).toString('latin1'));
    expect(b).toBe(a);
    expect(publicKeysEqual(a, leaf.key)).toBe(true);
    expect(cache.stats).toEqual({ hits: 1, misses: 1 });
  });

  it('answers a remembered key for the bytes encoded from it without parsing them', () => {
    const cache = new ParseCache(8);
    const bytes = Buffer.from(keyPem, 'utf8');
    cache.rememberPrivateKey(bytes, leaf.key);
    expect(cache.parsePrivateKey(bytes)).toBe(leaf.key);
    expect(cache.stats).toEqual({ hits: 1, misses: 0 });
  });

  it('tells a Buffer from a string with the same characters, as parsePrivateKey does', () => {
    const cache = new ParseCache(8);
    const der = leaf.key.export({ type: 'pkcs8', format: 'der' });
    const fromDer = cache.parsePrivateKey(der);
    expect(publicKeysEqual(fromDer, leaf.key)).toBe(true);
    // The same characters as a string are not PEM: the plain parser's error, not the cached key.
    expect(() => cache.parsePrivateKey(der.toString('latin1'))).toThrow(/not PEM|no private key block/);
  });

  it('returns equal certificates for the same bundle, in a fresh array each time', () => {
    const cache = new ParseCache(8);
    const first = cache.parseCertificates(chainPem);
    first.pop();
    const second = cache.parseCertificates(chainPem);
    expect(second.map((c) => c.fingerprintSha256)).toEqual([
      leaf.certificate.fingerprintSha256,
      root.certificate.fingerprintSha256,
    ]);
    expect(second[0]).toBe(first[0]);
  });

  it("returns the same CSR for the same PEM, and the parser's error for a bad one", () => {
    const cache = new ParseCache(8);
    const pem = buildCsr({ key: leaf.key, sans: { dnsNames: ['a.example.com'] } });
    const csr = cache.parseCsr(pem);
    expect(cache.parseCsr(pem)).toBe(csr);
    expect(csr.sans.dnsNames).toEqual(['a.example.com']);
    expect(() =>
      cache.parseCsr('-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n'),
    ).toThrow();
    expect(cache.size).toBe(1);
  });

  it('forgets the least recently used entry beyond its size', () => {
    const cache = new ParseCache(2);
    const other = encodePrivateKey(makeRoot().key);
    const k1 = cache.parsePrivateKey(keyPem);
    cache.parseCertificates(chainPem);
    cache.parsePrivateKey(keyPem); // keyPem is now the most recent
    cache.parsePrivateKey(other); // evicts the bundle
    expect(cache.size).toBe(2);
    expect(cache.parsePrivateKey(keyPem)).toBe(k1);
    const misses = cache.stats.misses;
    cache.parseCertificates(chainPem);
    expect(cache.stats.misses).toBe(misses + 1);
  });

  it('keeps nothing with size 0 and does not keep failures', () => {
    const none = new ParseCache(0);
    expect(none.parsePrivateKey(keyPem)).not.toBe(none.parsePrivateKey(keyPem));
    expect(none.size).toBe(0);
    const cache = new ParseCache(4);
    for (let i = 0; i < 2; i++) {
      try {
        cache.parsePrivateKey('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n');
        expect.unreachable();
      } catch (err) {
        expect(isMeshcaError(err, 'KEY_INVALID')).toBe(true);
      }
    }
    expect(() => cache.parseCertificates('not pem')).toThrow();
    expect(cache.size).toBe(0);
  });

  it('parses an oversized input every time instead of keeping it', () => {
    const cache = new ParseCache(4);
    const padded = `${'x'.repeat(MAX_CACHED_INPUT_CHARS)}\n${keyPem}`;
    const a = cache.parsePrivateKey(padded);
    expect(publicKeysEqual(a, leaf.key)).toBe(true);
    expect(cache.size).toBe(0);
  });

  it.each([[-1], [1.5], [Number.NaN]])('refuses the size %s with a message naming it', (size) => {
    expect(() => new ParseCache(size)).toThrow(/parse cache size must be a non-negative integer/);
  });
});
