import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { secretData } from '../../../src/api/secret-data.js';
import { LifecycleHarness, certificate, issuer } from '../../../src/controller/testing/lifecycle-harness.js';
import { requirePeer } from '../peer.js';

const dir = mkdtempSync(join(tmpdir(), 'meshca-lifecycle-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.runIf(requirePeer('openssl', 'openssl'))(
  'certificates issued by the lifecycle controllers, checked by openssl',
  () => {
    it('verifies a workload leaf under root → istio-ca (720h) → istio-ca-issuer with openssl verify -x509_strict', async () => {
      // The real clock: openssl checks validity against its own.
      const h = new LifecycleHarness({}, new Date());
      try {
        await h.apply(
          issuer('selfsigned', { selfSigned: {} }),
          certificate('root-ca', {
            isCA: true,
            commonName: 'mesh root',
            duration: '87600h',
            issuerRef: { name: 'selfsigned' },
          }),
          issuer('istio-intermediate-ca', { ca: { secretName: 'root-ca' } }),
          certificate('istio-ca', {
            isCA: true,
            commonName: 'istio-intermediate-ca.cluster.local',
            duration: '720h',
            usages: ['digital signature', 'cert sign', 'crl sign'],
            issuerRef: { name: 'istio-intermediate-ca' },
          }),
          issuer('istio-ca-issuer', { ca: { secretName: 'istio-ca' } }),
          certificate('workload', {
            uris: ['spiffe://cluster.local/ns/default/sa/web'],
            duration: '24h',
            usages: ['digital signature', 'key encipherment', 'server auth', 'client auth'],
            privateKey: { algorithm: 'RSA', size: 2048, encoding: 'PKCS8' },
            issuerRef: { name: 'istio-ca-issuer' },
          }),
        );
        await h.settle();
        const secret = await h.get('Secret', 'workload');
        const file = (name: string, key: string): string => {
          const path = join(dir, name);
          writeFileSync(path, secretData(secret!, key)!, { mode: 0o600 });
          return path;
        };
        const crt = file('tls.crt', 'tls.crt');
        const ca = file('ca.crt', 'ca.crt');
        const key = file('tls.key', 'tls.key');
        // tls.crt is leaf then intermediate: give openssl the leaf and the rest as untrusted.
        const out = execFileSync(
          'openssl',
          ['verify', '-x509_strict', '-purpose', 'sslserver', '-CAfile', ca, '-untrusted', crt, crt],
          { encoding: 'utf8' },
        );
        expect(out.trim()).toBe(`${crt}: OK`);
        const text = execFileSync('openssl', ['x509', '-in', crt, '-noout', '-text'], { encoding: 'utf8' });
        expect(text).toContain('URI:spiffe://cluster.local/ns/default/sa/web');
        expect(text).toContain('TLS Web Server Authentication');
      expect(text).toContain('TLS Web Client Authentication');
        // The key in tls.key is the certificate's key.
        const certPub = execFileSync('openssl', ['x509', '-in', crt, '-noout', '-pubkey'], {
          encoding: 'utf8',
        });
        const keyPub = execFileSync('openssl', ['pkey', '-in', key, '-pubout'], { encoding: 'utf8' });
        expect(keyPub).toBe(certPub);
      } finally {
        await h.close();
      }
    });
  },
);
