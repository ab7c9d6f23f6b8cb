import { describe, expect, it } from 'vitest';
import { MeshcaError, isMeshcaError } from '../../errors/index.js';
import {
  buildCsr,
  encodePrivateKey,
  generatePrivateKey,
  issueCertificate,
  parseCsr,
  verifyChain,
} from '../../pki/index.js';
import { T0, makeRawCa, makeRoot as makePkiRoot } from '../../pki/testing/pki-fixtures.js';
import { makeIntermediate, makeRoot, workloadCsr } from '../testing/fixtures.js';
import { CaIssuer, CaNotYetValidError } from './ca-issuer.js';

const now = new Date('2026-11-22T12:00:00Z');
const HOUR = 3_600_000;

describe('the ca issuer', () => {
  it('signs under a root: the leaf chain is empty and the root becomes ca', async () => {
    const root = makeRoot(now);
    const issuer = CaIssuer.fromKeyPair({ certChainPem: root.certificate.pem, keyPem: root.keyPem });
    const { csr } = workloadCsr();
    const result = await issuer.sign({ csr, durationMs: HOUR, now });
    expect(result.chain).toEqual([]);
    expect(result.ca.map((c) => c.fingerprintSha256)).toEqual([root.certificate.fingerprintSha256]);
    expect(result.certificate.sans.uris).toEqual(['spiffe://cluster.local/ns/default/sa/web']);
    expect(verifyChain(result.certificate, { roots: [root.certificate], at: now }).ok).toBe(true);
  });

  it('signs under an intermediate with ca.crt: the intermediate goes to the chain, the root to ca', async () => {
    const root = makeRoot(now);
    const int = makeIntermediate(root, now);
    const issuer = CaIssuer.fromKeyPair({ certChainPem: int.certificate.pem, keyPem: int.keyPem, caPem: root.certificate.pem });
    const result = await issuer.sign({ csr: workloadCsr().csr, durationMs: HOUR, now });
    expect(result.chain.map((c) => c.subjectString)).toEqual(['CN=Test Intermediate']);
    expect(result.ca.map((c) => c.subjectString)).toEqual(['CN=Test Root']);
    const verdict = verifyChain(result.certificate, { intermediates: result.chain, roots: result.ca, at: now });
    expect(verdict.ok).toBe(true);
  });

  it('takes the root from the end of tls.crt when the Secret has no ca.crt, and keeps it out of the chain', async () => {
    const root = makeRoot(now);
    const int = makeIntermediate(root, now);
    const issuer = CaIssuer.fromKeyPair({ certChainPem: int.certificate.pem + root.certificate.pem, keyPem: int.keyPem });
    const result = await issuer.sign({ csr: workloadCsr().csr, durationMs: HOUR, now });
    expect(result.chain.map((c) => c.subjectString)).toEqual(['CN=Test Intermediate']);
    expect(result.ca.map((c) => c.subjectString)).toEqual(['CN=Test Root']);
  });

  it('never signs past its own notAfter', async () => {
    const root = makeRoot(now);
    const int = makeIntermediate(root, now, 2 * HOUR);
    const issuer = CaIssuer.fromKeyPair({ certChainPem: int.certificate.pem, keyPem: int.keyPem, caPem: root.certificate.pem });
    const result = await issuer.sign({ csr: workloadCsr().csr, durationMs: 24 * HOUR, now });
    expect(result.certificate.notAfter.getTime()).toBe(int.certificate.notAfter.getTime());
  });

  it.each([
    ['tls.crt holds no certificate', (p: { certChainPem: string; keyPem: string }) => ({ ...p, certChainPem: 'garbage' }), 'tls.crt does not hold a certificate'],
    ['tls.key is another key', (p: { certChainPem: string; keyPem: string }) => ({ ...p, keyPem: encodePrivateKey(generatePrivateKey(), 'PKCS8') }), 'tls.key is not the key of the certificate in tls.crt'],
    ['tls.key is not a key', (p: { certChainPem: string; keyPem: string }) => ({ ...p, keyPem: 'nope' }), 'tls.key does not hold a private key'],
  ])('is not ready when %s, and says so', (_name, mutate, message) => {
    const root = makeRoot(now);
    const pair = mutate({ certChainPem: root.certificate.pem, keyPem: root.keyPem });
    let caught: unknown;
    try {
      CaIssuer.fromKeyPair(pair, { source: 'secret istio-system/istio-ca' });
    } catch (err) {
      caught = err;
    }
    expect(isMeshcaError(caught, 'ISSUER_NOT_READY')).toBe(true);
    expect((caught as Error).message).toContain('secret istio-system/istio-ca: ');
    expect((caught as Error).message).toContain(message);
  });

  it('refuses a certificate that is not a CA', () => {
    const root = makeRoot(now);
    const leaf = makeIntermediate(root, now, HOUR, { isCA: false, commonName: 'leaf' });
    expect(() => CaIssuer.fromKeyPair({ certChainPem: leaf.certificate.pem, keyPem: leaf.keyPem })).toThrow(
      'certificate "CN=leaf" is not a CA',
    );
  });

  it('refuses to sign once the CA has expired, saying when it expired', async () => {
    const root = makeRoot(now, 2 * HOUR);
    const issuer = CaIssuer.fromKeyPair({ certChainPem: root.certificate.pem, keyPem: root.keyPem });
    const later = new Date(now.getTime() + 3 * HOUR);
    await expect(issuer.sign({ csr: workloadCsr().csr, durationMs: HOUR, now: later })).rejects.toThrow(
      `the signing CA "CN=Test Root" expired at ${root.certificate.notAfter.toISOString()}`,
    );
  });

  it('is not ready (retryable) while the CA is not valid yet, naming its notBefore, and signs from then on', async () => {
    // A CA minted on a host whose clock runs 30 s ahead.
    const root = makeRoot(new Date(now.getTime() + 30_000));
    const issuer = CaIssuer.fromKeyPair({ certChainPem: root.certificate.pem, keyPem: root.keyPem });
    let caught: unknown;
    try {
      issuer.signSync({ csr: workloadCsr().csr, durationMs: HOUR, now });
    } catch (err) {
      caught = err;
    }
    const error = caught as CaNotYetValidError;
    expect(error.code).toBe('ISSUER_NOT_READY');
    expect(error.retryable).toBe(true);
    expect(error.message).toBe('the signing CA "CN=Test Root" is not valid until 2026-11-22T12:00:30.000Z');
    expect(caught).toBeInstanceOf(CaNotYetValidError);
    expect(error.validFrom).toEqual(root.certificate.notBefore);
    const at = root.certificate.notBefore;
    const result = await issuer.sign({ csr: workloadCsr().csr, durationMs: HOUR, now: at });
    expect(result.certificate.notBefore).toEqual(at);
  });

  describe('pathLen of the CA certificates it issues', () => {
    const caCsr = (commonName: string) =>
      parseCsr(buildCsr({ key: generatePrivateKey(), subject: { commonName }, isCA: true }));
    const pemOfKey = (key: Parameters<typeof encodePrivateKey>[0]) => encodePrivateKey(key, 'PKCS8');

    it('gives a sub-CA of a pathLen-1 CA pathLen 0 when the request names none, and refuses a larger one', async () => {
      const key = generatePrivateKey();
      const top = issueCertificate(
        { publicKey: key, subject: { commonName: 'Limited Root' }, isCA: true, pathLen: 1, lifetimeMs: 1000 * HOUR },
        { selfSigned: key },
        { now },
      );
      const issuer = CaIssuer.fromKeyPair({ certChainPem: top.pem, keyPem: pemOfKey(key) });
      const sub = await issuer.sign({ csr: caCsr('Sub CA'), durationMs: HOUR, isCA: true, now });
      expect(sub.certificate.isCA).toBe(true);
      expect(sub.certificate.pathLen).toBe(0);
      await expect(
        issuer.sign({ csr: caCsr('Sub CA'), durationMs: HOUR, isCA: true, pathLen: 5, now }),
      ).rejects.toThrow(
        'pathLen 5 is too large: the signing CA "CN=Limited Root" has pathLen 1, so a CA it issues may have pathLen 0 at most',
      );
    });

    it.each([
      ['the root at the end of tls.crt', true],
      ['the root in ca.crt', false],
    ])("counts the pathLen of the CAs above it, with %s", async (_name, rootInTlsCrt) => {
      // An intermediate with no pathLen under a root with pathLen 1 (made elsewhere): it may sign
      // leaves, but a CA under it would break the root's limit for every verifier.
      const top = makePkiRoot({ name: 'Limited Root', pathLen: 1 });
      const mid = makeRawCa(top, { subject: { commonName: 'Mid CA' }, extensions: [] });
      const issuer = CaIssuer.fromKeyPair({
        certChainPem: mid.certificate.pem + (rootInTlsCrt ? top.certificate.pem : ''),
        keyPem: pemOfKey(mid.key),
        ...(!rootInTlsCrt && { caPem: top.certificate.pem }),
      });
      let caught: unknown;
      try {
        issuer.signSync({ csr: caCsr('Sub CA'), durationMs: HOUR, isCA: true, now: T0 });
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(MeshcaError);
      expect((caught as MeshcaError).code).toBe('CERT_INVALID');
      expect((caught as MeshcaError).message).toBe(
        'the signing CA "CN=Mid CA" may not issue CA certificates: "CN=Limited Root, O=meshca tests", 1 CA above the signing CA "CN=Mid CA", has pathLen 1, which leaves no room for another CA below it',
      );
      // Leaves still verify up to the root.
      const leaf = issuer.signSync({ csr: workloadCsr().csr, durationMs: HOUR, now: T0 });
      expect(verifyChain(leaf.certificate, { intermediates: leaf.chain, roots: leaf.ca, at: T0 }).ok).toBe(true);
    });

    it('ignores a root in ca.crt that is not the issuer of its chain', async () => {
      const top = makePkiRoot({ name: 'Roomy Root', pathLen: 2 });
      const other = makePkiRoot({ name: 'Other Root', pathLen: 0 });
      const mid = makeRawCa(top, { subject: { commonName: 'Mid CA' }, extensions: [] });
      const issuer = CaIssuer.fromKeyPair({
        certChainPem: mid.certificate.pem,
        keyPem: pemOfKey(mid.key),
        caPem: other.certificate.pem + top.certificate.pem,
      });
      const sub = issuer.signSync({ csr: caCsr('Sub CA'), durationMs: HOUR, isCA: true, now: T0 });
      expect(sub.certificate.pathLen).toBe(0);
    });
  });
});
