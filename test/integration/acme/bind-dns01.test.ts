import { X509Certificate } from 'node:crypto';
import { Resolver } from 'node:dns/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Resource } from '../../../src/api/resource.js';
import { CHALLENGE } from '../../../src/controller/acme/index.js';
import { sendTxtUpdate } from '../../../src/issuers/acme/rfc2136/dns-update.js';
import { requirePeer } from '../peer.js';
import { AcmeHarness, NS } from './acme-harness.js';
import { startBind, type Bind } from './bind.js';
import { freePort, pebbleClusterIssuer, startPebble, type Pebble } from './pebble.js';

const peers =
  requirePeer('pebble', 'pebble') && requirePeer('named', 'bind9') && requirePeer('openssl', 'openssl');

const txt = async (bind: Bind, name: string): Promise<string[]> => {
  const r = new Resolver();
  r.setServers([bind.nameserver]);
  try {
    return (await r.resolveTxt(name)).map((parts) => parts.join(''));
  } catch {
    return [];
  }
};

describe.runIf(peers)(
  'DNS-01 through RFC 2136 updates to a real BIND 9, validated by the real pebble',
  () => {
    let bind: Bind;
    let pebble: Pebble;
    let h: AcmeHarness;

    beforeAll(async () => {
      bind = await startBind();
      pebble = await startPebble({ httpPort: await freePort(), dnsServer: bind.nameserver });
      h = new AcmeHarness();
      await h.store.create({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'tsig', namespace: 'cert-manager' },
        data: { secret: Buffer.from(bind.secret).toString('base64') },
      });
      await h.store.create(
        pebbleClusterIssuer('pebble-dns', pebble, {
          privateKeySecretRef: { name: 'pebble-dns-account' },
          solvers: [
            { http01: {} },
            {
              selector: { dnsZones: ['example.test'] },
              dns01: {
                rfc2136: {
                  nameserver: bind.nameserver,
                  tsigKeyName: bind.keyName,
                  tsigAlgorithm: 'HMACSHA256',
                  tsigSecretSecretRef: { name: 'tsig', key: 'secret' },
                },
              },
            },
          ],
        }),
      );
    }, 60_000);

    afterAll(async () => {
      await h.close();
      await pebble.stop();
      await bind.stop();
    });

    it('writes and deletes a TXT record with a TSIG-signed update that BIND accepts', async () => {
      const key = {
        name: bind.keyName,
        algorithm: 'HMACSHA256' as const,
        secret: Buffer.from(bind.secret, 'base64'),
      };
      const update = { zone: 'example.test', name: '_probe.example.test', value: 'hello' };
      await sendTxtUpdate({ nameserver: bind.nameserver, key }, { ...update, action: 'add' }, new Date());
      expect(await txt(bind, '_probe.example.test')).toEqual(['hello']);
      await sendTxtUpdate(
        { nameserver: bind.nameserver, key, protocol: 'TCP' },
        { ...update, action: 'delete' },
        new Date(),
      );
      expect(await txt(bind, '_probe.example.test')).toEqual([]);
    });

    it('is refused by BIND with a message naming TSIG when the secret is wrong', async () => {
      const key = { name: bind.keyName, algorithm: 'HMACSHA256' as const, secret: Buffer.alloc(32, 1) };
      await expect(
        sendTxtUpdate(
          { nameserver: bind.nameserver, key },
          { zone: 'example.test', name: '_x.example.test', value: 'v', action: 'add' },
          new Date(),
        ),
      ).rejects.toThrow(/TSIG|NOTAUTH/);
      expect(await txt(bind, '_x.example.test')).toEqual([]);
    });

    it('issues the reference gateway certificate (a wildcard, RSA 2048, 2160h, renewBefore 720h) and removes its records', async () => {
      await h.store.create({
        apiVersion: 'cert-manager.io/v1',
        kind: 'Certificate',
        metadata: { name: 'gateway', namespace: NS },
        spec: {
          secretName: 'gateway-tls',
          dnsNames: ['*.example.test', 'example.test'],
          duration: '2160h',
          renewBefore: '720h',
          privateKey: { algorithm: 'RSA', size: 2048, rotationPolicy: 'Always' },
          issuerRef: { name: 'pebble-dns', kind: 'ClusterIssuer' },
        },
      });
      const secret = await h.until('the gateway Secret', async () => {
        const s = await h.get<Resource>({
          apiVersion: 'v1',
          kind: 'Secret',
          namespace: NS,
          name: 'gateway-tls',
        });
        return (s?.['data'] as Record<string, string> | undefined)?.['tls.crt'] === undefined ? undefined : s;
      });
      const leaf = new X509Certificate(
        Buffer.from((secret['data'] as Record<string, string>)['tls.crt'] ?? '', 'base64'),
      );
      expect(leaf.subjectAltName).toContain('DNS:*.example.test');
      expect(leaf.subjectAltName).toContain('DNS:example.test');
      expect(leaf.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
      await h.expectIssuedOnce('gateway');
      await h.until('the challenges to be cleaned up', async () =>
        (await h.store.list(CHALLENGE, { namespace: NS })).items.length === 0 ? true : undefined,
      );
      expect(await txt(bind, '_acme-challenge.example.test')).toEqual([]);
    }, 90_000);
  },
);
