import { describe, expect, it } from 'vitest';
import { buildCsr, generatePrivateKey, parseCsr, verifyChain } from '../../pki/index.js';
import { workloadCsr } from '../testing/fixtures.js';
import { SelfSignedIssuer } from './self-signed-issuer.js';

const now = new Date('2026-11-22T12:00:00Z');

describe('the selfSigned issuer', () => {
  it('signs a CA with its own key: the certificate is its own ca and verifies against itself', async () => {
    const key = generatePrivateKey();
    const csr = parseCsr(buildCsr({ key, subject: { commonName: 'Root' }, isCA: true }));
    const result = await new SelfSignedIssuer().sign({ csr, durationMs: 3_600_000, isCA: true, keyUsages: ['keyCertSign', 'cRLSign'], privateKey: key, now });
    expect(result.certificate.selfSigned).toBe(true);
    expect(result.certificate.isCA).toBe(true);
    expect(result.chain).toEqual([]);
    expect(result.ca).toEqual([result.certificate]);
    expect(verifyChain(result.certificate, { roots: [result.certificate], at: now }).ok).toBe(true);
  });

  it('back-dates notBefore by the skew it is configured with', async () => {
    const { csr, key } = workloadCsr();
    const result = await new SelfSignedIssuer({ backdateMs: 60_000 }).sign({ csr, durationMs: 3_600_000, privateKey: key, now });
    expect(result.certificate.notBefore.getTime()).toBe(now.getTime() - 60_000);
    expect(result.certificate.notAfter.getTime()).toBe(now.getTime() + 3_600_000);
  });

  it('refuses a request without the private key', async () => {
    await expect(new SelfSignedIssuer().sign({ csr: workloadCsr().csr, durationMs: 3_600_000, now })).rejects.toThrow(
      'a self-signed issuer needs the private key of the request',
    );
  });

  it('refuses a private key that does not belong to the CSR', async () => {
    await expect(
      new SelfSignedIssuer().sign({ csr: workloadCsr().csr, durationMs: 3_600_000, privateKey: generatePrivateKey(), now }),
    ).rejects.toMatchObject({ code: 'KEY_MISMATCH' });
  });
});
