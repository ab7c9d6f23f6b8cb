import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
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
