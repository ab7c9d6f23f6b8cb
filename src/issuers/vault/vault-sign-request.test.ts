import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildCsr, generatePrivateKey, parseCsr } from '../../pki/index.js';
import type { SignRequest } from '../issuer.js';
import { parseVaultSignPath, vaultSignBody, vaultTtl } from './vault-sign-request.js';

const now = new Date('2030-01-01T00:00:00Z');
const key = generatePrivateKey();
const csr = parseCsr(
  buildCsr({
    key,
    subject: { commonName: 'gw.example.com' },
    sans: {
      dnsNames: ['gw.example.com', '*.apps.example.com'],
      emailAddresses: ['ops@example.com'],
      ipAddresses: ['10.0.0.1', '2001:db8::1'],
      uris: ['spiffe://cluster.local/ns/a/sa/b'],
    },
  }),
);
const request = (over: Partial<SignRequest> = {}): SignRequest => ({
  csr,
  durationMs: 2160 * 3_600_000,
  now,
  ...over,
});

describe('parseVaultSignPath', () => {
  it.each([
    ['pki/sign/mesh', 'sign', 'pki/sign/mesh'],
    ['/pki_int/sign/example-dot-com/', 'sign', 'pki_int/sign/example-dot-com'],
    ['/v1/pki/sign/mesh', 'sign', 'pki/sign/mesh'],
    ['team/pki/int/sign/mesh', 'sign', 'team/pki/int/sign/mesh'],
    ['pki/issuer/default/sign/mesh', 'sign', 'pki/issuer/default/sign/mesh'],
    ['pki/sign-verbatim', 'sign-verbatim', 'pki/sign-verbatim'],
    ['pki/sign-verbatim/mesh', 'sign-verbatim', 'pki/sign-verbatim/mesh'],
    ['pki_root/root/sign-intermediate', 'sign-intermediate', 'pki_root/root/sign-intermediate'],
    [
      'pki_root/issuer/root-2030/sign-intermediate',
      'sign-intermediate',
      'pki_root/issuer/root-2030/sign-intermediate',
    ],
  ])('reads %s as a %s path', (input, endpoint, path) => {
    expect(parseVaultSignPath(input)).toEqual({ endpoint, path });
  });

  it.each([
    ['pki/issue/mesh'],
    ['sign/mesh'],
    ['pki/sign'],
    ['pki/sign/mesh/extra'],
    ['pki/../sys/sign/mesh'],
    ['pki/sign/me sh'],
    ['pki/sign/mesh?x=1'],
    [''],
    [`${'a/'.repeat(300)}sign/mesh`],
  ])('refuses %j, naming the accepted forms', (input) => {
    expect(() => parseVaultSignPath(input)).toThrow(
      expect.objectContaining({
        code: 'ISSUER_INVALID',
        hint: expect.stringContaining('<mount>/sign/<role>') as unknown,
      }),
    );
  });

  it('never throws anything but ISSUER_INVALID, and every accepted path ends in a signing endpoint', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 100 }), (input) => {
        try {
          const parsed = parseVaultSignPath(input);
          expect(parsed.path).toMatch(/\/(sign\/[^/]+|sign-verbatim(\/[^/]+)?|sign-intermediate)$/);
        } catch (err) {
          expect(err).toMatchObject({ code: 'ISSUER_INVALID' });
        }
      }),
    );
  });
});

describe('vaultSignBody', () => {
  it('sends what the CSR asks, as cert-manager does: DNS names and e-mails in alt_names, the CN kept out of the SANs', () => {
    expect(vaultSignBody(request(), parseVaultSignPath('pki/sign/mesh'))).toEqual({
      csr: csr.pem,
      ttl: '7776000s',
      format: 'pem',
      common_name: 'gw.example.com',
      alt_names: 'gw.example.com,*.apps.example.com,ops@example.com',
      ip_sans: '10.0.0.1,2001:db8::1',
      uri_sans: 'spiffe://cluster.local/ns/a/sa/b',
      exclude_cn_from_sans: true,
    });
  });

  it('sends an empty common_name when the CSR has none', () => {
    const bare = parseCsr(buildCsr({ key, sans: { uris: ['spiffe://cluster.local/ns/a/sa/b'] } }));
    expect(vaultSignBody(request({ csr: bare }), parseVaultSignPath('pki/sign/mesh'))).toMatchObject({
      common_name: '',
      alt_names: '',
      uri_sans: 'spiffe://cluster.local/ns/a/sa/b',
    });
  });

  it('sends only the CSR, ttl and the usages to sign-verbatim, which takes the names from the CSR', () => {
    const body = vaultSignBody(
      request({
        keyUsages: ['digitalSignature', 'keyEncipherment'],
        extKeyUsages: ['serverAuth', 'clientAuth'],
      }),
      parseVaultSignPath('pki/sign-verbatim/mesh'),
    );
    expect(body).toEqual({
      csr: csr.pem,
      ttl: '7776000s',
      format: 'pem',
      key_usage: 'DigitalSignature,KeyEncipherment',
      ext_key_usage: 'ServerAuth,ClientAuth',
    });
  });

  it('asks sign-intermediate for a CA with the path length, ignoring the CSR values', () => {
    const body = vaultSignBody(
      request({ isCA: true, pathLen: 0 }),
      parseVaultSignPath('pki/root/sign-intermediate'),
    );
    expect(body).toMatchObject({ use_csr_values: false, max_path_length: 0, exclude_cn_from_sans: true });
  });

  it.each([
    ['a CA through a role path', { isCA: true }, 'pki/sign/mesh', 'a PKI role signs only leaf certificates'],
    [
      'a CA through sign-verbatim',
      { isCA: true },
      'pki/sign-verbatim',
      'a PKI role signs only leaf certificates',
    ],
    ['a leaf through sign-intermediate', {}, 'pki/root/sign-intermediate', 'signs CA certificates only'],
  ])('refuses %s before asking Vault', (_what, over, path, message) => {
    expect(() => vaultSignBody(request(over), parseVaultSignPath(path))).toThrow(
      expect.objectContaining({
        code: 'ISSUER_INVALID',
        message: expect.stringContaining(message) as unknown,
      }),
    );
  });
});

describe('vaultTtl', () => {
  it.each([
    [720 * 3_600_000, '2592000s'],
    [1500, '2s'],
    [1, '1s'],
    [0, '1s'],
  ])('writes %d ms as %s', (ms, ttl) => {
    expect(vaultTtl(ms)).toBe(ttl);
  });
});
