import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { CertificateObject } from '../../../src/controller/certificates/certificate-resources.js';
import { pkcs12Keystores } from '../../../src/controller/certificates/keystores.js';
import { encodePkcs12, type Pkcs12Profile } from '../../../src/pki/keystore/pkcs12.js';
import { makeIssued, makeRoot } from '../../../src/pki/testing/pki-fixtures.js';
import { requirePeer } from '../peer.js';

// Java is who reads keystore.p12 and truststore.p12 in practice: its keytool must open every profile.
describe.runIf(requirePeer('keytool', 'openjdk-17-jre-headless'))(
  'PKCS#12 keystores, read by keytool',
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshca-keytool-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const now = new Date();
    const root = makeRoot({ now });
    const leaf = makeIssued(root, { spec: { algorithm: 'ECDSA' } }, { now });
    const password = 'changeit-123';
    const list = (path: string): string =>
      execFileSync(
        'keytool',
        ['-list', '-v', '-storetype', 'PKCS12', '-keystore', path, '-storepass', password],
        {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );

    it.each<Pkcs12Profile>(['LegacyRC2', 'LegacyDES', 'Modern2023'])(
      'opens a %s keystore as one private key entry and a truststore as a trusted certificate entry',
      (profile) => {
        const keystore = join(dir, `keystore-${profile}.p12`);
        const truststore = join(dir, `truststore-${profile}.p12`);
        writeFileSync(
          keystore,
          encodePkcs12({ key: leaf.key, certificates: [leaf.certificate], password, profile }),
          {
            mode: 0o600,
          },
        );
        writeFileSync(truststore, encodePkcs12({ certificates: [root.certificate], password, profile }));
        const keys = list(keystore);
        expect(keys).toContain('Entry type: PrivateKeyEntry');
        expect(keys).toContain('Your keystore contains 1 entry');
        const trust = list(truststore);
        expect(trust).toContain('Entry type: trustedCertEntry');
        expect(trust).toContain(`Owner: CN=test root`);
      },
    );
  },
);

// cert-manager's keystore.p12 carries the ca.crt certificates after the chain (`cas =
// append(certs[1:], cas...)`): Java sees the whole chain up to the root, openssl lists the root.
describe.runIf(requirePeer('keytool', 'openjdk-17-jre-headless') && requirePeer('openssl', 'openssl'))(
  "the controller's keystore.p12, read by keytool and openssl",
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshca-keystore-p12-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const now = new Date();
    const root = makeRoot({ now, name: 'mesh root' });
    const intermediate = makeIssued(
      root,
      { isCA: true, subject: { commonName: 'mesh intermediate' } },
      { now },
    );
    const leaf = makeIssued(intermediate, { spec: { algorithm: 'ECDSA' } }, { now });
    const password = 'changeit-123';

    it.each<[Pkcs12Profile, string[]]>([
      ['LegacyRC2', ['-legacy']],
      ['Modern2023', []],
    ])('a %s keystore.p12 holds the leaf, the intermediate and the root of ca.crt', (profile, flags) => {
      const spec = {
        keystores: { pkcs12: { create: true, password, profile } },
      } as unknown as CertificateObject['spec'];
      const out = pkcs12Keystores({ spec }, password, {
        leaf: leaf.certificate,
        chain: [intermediate.certificate],
        ca: [root.certificate],
        key: leaf.key,
      });
      const path = join(dir, `keystore-${profile}.p12`);
      writeFileSync(path, out['keystore.p12']!, { mode: 0o600 });
      const listed = execFileSync(
        'keytool',
        ['-list', '-v', '-storetype', 'PKCS12', '-keystore', path, '-storepass', password],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
      );
      expect(listed).toContain('Your keystore contains 1 entry');
      expect(listed).toContain('Entry type: PrivateKeyEntry');
      expect(listed).toContain('Certificate chain length: 3');
      expect(listed).toMatch(/Certificate\[3\]:\s*Owner: CN=mesh root/);
      // `pkcs12 -info` reports to stderr and writes the PEM, each with its subject, to stdout.
      const r = spawnSync(
        'openssl',
        ['pkcs12', ...flags, '-info', '-in', path, '-passin', `pass:${password}`, '-nokeys'],
        { encoding: 'utf8' },
      );
      expect(r.status, r.stderr).toBe(0);
      const subjects = [...r.stdout.matchAll(/^subject=(.*)$/gm)].map((m) => m[1]?.replace(/\s/g, ''));
      expect(subjects).toEqual(['CN=leaf.example.com', 'CN=meshintermediate', 'O=meshcatests,CN=meshroot']);
    });
  },
);
