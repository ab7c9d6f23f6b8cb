import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Resource } from '../../../src/api/resource.js';
import {
  CHALLENGE,
  ORDER,
  startHttp01Solver,
  type Http01Solver,
} from '../../../src/controller/acme/index.js';
import { createIssuer } from '../../../src/issuers/create-issuer.js';
import { requirePeer } from '../peer.js';
import { AcmeHarness, NS } from './acme-harness.js';
import { freePort, pebbleClusterIssuer, startChallTestSrv, startPebble, type ChallTestSrv, type Pebble } from './pebble.js';

const peers =
  requirePeer('pebble', 'pebble') &&
  requirePeer('pebble-challtestsrv', 'pebble') &&
  requirePeer('openssl', 'openssl');

const condition = (
  r: Resource | undefined,
  type: string,
): { status?: string; reason?: string; message?: string } | undefined =>
  (
    (
      r?.['status'] as
        { conditions?: { type: string; status?: string; reason?: string; message?: string }[] } | undefined
    )?.conditions ?? []
  ).find((c) => c.type === type);

describe.runIf(peers)('the ACME issuer against the real pebble, HTTP-01 answered by meshca', () => {
  let pebble: Pebble;
  let dns: ChallTestSrv;
  let solver: Http01Solver;
  let h: AcmeHarness;

  beforeAll(async () => {
    h = new AcmeHarness();
    const port = await freePort();
    solver = await startHttp01Solver(h.store, `127.0.0.1:${port}`);
    dns = await startChallTestSrv();
    // One alternate root: every certificate also comes with a chain to it (RFC 8555 §7.4.2).
    pebble = await startPebble({ httpPort: port, dnsServer: dns.dnsServer, env: { PEBBLE_ALTERNATE_ROOTS: '1' } });
    await h.store.create(
      pebbleClusterIssuer('pebble', pebble, {
        email: 'ops@example.test',
        privateKeySecretRef: { name: 'pebble-account' },
        solvers: [{ http01: { ingress: {} } }],
      }),
    );
  }, 60_000);

  afterAll(async () => {
    await h.close();
    await solver.close();
    await pebble.stop();
    await dns.stop();
  });

  it('issues an RSA 2048 gateway certificate, cleans its challenges up and keeps the account key in a Secret', async () => {
    await h.store.create({
      apiVersion: 'cert-manager.io/v1',
      kind: 'Certificate',
      metadata: { name: 'gateway', namespace: NS },
      spec: {
        secretName: 'gateway-tls',
        dnsNames: ['gateway.example.test', 'www.example.test'],
        duration: '2160h',
        renewBefore: '720h',
        privateKey: { algorithm: 'RSA', size: 2048, rotationPolicy: 'Always' },
        issuerRef: { name: 'pebble', kind: 'ClusterIssuer' },
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
    const pem = Buffer.from((secret['data'] as Record<string, string>)['tls.crt'] ?? '', 'base64').toString();
    const leaf = new X509Certificate(pem);
    expect(leaf.subjectAltName).toContain('DNS:gateway.example.test');
    expect(leaf.subjectAltName).toContain('DNS:www.example.test');
    expect(leaf.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(leaf.issuer).toContain('Pebble Intermediate');
    const cert = await h.until('the Certificate to be Ready', async () => {
      const c = await h.get<Resource>({
        apiVersion: 'cert-manager.io/v1',
        kind: 'Certificate',
        namespace: NS,
        name: 'gateway',
      });
      return condition(c, 'Ready')?.status === 'True' ? c : undefined;
    });
    expect(cert).toBeDefined();
    await h.expectIssuedOnce('gateway');
    const orders = await h.store.list<Resource>(ORDER, { namespace: NS });
    expect(orders.items.map((o) => (o['status'] as { state?: string }).state)).toEqual(['valid']);
    await h.until('the challenges to be cleaned up', async () =>
      (await h.store.list(CHALLENGE, { namespace: NS })).items.length === 0 ? true : undefined,
    );
    const account = await h.get<Resource>({
      apiVersion: 'v1',
      kind: 'Secret',
      namespace: 'cert-manager',
      name: 'pebble-account',
    });
    expect(
      Buffer.from((account?.['data'] as Record<string, string>)['tls.key'] ?? '', 'base64').toString(),
    ).toContain('PRIVATE KEY');
  }, 90_000);

  it("is ready once its account key exists and the account registers, and not ready when pebble's TLS certificate is not trusted", async () => {
    const options = {
      getSecret: (namespace: string, name: string) =>
        h.get<Resource>({ apiVersion: 'v1', kind: 'Secret', namespace, name }),
      clusterResourceNamespace: 'cert-manager',
      now: () => new Date(),
    };
    const resource = await h.until('the ClusterIssuer', () =>
      h.get<Resource>({ apiVersion: 'cert-manager.io/v1', kind: 'ClusterIssuer', name: 'pebble' }),
    );
    await h.until('the account key Secret', () =>
      h.get<Resource>({
        apiVersion: 'v1',
        kind: 'Secret',
        namespace: 'cert-manager',
        name: 'pebble-account',
      }),
    );
    await expect((await createIssuer(resource, options)).checkReady?.(new Date())).resolves.toBeUndefined();
    const spec = resource['spec'] as { acme: Record<string, unknown> };
    const untrusted = { ...resource, spec: { acme: { ...spec.acme, caBundle: undefined } } };
    await expect((await createIssuer(untrusted, options)).checkReady?.(new Date())).rejects.toThrow(
      /cannot reach the acme server .* TLS failure/,
    );
  });

  it('takes the alternate chain that preferredChain names, and the default one without it', async () => {
    const rootName = async (i: number): Promise<string> =>
      new X509Certificate(await pebble.rootPem(i)).subject.replace(/^CN=/, '');
    const [defaultRoot, alternateRoot] = [await rootName(0), await rootName(1)];
    expect(alternateRoot).not.toBe(defaultRoot);
    await h.store.create(
      pebbleClusterIssuer('pebble-alternate', pebble, {
        preferredChain: alternateRoot,
        privateKeySecretRef: { name: 'pebble-account' },
        solvers: [{ http01: { ingress: {} } }],
      }),
    );
    for (const [name, issuer] of [['chain-default', 'pebble'], ['chain-preferred', 'pebble-alternate']] as const)
      await h.createCertificate(name, [`${name}.example.test`], issuer);
    const topIssuer = async (name: string): Promise<string> => {
      const secret = await h.until(`the ${name} Secret`, async () => {
        const s = await h.get<Resource>({ apiVersion: 'v1', kind: 'Secret', namespace: NS, name: `${name}-tls` });
        return (s?.['data'] as Record<string, string> | undefined)?.['tls.crt'] === undefined ? undefined : s;
      });
      const pem = Buffer.from((secret['data'] as Record<string, string>)['tls.crt']!, 'base64').toString();
      const chain = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
      return new X509Certificate(chain.at(-1)!).issuer.replace(/^CN=/, '');
    };
    expect(await topIssuer('chain-default')).toBe(defaultRoot);
    expect(await topIssuer('chain-preferred')).toBe(alternateRoot);
    for (const name of ['chain-default', 'chain-preferred']) await h.expectIssuedOnce(name);
  }, 60_000);

  it('refuses a wildcard with an HTTP-01 solver, saying a DNS-01 solver is needed, and fails the request', async () => {
    await h.createCertificate('wild', ['*.apps.example.test'], 'pebble');
    const order = await h.orderIn('wild', ['errored']);
    expect((order['status'] as { reason: string }).reason).toContain(
      '*.apps.example.test is a wildcard and needs a DNS-01 solver',
    );
    expect(await h.failedRequestMessage('wild')).toContain('needs a DNS-01 solver');
  }, 60_000);

  it('fails the order when pebble cannot reach the solver, saying which name and what pebble found', async () => {
    // The name resolves to a loopback address where nothing listens: pebble's HTTP-01 fetch is refused.
    await dns.addA('unreachable.example.test', ['127.0.0.2']);
    await h.createCertificate('unreachable', ['unreachable.example.test'], 'pebble');
    // pebble marks the authorization invalid before the order: the order ends errored with its text.
    const order = await h.orderIn('unreachable', ['errored', 'invalid']);
    const reason = (order['status'] as { reason: string }).reason;
    expect(reason).toContain('authorization for unreachable.example.test is invalid (http-01 challenge): ');
    expect(reason).toMatch(/127\.0\.0\.2:\d+: connect: connection refused \(urn:ietf:params:acme:error:connection\)$/);
    expect(await h.failedRequestMessage('unreachable')).toContain(reason);
  }, 60_000);
});
