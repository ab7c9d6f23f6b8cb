import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  buildCsr,
  encodePrivateKey,
  generatePrivateKey,
  issueCertificate,
  parseCsr,
  templateFromCsr,
  verifyCsr,
} from '../../../src/pki/index.js';
import { makeRoot } from '../../../src/pki/testing/pki-fixtures.js';
import { requirePeer } from '../peer.js';

const UPN = '1.3.6.1.4.1.311.20.2.3';

// openssl is the referee for SAN otherNames (RFC 5280 §4.2.1.6) in both directions.
describe.runIf(requirePeer('openssl', 'openssl'))('otherNames, checked by openssl', () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshca-othername-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const openssl = (...args: string[]): string =>
    execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const now = new Date();

  it('prints the otherNames of a certificate meshca issues as "othername: <name or OID>::<value>"', () => {
    const key = generatePrivateKey({ algorithm: 'ECDSA' });
    const csr = parseCsr(
      buildCsr({
        key,
        subject: { commonName: 'alice' },
        sans: {
          otherNames: [
            { oid: UPN, utf8Value: 'alice@example.com' },
            { oid: '1.2.3.4', utf8Value: 'zweite' },
          ],
        },
      }),
    );
    const root = makeRoot({ now });
    const cert = issueCertificate(templateFromCsr(csr, { lifetimeMs: 3_600_000 }), root, { now });
    const path = join(dir, 'leaf.pem');
    writeFileSync(path, cert.pem);
    const text = openssl('x509', '-in', path, '-noout', '-text');
    // OpenSSL 3.0 names the UPN type and prints any other type-id as its OID.
    expect(text).toContain('othername: UPN::alice@example.com, othername: 1.2.3.4::zweite');
  });

  it('reads the otherNames of a CSR openssl makes', () => {
    const keyPath = join(dir, 'key.pem');
    writeFileSync(keyPath, encodePrivateKey(generatePrivateKey({ algorithm: 'ECDSA' })), { mode: 0o600 });
    const pem = openssl(
      'req',
      '-new',
      '-key',
      keyPath,
      '-subj',
      '/CN=bob',
      '-addext',
      `subjectAltName=otherName:${UPN};UTF8:bob@example.com,DNS:bob.example.com`,
    );
    const csr = parseCsr(pem);
    verifyCsr(csr);
    expect(csr.sans.otherNames).toEqual([{ oid: UPN, utf8Value: 'bob@example.com' }]);
    expect(csr.sans.dnsNames).toEqual(['bob.example.com']);
    expect(csr.otherSanKinds).toEqual([]);
  });
});
