import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Resource } from '../../api/resource.js';
import {
  buildCsr,
  encodePrivateKey,
  generatePrivateKey,
  issueCertificate,
  parseCsr,
} from '../../pki/index.js';
import {
  makeFakePki,
  startFakeVault,
  type FakeVault,
  type FakeVaultOptions,
} from '../../../test/fakes/vault/fake-vault.js';
import { createIssuer, type CreateIssuerOptions } from '../create-issuer.js';
import type { SignRequest } from '../issuer.js';
import { UpstreamTokenCache } from '../upstream-token-cache.js';

const HOUR = 3_600_000;
let now = new Date('2030-01-01T00:00:00Z');
const clock = (): Date => now;
const pki = makeFakePki(now, { roles: { mesh: { maxTtlMs: 24 * HOUR } } });
const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

const fakes: FakeVault[] = [];
afterEach(async () => {
  now = new Date('2030-01-01T00:00:00Z');
  await Promise.all(fakes.splice(0).map((f) => f.close()));
});
const fake = async (options: Partial<FakeVaultOptions> = {}): Promise<FakeVault> => {
  const f = await startFakeVault({
    now: clock,
    mounts: { pki: pki },
    staticTokens: ['root-token'],
    ...options,
  });
  fakes.push(f);
  return f;
};

const secret = (name: string, data: Record<string, string>, namespace = 'team'): Resource => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace },
  data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
});
const issuerOf = (vault: Record<string, unknown>, kind: 'Issuer' | 'ClusterIssuer' = 'Issuer'): Resource => ({
  apiVersion: 'cert-manager.io/v1',
  kind,
  metadata:
    kind === 'Issuer' ? { name: 'vault', namespace: 'team', uid: 'u1' } : { name: 'vault', uid: 'u1' },
  spec: { vault: { path: 'pki/sign/mesh', ...vault } },
});
const options = (secrets: Resource[], extra: Partial<CreateIssuerOptions> = {}): CreateIssuerOptions => ({
  getSecret: async (ns, name) => secrets.find((s) => s.metadata.namespace === ns && s.metadata.name === name),
  clusterResourceNamespace: 'cert-manager',
  ...extra,
});
const tokenSecret = secret('vault-token', { token: 'root-token' });
const tokenAuth = { tokenSecretRef: { name: 'vault-token' } };

const key = generatePrivateKey();
const csr = parseCsr(
  buildCsr({ key, subject: { commonName: 'gw.example.com' }, sans: { dnsNames: ['gw.example.com'] } }),
);
const request = (over: Partial<SignRequest> = {}): SignRequest => ({
  csr,
  durationMs: 2 * HOUR,
  now,
  ...over,
});

/** A JWT-shaped token for service account team/meshca (the fake checks its shape and subject). */
const jwt = (sub = 'system:serviceaccount:team:meshca'): string =>
  `${Buffer.from('{"alg":"ES256"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub })).toString('base64url')}.c2ln`;

