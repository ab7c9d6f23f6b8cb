import { describe, expect, it } from 'vitest';
import { buildCsr, generatePrivateKey, issueCertificate, parseCsr } from '../../pki/index.js';
import type { SignRequest } from '../issuer.js';
import { makeIntermediate, makeRoot } from '../testing/fixtures.js';
import { parseVaultSignAnswer } from './vault-sign-answer.js';

const now = new Date('2030-01-01T00:00:00Z');
const root = makeRoot(now);
const intermediate = makeIntermediate(root, now);
const key = generatePrivateKey();
const csr = parseCsr(
  buildCsr({ key, subject: { commonName: 'gw.example.com' }, sans: { dnsNames: ['gw.example.com'] } }),
);
const request: SignRequest = { csr, durationMs: 3_600_000, now };
const leafFor = (publicKey = key, isCA = false) =>
  issueCertificate(
    { publicKey, subject: { commonName: 'gw.example.com' }, isCA, lifetimeMs: 3_600_000 },
    { certificate: intermediate.certificate, key: intermediate.key },
    { now },
  );
const leaf = leafFor();

describe('parseVaultSignAnswer', () => {
  it('puts the leaf first, the intermediates in tls.crt and the root in ca.crt', () => {
    const got = parseVaultSignAnswer(
      {
        data: {
          certificate: leaf.pem,
          issuing_ca: intermediate.certificate.pem,
          ca_chain: [intermediate.certificate.pem, root.certificate.pem],
        },
      },
      request,
    );
    expect(got.certificate.fingerprintSha256).toBe(leaf.fingerprintSha256);
    expect(got.chain.map((c) => c.subjectString)).toEqual(['CN=Test Intermediate']);
    expect(got.ca.map((c) => c.subjectString)).toEqual(['CN=Test Root']);
  });

  it('takes the topmost certificate as ca.crt when Vault holds no root (an intermediate mount without its parent)', () => {
    const got = parseVaultSignAnswer(
      {
        data: {
          certificate: leaf.pem,
          issuing_ca: intermediate.certificate.pem,
          ca_chain: [intermediate.certificate.pem],
        },
      },
      request,
    );
    expect(got.chain.map((c) => c.subjectString)).toEqual(['CN=Test Intermediate']);
    expect(got.ca.map((c) => c.subjectString)).toEqual(['CN=Test Intermediate']);
  });

  it('orders a chain Vault sends out of order and drops certificates that are not on the path', () => {
    const stranger = makeRoot(now, undefined, 'Unrelated Root');
    const got = parseVaultSignAnswer(
      {
        data: {
          certificate: leaf.pem,
          ca_chain: `${root.certificate.pem}${stranger.certificate.pem}${intermediate.certificate.pem}`,
        },
      },
      request,
    );
    expect(got.chain.map((c) => c.subjectString)).toEqual(['CN=Test Intermediate']);
    expect(got.ca.map((c) => c.subjectString)).toEqual(['CN=Test Root']);
  });

  it.each([
    ['a body that is not an object', 'permission denied', 'the sign answer has no data object'],
    ['no data', {}, 'the sign answer has no data object'],
    [
      'no certificate',
      { data: { issuing_ca: intermediate.certificate.pem } },
      'the sign answer has no data.certificate',
    ],
    ['an empty certificate', { data: { certificate: '  ' } }, 'the sign answer has no data.certificate'],
    [
      'a certificate that is a number',
      { data: { certificate: 42 } },
      'the sign answer has no data.certificate',
    ],
    [
      'garbage for a certificate',
      { data: { certificate: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' } },
      'data.certificate does not hold PEM certificates',
    ],
    [
      'a ca_chain of numbers',
      { data: { certificate: leaf.pem, ca_chain: [1] } },
      'data.ca_chain[0] is not a string',
    ],
    [
      'no issuing_ca nor ca_chain',
      { data: { certificate: leaf.pem } },
      'neither data.issuing_ca nor data.ca_chain',
    ],
    [
      'a certificate for another key',
      { data: { certificate: leafFor(generatePrivateKey()).pem, issuing_ca: intermediate.certificate.pem } },
      'is not for the key of the CSR',
    ],
    [
      'a chain that does not sign the certificate',
      { data: { certificate: leaf.pem, issuing_ca: makeRoot(now, undefined, 'Other').certificate.pem } },
      'is none of the CA certificates Vault sent with it',
    ],
  ])('refuses an answer with %s, saying so', (_what, body, message) => {
    expect(() => parseVaultSignAnswer(body, request)).toThrow(
      expect.objectContaining({
        code: 'UPSTREAM_REJECTED',
        message: expect.stringContaining(message) as unknown,
      }),
    );
  });

  it('refuses a leaf certificate when a CA was asked for', () => {
    expect(() =>
      parseVaultSignAnswer(
        { data: { certificate: leaf.pem, issuing_ca: intermediate.certificate.pem } },
        { ...request, isCA: true },
      ),
    ).toThrow(
      expect.objectContaining({
        code: 'UPSTREAM_REJECTED',
        message: expect.stringContaining('without basicConstraints CA') as unknown,
      }),
    );
  });
});
