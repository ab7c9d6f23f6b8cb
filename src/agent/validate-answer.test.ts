import type { KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isMeshcaError, type ErrorCode } from '../errors/index.js';
import { generatePrivateKey, issueCertificate, parseCertificate, pemEncode, type CertificateTemplate } from '../pki/index.js';
import { HOUR } from '../pki/testing/pki-fixtures.js';
import { makeHierarchy } from './testing/fake-ca.js';
import { MAX_ANSWER_CHARS, MAX_CLOCK_SKEW_MS, validateAnswer } from './validate-answer.js';

const NOW = new Date('2026-11-22T12:00:00Z');
const ID = 'spiffe://cluster.local/ns/default/sa/sleep';
const ca = makeHierarchy(NOW);
const other = makeHierarchy(NOW, 'other root');
const key = generatePrivateKey();

/** A leaf for `key` carrying ID, signed by the intermediate, with template overrides. */
function leafPem(overrides: Partial<CertificateTemplate> = {}, signer = ca, now = NOW): string {
  const template: CertificateTemplate = { publicKey: key, sans: { uris: [ID] }, lifetimeMs: 24 * HOUR, ...overrides };
  return issueCertificate(template, { certificate: signer.intermediate.certificate, key: signer.intermediate.key }, { now }).pem;
}
const intermediate = ca.intermediate.certificate.pem;
const root = ca.root.certificate.pem;
const good = (): string[] => [leafPem(), intermediate, root];

