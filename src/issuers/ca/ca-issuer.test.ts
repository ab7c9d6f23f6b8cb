import { describe, expect, it } from 'vitest';
import { isMeshcaError } from '../../errors/index.js';
import { generatePrivateKey, encodePrivateKey, verifyChain } from '../../pki/index.js';
import { makeIntermediate, makeRoot, workloadCsr } from '../testing/fixtures.js';
import { CaIssuer } from './ca-issuer.js';

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
});