describe('the Vault issuer against the fake Vault', () => {
  it('signs through <mount>/sign/<role> with a token from a Secret, honouring the ttl', async () => {
    const v = await fake();
    const issuer = await createIssuer(issuerOf({ server: v.url, auth: tokenAuth }), options([tokenSecret]));
    const got = await issuer.sign(request());
    expect(got.certificate.sans.dnsNames).toEqual(['gw.example.com']);
    expect(got.certificate.notAfter.getTime() - got.certificate.notBefore.getTime()).toBe(2 * HOUR);
    expect(got.chain.map((c) => c.subjectString)).toEqual(['CN=Vault Fake Intermediate']);
    expect(got.ca.map((c) => c.subjectString)).toEqual(['CN=Vault Fake Root']);
    const sent = v.requests.at(-1);
    expect(sent?.path).toBe('/v1/pki/sign/mesh');
    expect(sent?.headers['x-vault-token']).toBe('root-token');
    expect(sent?.body).toMatchObject({
      common_name: 'gw.example.com',
      ttl: '7200s',
      exclude_cn_from_sans: true,
    });
  });

  it("gets at most the role's max ttl, as Vault clamps it", async () => {
    const v = await fake();
    const issuer = await createIssuer(issuerOf({ server: v.url, auth: tokenAuth }), options([tokenSecret]));
    const got = await issuer.sign(request({ durationMs: 100 * HOUR }));
    expect(got.certificate.notAfter.getTime() - now.getTime()).toBe(24 * HOUR);
  });

  it('signs an intermediate CA through <mount>/root/sign-intermediate', async () => {
    const v = await fake();
    const caKey = generatePrivateKey();
    const caCsr = parseCsr(
      buildCsr({ key: caKey, subject: { commonName: 'istio-intermediate-ca.cluster.local' } }),
    );
    const issuer = await createIssuer(
      issuerOf({ server: v.url, path: 'pki/root/sign-intermediate', auth: tokenAuth }),
      options([tokenSecret]),
    );
    const got = await issuer.sign({ csr: caCsr, durationMs: 720 * HOUR, isCA: true, now });
    expect(got.certificate.isCA).toBe(true);
    expect(got.certificate.subject.commonName).toBe('istio-intermediate-ca.cluster.local');
  });

  it('logs in with AppRole and keeps the token for the next issuer built from the same resource', async () => {
    const v = await fake({ appRoles: { 'role-1': 's3cret' } });
    const tokens = new UpstreamTokenCache();
    const resource = issuerOf({
      server: v.url,
      auth: {
        appRole: { path: 'approle', roleId: 'role-1', secretRef: { name: 'approle', key: 'secretId' } },
      },
    });
    const opts = options([secret('approle', { secretId: 's3cret' })], { upstreamTokens: tokens });
    await (await createIssuer(resource, opts)).sign(request());
    await (await createIssuer(resource, opts)).sign(request());
    expect(v.logins.approle).toBe(1);
    expect(v.requests.find((r) => r.path === '/v1/auth/approle/login')?.body).toEqual({
      role_id: 'role-1',
      secret_id: 's3cret',
    });
  });

  it('logs in again when the lease of its token has ended', async () => {
    const v = await fake({ appRoles: { 'role-1': 's3cret' }, tokenTtlSeconds: 600 });
    const tokens = new UpstreamTokenCache();
    const resource = issuerOf({
      server: v.url,
      auth: { appRole: { path: 'approle', roleId: 'role-1', secretRef: { name: 'approle' } } },
    });
    const opts = options([secret('approle', { secretId: 's3cret' })], { upstreamTokens: tokens });
    await (await createIssuer(resource, opts)).sign(request());
    now = new Date(now.getTime() + 601_000);
    await (await createIssuer(resource, opts)).sign(request());
    expect(v.logins.approle).toBe(2);
    expect(
      v.requests.filter((r) => r.path === '/v1/pki/sign/mesh' && r.headers['x-vault-token'] !== undefined),
    ).toHaveLength(2);
  });

  it('logs in again once when Vault refuses a token it revoked, and signs', async () => {
    const v = await fake({ appRoles: { 'role-1': 's3cret' } });
    const resource = issuerOf({
      server: v.url,
      auth: { appRole: { path: 'approle', roleId: 'role-1', secretRef: { name: 'approle' } } },
    });
    const issuer = await createIssuer(resource, options([secret('approle', { secretId: 's3cret' })]));
    await issuer.sign(request());
    v.revokeAll();
    await issuer.sign(request());
    expect(v.logins.approle).toBe(2);
  });

  it("gives up with Vault's message when it refuses again after the new login", async () => {
    const v = await fake({ appRoles: { 'role-1': 's3cret' } });
    const resource = issuerOf({
      server: v.url,
      auth: { appRole: { path: 'approle', roleId: 'role-1', secretRef: { name: 'approle' } } },
    });
    const issuer = await createIssuer(resource, options([secret('approle', { secretId: 's3cret' })]));
    v.mode = 'forbidden';
    await expect(issuer.sign(request())).rejects.toMatchObject({
      code: 'UPSTREAM_REJECTED',
      retryable: false,
      message: 'vault: sign at pki/sign/mesh: HTTP 403: permission denied',
    });
    expect(v.logins.approle).toBe(2);
  });

  it("reports a refused AppRole login with Vault's words, as a final error", async () => {
    const v = await fake({ appRoles: { 'role-1': 's3cret' } });
    const resource = issuerOf({
      server: v.url,
      auth: { appRole: { path: 'approle', roleId: 'role-1', secretRef: { name: 'approle' } } },
    });
    const issuer = await createIssuer(resource, options([secret('approle', { secretId: 'wrong' })]));
    await expect(issuer.sign(request())).rejects.toMatchObject({
      code: 'UPSTREAM_REJECTED',
      message: 'vault: login with appRole at auth/approle/login: HTTP 400: invalid secret id',
    });
  });

  it('logs in with kubernetes auth using the service-account token in a Secret', async () => {
    const v = await fake({ kubernetesRoles: { 'meshca-role': 'system:serviceaccount:team:meshca' } });
    const resource = issuerOf({
      server: v.url,
      auth: { kubernetes: { role: 'meshca-role', secretRef: { name: 'sa-token' } } },
    });
    await (await createIssuer(resource, options([secret('sa-token', { token: jwt() })]))).sign(request());
    expect(v.requests.find((r) => r.path === '/v1/auth/kubernetes/login')?.body).toEqual({
      role: 'meshca-role',
      jwt: jwt(),
    });
  });

  it('logs in with kubernetes auth at a custom mountPath with a token meshca mints, naming the issuer in the audience', async () => {
    const v = await fake({ kubernetesRoles: { 'meshca-role': undefined } });
    const asked: unknown[] = [];
    const resource = issuerOf(
      {
        server: v.url,
        auth: {
          kubernetes: {
            role: 'meshca-role',
            mountPath: '/v1/auth/kubernetes',
            serviceAccountRef: { name: 'meshca', audiences: ['extra'] },
          },
        },
      },
      'ClusterIssuer',
    );
    const issuer = await createIssuer(
      resource,
      options([], {
        tokenMinter: async (r) => {
          asked.push(r);
          return jwt(`system:serviceaccount:${r.namespace}:${r.serviceAccount}`);
        },
      }),
    );
    await issuer.sign(request());
    expect(asked).toEqual([
      {
        namespace: 'cert-manager',
        serviceAccount: 'meshca',
        audiences: ['vault://vault', 'extra'],
        ttlMs: 600_000,
      },
    ]);
  });

  it.each([
    ['a token that is not a JWT', 'not-a-jwt', 'HTTP 400: not a compact JWS'],
    [
      'a JWT for another service account',
      jwt('system:serviceaccount:other:x'),
      'HTTP 403: permission denied',
    ],
  ])('reports a kubernetes login with %s', async (_what, token, message) => {
    const v = await fake({ kubernetesRoles: { 'meshca-role': 'system:serviceaccount:team:meshca' } });
    const resource = issuerOf({
      server: v.url,
      auth: { kubernetes: { role: 'meshca-role', secretRef: { name: 'sa-token' } } },
    });
    const issuer = await createIssuer(resource, options([secret('sa-token', { token })]));
    await expect(issuer.sign(request())).rejects.toMatchObject({
      code: 'UPSTREAM_REJECTED',
      message: expect.stringContaining(message) as unknown,
    });
  });

  it('refuses serviceAccountRef when this process cannot mint tokens', async () => {
    const resource = issuerOf({
      server: 'http://127.0.0.1:1',
      auth: { kubernetes: { role: 'r', serviceAccountRef: { name: 'meshca' } } },
    });
    await expect(createIssuer(resource, options([]))).rejects.toMatchObject({
      code: 'ISSUER_INVALID',
      message: expect.stringContaining('serviceAccountRef needs meshca to mint tokens') as unknown,
    });
  });

  it('talks TLS to Vault with the caBundle, and logs in with a client certificate (cert auth over mTLS)', async () => {
    const clientKey = generatePrivateKey();
    const clientCa = makeFakePki(new Date());
    const clientCert = issueCertificate(
      {
        publicKey: clientKey,
        subject: { commonName: 'meshca' },
        extKeyUsages: ['clientAuth'],
        lifetimeMs: HOUR,
      },
      clientCa.ca,
      { now: new Date(), backdateMs: 60_000 },
    );
    const v = await fake({
      tls: true,
      requestClientCertificate: true,
      certRoles: { meshca: clientCert.fingerprintSha256 },
    });
    const resource = issuerOf({
      server: v.url.replace('127.0.0.1', 'localhost'),
      caBundle: b64(v.tlsCaPem ?? ''),
      auth: { clientCertificate: { name: 'meshca', secretName: 'vault-client' } },
    });
    const secrets = [
      secret('vault-client', { 'tls.crt': clientCert.pem, 'tls.key': encodePrivateKey(clientKey, 'PKCS8') }),
    ];
    await (await createIssuer(resource, options(secrets))).sign(request());
    expect(v.logins.cert).toBe(1);
    expect(v.requests.find((r) => r.path === '/v1/auth/cert/login')?.body).toEqual({ name: 'meshca' });
  });

  it('reads the caBundle from a Secret and checks the serverName it is given', async () => {
    const v = await fake({ tls: true });
    const secrets = [tokenSecret, secret('vault-ca', { 'ca.crt': v.tlsCaPem ?? '' })];
    const good = issuerOf({
      server: v.url,
      serverName: 'vault.test',
      caBundleSecretRef: { name: 'vault-ca' },
      auth: tokenAuth,
    });
    await (await createIssuer(good, options(secrets))).sign(request());
    const wrongName = issuerOf({
      server: v.url,
      serverName: 'other.test',
      caBundleSecretRef: { name: 'vault-ca' },
      auth: tokenAuth,
    });
    await expect((await createIssuer(wrongName, options(secrets))).sign(request())).rejects.toMatchObject({
      code: 'UPSTREAM_UNAVAILABLE',
      message: expect.stringContaining("Hostname/IP does not match certificate's altnames") as unknown,
    });
  });

  it('refuses a TLS Vault whose certificate no trusted root signs', async () => {
    const v = await fake({ tls: true });
    const issuer = await createIssuer(issuerOf({ server: v.url, auth: tokenAuth }), options([tokenSecret]));
    await expect(issuer.sign(request())).rejects.toMatchObject({
      code: 'UPSTREAM_UNAVAILABLE',
      message: expect.stringContaining('certificate') as unknown,
    });
  });

  it('sends X-Vault-Namespace on login and sign, not on sys/health', async () => {
    const v = await fake({ namespace: 'team-a', appRoles: { r: 's' } });
    const resource = issuerOf({
      server: v.url,
      namespace: 'team-a',
      auth: { appRole: { path: 'approle', roleId: 'r', secretRef: { name: 'approle' } } },
    });
    const issuer = await createIssuer(resource, options([secret('approle', { secretId: 's' })]));
    await issuer.checkReady?.(now);
    await issuer.sign(request());
    expect(v.requests.map((r) => [r.path, r.headers['x-vault-namespace']])).toEqual([
      ['/v1/sys/health', undefined],
      ['/v1/auth/approle/login', 'team-a'],
      ['/v1/pki/sign/mesh', 'team-a'],
    ]);
  });

  it.each([
    [
      'answers 500',
      (v: FakeVault) => void (v.mode = 'error500'),
      'UPSTREAM_UNAVAILABLE',
      'HTTP 500: internal error',
    ],
    [
      'is sealed',
      (v: FakeVault) => void (v.mode = 'sealed'),
      'UPSTREAM_UNAVAILABLE',
      'HTTP 503: Vault is sealed',
    ],
    ['is down', (v: FakeVault) => void v.stop(), 'UPSTREAM_UNAVAILABLE', 'ECONNREFUSED'],
    [
      'is slower than the timeout',
      (v: FakeVault) => void (v.mode = 'slow'),
      'UPSTREAM_UNAVAILABLE',
      'no complete answer within 200 ms',
    ],
    [
      'answers 429',
      (v: FakeVault) =>
        void (v.override = () => ({ status: 429, text: '{"errors":["rate limit quota exceeded"]}' })),
      'UPSTREAM_UNAVAILABLE',
      'HTTP 429: rate limit quota exceeded',
    ],
    [
      'answers more than 1 MiB',
      (v: FakeVault) =>
        void (v.override = () => ({
          status: 200,
          text: `{"data":{"certificate":"${'A'.repeat(1_100_000)}"}}`,
        })),
      'UPSTREAM_REJECTED',
      'the answer is larger than 1048576 bytes',
    ],
    [
      'answers a page that is not JSON',
      (v: FakeVault) => void (v.override = () => ({ status: 200, text: '<html>hello</html>' })),
      'UPSTREAM_REJECTED',
      'answered HTTP 200 with a body that is not JSON',
    ],
    [
      'answers 502 with a proxy page',
      (v: FakeVault) => void (v.override = () => ({ status: 502, text: '<html>bad gateway</html>' })),
      'UPSTREAM_UNAVAILABLE',
      'HTTP 502',
    ],
    [
      'answers with no certificate',
      (v: FakeVault) => void (v.override = () => ({ status: 200, text: '{"data":{"issuing_ca":""}}' })),
      'UPSTREAM_REJECTED',
      'the sign answer has no data.certificate',
    ],
    [
      'answers 400 for an unknown role',
      (v: FakeVault) =>
        void (v.override = () => ({ status: 400, text: '{"errors":["unknown role: mesh"]}' })),
      'UPSTREAM_REJECTED',
      'vault: sign at pki/sign/mesh: HTTP 400: unknown role: mesh',
    ],
  ])('fails precisely when Vault %s', async (_what, breakIt, code, message) => {
    const v = await fake({ slowMs: 1000 });
    const issuer = await createIssuer(
      issuerOf({ server: v.url, auth: tokenAuth }),
      options([tokenSecret], { upstreamTimeoutMs: 200 }),
    );
    breakIt(v);
    await expect(issuer.sign(request())).rejects.toMatchObject({
      code,
      message: expect.stringContaining(message) as unknown,
    });
  });

  it('signs again by itself once Vault is back', async () => {
    const v = await fake();
    const issuer = await createIssuer(issuerOf({ server: v.url, auth: tokenAuth }), options([tokenSecret]));
    await v.stop();
    await expect(issuer.sign(request())).rejects.toMatchObject({ retryable: true });
    await v.start();
    await expect(issuer.sign(request())).resolves.toMatchObject({
      certificate: expect.anything() as unknown,
    });
  });

  it('follows a standby redirect on the same origin', async () => {
    const v = await fake();
    v.override = (path) =>
      path === '/v1/pki/sign/mesh'
        ? { status: 307, text: '', headers: { location: '/v1/pki/sign/mesh?active=1' } }
        : undefined;
    const issuer = await createIssuer(issuerOf({ server: v.url, auth: tokenAuth }), options([tokenSecret]));
    // The fake redirects every time: the client stops after three hops.
    await expect(issuer.sign(request())).rejects.toMatchObject({
      code: 'UPSTREAM_UNAVAILABLE',
      message: expect.stringContaining('redirected more than 3 times') as unknown,
    });
    expect(v.requests.filter((r) => r.path === '/v1/pki/sign/mesh')).toHaveLength(4);
    let first = true;
    v.override = (path) => {
      if (path !== '/v1/pki/sign/mesh' || !first) return undefined;
      first = false;
      return { status: 307, text: '', headers: { location: `${v.url}/v1/pki/sign/mesh` } };
    };
    await expect(issuer.sign(request())).resolves.toMatchObject({
      certificate: expect.anything() as unknown,
    });
  });

  it('refuses a redirect to another host without sending the token there', async () => {
    let hits = 0;
    const other = http.createServer((_req, res) => {
      hits++;
      res.end('{}');
    });
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
    const otherUrl = `http://localhost:${(other.address() as AddressInfo).port}`;
    const v = await fake();
    v.override = () => ({ status: 307, text: '', headers: { location: `${otherUrl}/v1/pki/sign/mesh` } });
    try {
      const issuer = await createIssuer(issuerOf({ server: v.url, auth: tokenAuth }), options([tokenSecret]));
      await expect(issuer.sign(request())).rejects.toMatchObject({
        code: 'UPSTREAM_REJECTED',
        message: expect.stringContaining(`redirected to another origin (${otherUrl})`) as unknown,
      });
      expect(hits).toBe(0);
    } finally {
      await new Promise((r) => other.close(r));
    }
  });

  it('reads a 307 without a Location as a refusal', async () => {
    const v = await fake();
    v.override = () => ({ status: 307, text: '' });
    const issuer = await createIssuer(issuerOf({ server: v.url, auth: tokenAuth }), options([tokenSecret]));
    await expect(issuer.sign(request())).rejects.toMatchObject({
      code: 'UPSTREAM_REJECTED',
      message: 'vault: sign at pki/sign/mesh: HTTP 307',
    });
  });

  it('refuses a certificate Vault signed for another key', async () => {
    const v = await fake();
    const other = issueCertificate(
      { publicKey: generatePrivateKey(), subject: { commonName: 'x' }, lifetimeMs: HOUR },
      pki.ca,
      { now },
    );
    v.override = (path) =>
      path === '/v1/pki/sign/mesh'
        ? {
            status: 200,
            text: JSON.stringify({ data: { certificate: other.pem, issuing_ca: pki.ca.certificate.pem } }),
          }
        : undefined;
    const issuer = await createIssuer(issuerOf({ server: v.url, auth: tokenAuth }), options([tokenSecret]));
    await expect(issuer.sign(request())).rejects.toMatchObject({
      code: 'UPSTREAM_REJECTED',
      message: expect.stringContaining('is not for the key of the CSR') as unknown,
    });
  });

  it('reports a missing token Secret as not ready (retryable)', async () => {
    const v = await fake();
    const issuer = await createIssuer(issuerOf({ server: v.url, auth: tokenAuth }), options([]));
    await expect(issuer.sign(request())).rejects.toMatchObject({
      code: 'ISSUER_NOT_READY',
      retryable: true,
      message: 'Issuer team/vault: secret team/vault-token (spec.vault.auth.tokenSecretRef) does not exist',
    });
  });
});