function failure(chain: string[], expectKey: KeyObject = key): { code: ErrorCode; message: string } {
  try {
    validateAnswer(chain, { key: expectKey, spiffeId: ID, now: NOW });
  } catch (err) {
    if (isMeshcaError(err)) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('the answer was accepted');
}

describe('validateAnswer accepts', () => {
  it('leaf, intermediate and root, splitting the chain from the root bundle', () => {
    const issued = validateAnswer(good(), { key, spiffeId: ID, now: NOW });
    expect(issued.leaf.sans.uris).toEqual([ID]);
    expect(issued.chain.map((c) => c.subjectString)).toEqual(['', 'CN=fake root intermediate']);
    expect(issued.roots.map((c) => c.subjectString)).toEqual(['CN=fake root, O=meshca tests']);
  });

  it('a leaf and intermediate sent in one element, and a root bundle of two roots during a rotation', () => {
    const issued = validateAnswer([leafPem() + intermediate, other.root.certificate.pem + root], { key, spiffeId: ID, now: NOW });
    expect(issued.chain).toHaveLength(2);
    expect(issued.roots).toHaveLength(2);
  });
});

describe('validateAnswer allows for a CA clock ahead of ours', () => {
  it('is five minutes', () => {
    expect(MAX_CLOCK_SKEW_MS).toBe(5 * 60_000);
  });

  it.each([
    ['a second', 1000],
    ['exactly the allowance', MAX_CLOCK_SKEW_MS],
  ])('accepts a leaf that becomes valid %s after our clock, verifying the chain at its notBefore', (_name, aheadMs) => {
    const leaf = leafPem({}, ca, new Date(NOW.getTime() + aheadMs));
    const issued = validateAnswer([leaf, intermediate, root], { key, spiffeId: ID, now: NOW });
    expect(issued.leaf.notBefore.getTime()).toBe(NOW.getTime() + aheadMs);
  });

  it('still verifies the rest of the chain at that instant', () => {
    const f = failure([leafPem({}, ca, new Date(NOW.getTime() + 1000)), intermediate, other.root.certificate.pem]);
    expect(f.code).toBe('CHAIN_INVALID');
    expect(f.message).toMatch(/does not verify up to its root bundle at 2026-11-22T12:00:01.000Z \(the leaf's notBefore, 1 s after this agent's clock\): /);
  });

  it('refuses a leaf valid only from further ahead, naming the skew and the allowance', () => {
    const f = failure([leafPem({}, ca, new Date(NOW.getTime() + MAX_CLOCK_SKEW_MS + 1000)), intermediate, root]);
    expect(f.code).toBe('CHAIN_INVALID');
    expect(f.message).toBe(
      "the CA's answer holds a leaf that is not valid until 2026-11-22T12:05:01.000Z, 301 s after this agent's clock (2026-11-22T12:00:00.000Z); at most 300 s of clock skew is allowed",
    );
  });
});

describe('validateAnswer refuses, with a message saying why', () => {
  const cases: [string, () => string[], ErrorCode, RegExp][] = [
    ['an empty answer', () => [], 'CHAIN_INVALID', /has 0 element\(s\); it needs at least two \(the leaf first, the root bundle last\)/],
    ['a chain of one element, as the Istio agent does', () => [leafPem()], 'CHAIN_INVALID', /has 1 element\(s\); it needs at least two/],
    ['more than ten elements', () => Array.from({ length: 11 }, () => root), 'INPUT_TOO_LARGE', /has 11 elements; at most 10 are accepted/],
    ['an answer over 1 MiB', () => [leafPem(), 'x'.repeat(MAX_ANSWER_CHARS)], 'INPUT_TOO_LARGE', /characters long; at most 1048576 are accepted/],
    ['garbage in place of the leaf', () => ['hello, world', root], 'CERT_INVALID', /has an unreadable element 1 of 2: |has an empty element 1 of 2/],
    ['a PEM block of another kind', () => [leafPem(), '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n'], 'CERT_INVALID', /has an unreadable element 2 of 2: .*"PRIVATE KEY", not "CERTIFICATE"/],
    ['a truncated certificate', () => [pemEncode('CERTIFICATE', parseCertificate(leafPem()).der.subarray(0, 200)), root], 'CERT_INVALID', /has an unreadable element 1 of 2/],
    ['a blank root element', () => [leafPem(), '  \n'], 'CERT_INVALID', /has an empty element 2 of 2; each element must be a PEM certificate/],
    ['a leaf for another public key', () => [leafPem({ publicKey: generatePrivateKey() }), intermediate, root], 'KEY_MISMATCH', /holds a leaf certificate \(serial [0-9a-f]+\) for another public key than the one in our CSR/],
    ['a leaf for another identity', () => [leafPem({ sans: { uris: ['spiffe://cluster.local/ns/prod/sa/admin'] } }), intermediate, root], 'CHAIN_INVALID', /is for another identity: the leaf carries the URI SAN\(s\) "spiffe:\/\/cluster.local\/ns\/prod\/sa\/admin", not exactly "spiffe:\/\/cluster.local\/ns\/default\/sa\/sleep"/],
    ['a leaf with our identity and one more', () => [leafPem({ sans: { uris: [ID, 'spiffe://cluster.local/ns/prod/sa/admin'] } }), intermediate, root], 'CHAIN_INVALID', /is for another identity: the leaf carries the URI SAN\(s\) "spiffe:\/\/cluster.local\/ns\/default\/sa\/sleep", "spiffe/],
    ['a leaf with no URI SAN', () => [leafPem({ sans: { dnsNames: ['sleep.default.svc'] } }), intermediate, root], 'CHAIN_INVALID', /the leaf carries no URI SAN, not exactly/],
    ['a CA certificate as the leaf', () => [leafPem({ isCA: true, subject: { commonName: 'rogue CA' } }), intermediate, root], 'CHAIN_INVALID', /holds a CA certificate as the leaf/],
    ['a leaf only for servers', () => [leafPem({ extKeyUsages: ['serverAuth'] }), intermediate, root], 'CHAIN_INVALID', /extended key usages \(serverAuth\) do not allow both serverAuth and clientAuth/],
    ['a chain that ends at another root', () => [leafPem(), intermediate, other.root.certificate.pem], 'CHAIN_INVALID', /does not verify up to its root bundle at 2026-11-22T12:00:00.000Z: .*neither a trusted root nor a given intermediate/],
    ['a leaf signed by another CA than the intermediate sent', () => [leafPem({}, other), intermediate, root], 'CHAIN_INVALID', /does not verify up to its root bundle/],
    ['a leaf not yet valid', () => [leafPem({}, ca, new Date(NOW.getTime() + HOUR)), intermediate, root], 'CHAIN_INVALID', /is not valid until 2026-11-22T13:00:00.000Z, 3600 s after this agent's clock/],
    ['an expired leaf', () => [leafPem({ lifetimeMs: HOUR }, ca, new Date(NOW.getTime() - 2 * HOUR)), intermediate, root], 'CHAIN_INVALID', /expired at 2026-11-22T11:00:00.000Z/],
  ];
  it.each(cases)('%s', (_name, chain, code, message) => {
    const f = failure(chain());
    expect(f.code).toBe(code);
    expect(f.message).toMatch(/^the CA's answer /);
    expect(f.message).toMatch(message);
  });
});
