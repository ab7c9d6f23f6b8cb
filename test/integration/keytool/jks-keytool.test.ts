import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { CertificateObject } from '../../../src/controller/certificates/certificate-resources.js';
import { jksKeystores } from '../../../src/controller/certificates/keystores.js';
import { encodeJks } from '../../../src/pki/keystore/jks.js';
import type { KeySpec } from '../../../src/pki/index.js';
import { makeIssued, makeRoot } from '../../../src/pki/testing/pki-fixtures.js';
import { requirePeer } from '../peer.js';

// keytool is the referee for JKS: it checks the integrity hash and recovers the protected key.
describe.runIf(requirePeer('keytool', 'openjdk-17-jre-headless'))('JKS keystores, read by keytool', () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshca-jks-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const now = new Date();
  const root = makeRoot({ now });
  const password = 'changeit-123';
  // keytool writes some reports to stderr and its errors to stdout: read both.
  const keytool = (...args: string[]): string => {
    const r = spawnSync('keytool', args, { encoding: 'utf8' });
    const out = `${r.stdout}${r.stderr}`;
    if (r.status !== 0) throw new Error(`keytool failed: ${out}`);
    return out;
  };

  it.each<[KeySpec]>([[{ algorithm: 'ECDSA' }], [{ algorithm: 'RSA' }], [{ algorithm: 'Ed25519' }]])(
    'keytool lists a %j key entry with its chain and a trusted CA, and recovers the key',
    (spec) => {
      const leaf = makeIssued(root, { spec }, { now });
      const path = join(dir, `keystore-${spec.algorithm}.jks`);
      writeFileSync(
        path,
        encodeJks({
          entries: [
            { alias: 'certificate', key: leaf.key, chain: [leaf.certificate, root.certificate] },
            { alias: 'ca', trusted: root.certificate },
          ],
          password,
          now,
        }),
        { mode: 0o600 },
      );
      const listed = keytool('-list', '-v', '-storetype', 'JKS', '-keystore', path, '-storepass', password);
      expect(listed).toContain('Your keystore contains 2 entries');
      expect(listed).toContain('Alias name: certificate');
      expect(listed).toContain('Entry type: PrivateKeyEntry');
      expect(listed).toContain('Certificate chain length: 2');
      expect(listed).toContain('Entry type: trustedCertEntry');
      // Converting to PKCS#12 makes keytool decrypt the key with the password.
      const out = join(dir, `converted-${spec.algorithm}.p12`);
      const converted = keytool(
        '-importkeystore',
        '-noprompt',
        '-srckeystore',
        path,
        '-srcstoretype',
        'JKS',
        '-srcstorepass',
        password,
        '-destkeystore',
        out,
        '-deststoretype',
        'PKCS12',
        '-deststorepass',
        password,
      );
      expect(converted).toContain('2 entries successfully imported, 0 entries failed or cancelled');
    },
  );

  it('keytool lists the CAs of truststore.jks and keystore.jks as "ca", "ca-1", "ca-2", as cert-manager names them', () => {
    const roots = [root, makeRoot({ now, name: 'next root' }), makeRoot({ now, name: 'old root' })];
    const leaf = makeIssued(root, { spec: { algorithm: 'ECDSA' } }, { now });
    const spec = { keystores: { jks: { create: true, password } } } as unknown as CertificateObject['spec'];
    const out = jksKeystores(
      { spec },
      password,
      { leaf: leaf.certificate, chain: [], ca: roots.map((r) => r.certificate), key: leaf.key },
      now,
    );
    for (const file of ['truststore.jks', 'keystore.jks']) {
      const path = join(dir, `controller-${file}`);
      writeFileSync(path, out[file]!, { mode: 0o600 });
      const listed = keytool('-list', '-v', '-storetype', 'JKS', '-keystore', path, '-storepass', password);
      const aliases = [...listed.matchAll(/^Alias name: (.*)$/gm)].map((m) => m[1]);
      expect(aliases.sort()).toEqual(
        file === 'keystore.jks' ? ['ca', 'ca-1', 'ca-2', 'certificate'] : ['ca', 'ca-1', 'ca-2'],
      );
      for (const [alias, cn] of [
        ['ca', 'test root'],
        ['ca-1', 'next root'],
        ['ca-2', 'old root'],
      ] as const) {
        expect(listed).toMatch(
          new RegExp(
            `Alias name: ${alias}\\s+Creation date: .*\\s+Entry type: trustedCertEntry\\s+\\s*Owner: CN=${cn},`,
          ),
        );
      }
    }
  });

  it('keytool refuses the keystore under a wrong password (the integrity check fails)', () => {
    const path = join(dir, 'wrong.jks');
    writeFileSync(path, encodeJks({ entries: [{ alias: 'ca', trusted: root.certificate }], password, now }));
    expect(() =>
      keytool('-list', '-storetype', 'JKS', '-keystore', path, '-storepass', 'wrong-pass'),
    ).toThrow(/password was incorrect/);
  });
});