describe('checkReady of the Vault issuer', () => {
  it.each([
    ['Vault is healthy and the token valid', (_v: FakeVault) => {}, undefined],
    ['Vault is sealed', (v: FakeVault) => void (v.mode = 'sealed'), 'is sealed'],
    ['Vault is down', (v: FakeVault) => void v.stop(), 'ECONNREFUSED'],
    [
      'the token is revoked',
      (v: FakeVault) => v.revokeAll(),
      'token lookup-self: HTTP 403: permission denied',
    ],
  ])('says whether it can sign when %s', async (_what, breakIt, message) => {
    const v = await fake();
    const issuer = await createIssuer(issuerOf({ server: v.url, auth: tokenAuth }), options([tokenSecret]));
    breakIt(v);
    const check = issuer.checkReady?.(now);
    if (message === undefined) await expect(check).resolves.toBeUndefined();
    else await expect(check).rejects.toMatchObject({ message: expect.stringContaining(message) as unknown });
  });

  it('logs in to check an AppRole issuer', async () => {
    const v = await fake({ appRoles: { r: 's' } });
    const resource = issuerOf({
      server: v.url,
      auth: { appRole: { path: 'approle', roleId: 'r', secretRef: { name: 'approle' } } },
    });
    await (await createIssuer(resource, options([secret('approle', { secretId: 's' })]))).checkReady?.(now);
    expect(v.logins.approle).toBe(1);
  });
});
