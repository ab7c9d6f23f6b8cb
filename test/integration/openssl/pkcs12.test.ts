import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodePkcs12, type Pkcs12Profile } from '../../../src/pki/keystore/pkcs12.js';
import { parseCertificate, parsePrivateKey, publicKeysEqual, type KeySpec } from '../../../src/pki/index.js';
import { makeIssued, makeRoot } from '../../../src/pki/testing/pki-fixtures.js';
import { requirePeer } from '../peer.js';

// openssl reads every PKCS#12 profile meshca writes, checks its MAC and decrypts key and certificates.
describe.runIf(requirePeer('openssl', 'openssl'))('PKCS#12 keystores, read by openssl', () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshca-p12-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const openssl = (...args: string[]): string =>
    execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  // `pkcs12 -info` writes its report to stderr and the PEM to stdout: read both.
  const opensslAll = (...args: string[]): string => {
    const r = spawnSync('openssl', args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.stderr}`);
    return `${r.stderr}${r.stdout}`;
  };
  const now = new Date();
  const root = makeRoot({ now });
  const password = 'pässwörd with spaces';

  it.each<[Pkcs12Profile, KeySpec, string[], string]>([
    [
      'LegacyRC2',
      { algorithm: 'RSA' },
      ['-legacy'],
      'PKCS7 Encrypted data: pbeWithSHA1And40BitRC2-CBC, Iteration 2048',
    ],
    [
      'LegacyDES',
      { algorithm: 'ECDSA' },
      ['-legacy'],
      'Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 2048',
    ],
    [
      'Modern2023',
      { algorithm: 'ECDSA' },
      [],
      'Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256',
    ],
    ['Modern2023', { algorithm: 'Ed25519' }, [], 'MAC: sha256, Iteration 2048'],
  ])(
    'a %s keystore of a %j key opens with the password and gives back key and chain',
    (profile, spec, flags, info) => {
      const leaf = makeIssued(root, { spec }, { now });
      const path = join(dir, `${profile}-${spec.algorithm}.p12`);
      writeFileSync(
        path,
        encodePkcs12({
          key: leaf.key,
          certificates: [leaf.certificate, root.certificate],
          password,
          profile,
        }),
        {
          mode: 0o600,
        },
      );
      const infoText = opensslAll(
        'pkcs12',
        ...flags,
        '-info',
        '-in',
        path,
        '-passin',
        `pass:${password}`,
        '-nokeys',
      );
      expect(infoText).toContain(info);
      const out = openssl('pkcs12', ...flags, '-in', path, '-passin', `pass:${password}`, '-nodes');
      const certs = [...out.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)].map(
        (m) => parseCertificate(m[0]),
      );
      expect(certs.map((c) => c.fingerprintSha256)).toEqual([
        leaf.certificate.fingerprintSha256,
        root.certificate.fingerprintSha256,
      ]);
      const keyPem = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----/.exec(out)?.[0] ?? '';
      expect(publicKeysEqual(parsePrivateKey(keyPem), leaf.key)).toBe(true);
    },
  );

  it('refuses a wrong password (the MAC does not verify)', () => {
    const leaf = makeIssued(root, {}, { now });
    const path = join(dir, 'wrong.p12');
    writeFileSync(
      path,
      encodePkcs12({ key: leaf.key, certificates: [leaf.certificate], password, profile: 'Modern2023' }),
    );
    expect(() => openssl('pkcs12', '-in', path, '-passin', 'pass:wrong', '-nodes')).toThrow(
      /mac verify error/i,
    );
  });

  it('a truststore holds the roots alone, each marked trusted for Java', () => {
    const path = join(dir, 'trust.p12');
    writeFileSync(path, encodePkcs12({ certificates: [root.certificate], password, profile: 'Modern2023' }));
    const text = opensslAll('pkcs12', '-info', '-in', path, '-passin', `pass:${password}`, '-nokeys');
    expect(text).toContain('2.16.840.1.113894.746875.1.1');
    expect(text).not.toContain('Shrouded Keybag');
    expect(text.match(/Certificate bag/g)).toHaveLength(1);
  });
});
