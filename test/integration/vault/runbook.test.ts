import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Condition } from '../../../src/api/common-schemas.js';
import type { Resource } from '../../../src/api/resource.js';
import { SigningAuthoritySource } from '../../../src/ca-server/signing/signing-authority-source.js';
import { createWorkloadSigner } from '../../../src/ca-server/signing/workload-signer.js';
import type { Signer } from '../../../src/ca-server/istio-certificate-service.js';
import { createCertificateControllers, createIssuerControllers } from '../../../src/controller/index.js';
import type { Controller } from '../../../src/controller/runtime/controller.js';
import { converge } from '../../../src/controller/testing/converge.js';
import { UpstreamTokenCache } from '../../../src/issuers/index.js';
import { buildCsr, generatePrivateKey, parseCertificates, verifyChain } from '../../../src/pki/index.js';
import { openSqliteStore, type SqliteStore } from '../../../src/store/sqlite/sqlite-store.js';
import { createCertManagerMetrics } from '../../../src/telemetry/cert-manager-metrics.js';
import { makeFakePki, startFakeVault, type FakeVault } from '../../fakes/vault/fake-vault.js';

/*
 * The runbook of issue 5 §2, against the fake Vault of test/fakes/vault (no real Vault runs
 * here): the istiod intermediate is a Certificate issued by a Vault ClusterIssuer, the CA server's
 * signing path signs workloads locally with it, and a Vault outage only delays its renewal.
 */

const HOUR = 3_600_000;
const NS = 'istio-system';
const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

describe('the Vault runbook: an istiod intermediate from Vault, workloads signed locally', () => {
  let now: Date;
  let store: SqliteStore;
  let vault: FakeVault;
  let registry: Registry;
  let controllers: Controller[];
  let source: SigningAuthoritySource;
  let signer: Signer;

  beforeEach(async () => {
    now = new Date('2030-01-01T00:00:00Z');
    store = openSqliteStore({ path: ':memory:', clock: () => now.getTime() });
    vault = await startFakeVault({
      now: () => now,
      mounts: { pki: makeFakePki(now, { roles: {} }) },
      appRoles: { 'meshca-role': 'meshca-secret' },
      tokenTtlSeconds: 3600,
    });
    registry = new Registry();
    const metrics = createCertManagerMetrics(registry);
    const issuerDependencies = { upstreamTokens: new UpstreamTokenCache(), upstreamTimeoutMs: 2000 };
    let n = 0;
    controllers = [
      ...createCertificateControllers({
        approval: true,
        clusterResourceNamespace: 'cert-manager',
        metrics,
        issuerDependencies,
        random: () => `k${String(n++).padStart(4, '0')}`,
      }),
      ...createIssuerControllers({ clusterResourceNamespace: 'cert-manager', metrics, issuerDependencies }),
    ];
    source = new SigningAuthoritySource({
      store,
      issuerRef: { name: 'istio-ca-issuer', kind: 'Issuer' },
      namespace: NS,
      clusterResourceNamespace: 'cert-manager',
      now: () => now,
    });
    signer = createWorkloadSigner({
      authority: () => source.current(),
      trustDomain: 'cluster.local',
      maxLifetimeMs: 24 * HOUR,
    });

    const manifests: Resource[] = [
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'vault-approle', namespace: 'cert-manager' },
        data: { secretId: b64('meshca-secret') },
      },
      {
        apiVersion: 'cert-manager.io/v1',
        kind: 'ClusterIssuer',
        metadata: { name: 'vault-issuer' },
        spec: {
          vault: {
            server: vault.url,
            path: 'pki/root/sign-intermediate',
            auth: {
              appRole: {
                path: 'approle',
                roleId: 'meshca-role',
                secretRef: { name: 'vault-approle', key: 'secretId' },
              },
            },
          },
        },
      },
      {
        apiVersion: 'cert-manager.io/v1',
        kind: 'Certificate',
        metadata: { name: 'istio-ca', namespace: NS, annotations: { 'meshca.io/istiod-cacerts': 'true' } },
        spec: {
          isCA: true,
          duration: '720h',
          renewBefore: '168h',
          commonName: 'istio-intermediate-ca.cluster.local',
          secretName: 'istio-ca',
          privateKey: { algorithm: 'ECDSA', size: 256 },
          issuerRef: { name: 'vault-issuer', kind: 'ClusterIssuer', group: 'cert-manager.io' },
        },
      },
      {
        apiVersion: 'cert-manager.io/v1',
        kind: 'Issuer',
        metadata: { name: 'istio-ca-issuer', namespace: NS },
        spec: { ca: { secretName: 'istio-ca' } },
      },
    ];
    for (const m of manifests) await store.create(m);
  });

  afterEach(async () => {
    source.close();
    await vault.close();
    await store.close();
  });

  const settle = () => converge({ store, controllers, now: () => now });
  const certificate = async (): Promise<
    Resource & {
      status?: { conditions?: Condition[]; notAfter?: string; renewalTime?: string; revision?: number };
    }
  > =>
    (await store.tryGet({
      apiVersion: 'cert-manager.io/v1',
      kind: 'Certificate',
      namespace: NS,
      name: 'istio-ca',
    }))!;
  const condition = async (type: string): Promise<Condition | undefined> =>
    (await certificate()).status?.conditions?.find((c) => c.type === type);
  const secretText = async (key: string): Promise<string | undefined> => {
    const s = await store.tryGet<Resource>({
      apiVersion: 'v1',
      kind: 'Secret',
      namespace: NS,
      name: 'istio-ca',
    });
    const v = (s?.['data'] as Record<string, string> | undefined)?.[key];
    return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
  };
  const metric = async (name: string, labels: Record<string, string>): Promise<number | undefined> => {
    const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
    return (m?.values as Array<{ labels: Record<string, string>; value: number }> | undefined)?.find((v) =>
      Object.entries(labels).every(([k, l]) => v.labels[k] === l),
    )?.value;
  };
  /** Signs a workload CSR through the CA server's signing path and checks the chain against the root. */
  const signWorkload = async (): Promise<string[]> => {
    await source.refresh();
    const chain = await signer({
      csrPem: buildCsr({
        key: generatePrivateKey(),
        sans: { uris: ['spiffe://cluster.local/ns/default/sa/web'] },
      }),
      validitySeconds: 3600,
      identity: { namespace: 'default', serviceAccount: 'web' },
      caller: 'jwt:test',
      clusterId: 'Kubernetes',
      metadata: undefined,
      now: now.getTime(),
    });
    const [leaf, ...rest] = chain.map((p) => parseCertificates(p)[0]!);
    const roots = rest.filter((c) => c.selfSigned);
    const verified = verifyChain(leaf!, { intermediates: rest.filter((c) => !c.selfSigned), roots, at: now });
    expect(verified).toMatchObject({ ok: true });
    return chain;
  };

  it('issues the intermediate from Vault, signs workloads under it, rides out a Vault outage and renews by itself afterwards', async () => {
    await settle();
    expect(await condition('Ready')).toMatchObject({ status: 'True' });
    const first = parseCertificates((await secretText('tls.crt')) ?? '');
    expect(first[0]).toMatchObject({
      isCA: true,
      subject: { commonName: 'istio-intermediate-ca.cluster.local' },
    });
    expect(first[0]!.notAfter.getTime() - first[0]!.notBefore.getTime()).toBe(720 * HOUR);
    // The istiod plug-in layout, with Vault's root as root-cert.pem.
    expect(parseCertificates((await secretText('root-cert.pem')) ?? '')[0]?.subjectString).toBe(
      'CN=Vault Fake Root',
    );
    expect(await secretText('ca-cert.pem')).toBe(first[0]!.pem);
    expect(await secretText('ca-key.pem')).toContain('PRIVATE KEY');
    expect(parseCertificates((await secretText('cert-chain.pem')) ?? '').map((c) => c.subjectString)).toEqual(
      ['CN=istio-intermediate-ca.cluster.local', 'CN=Vault Fake Intermediate', 'CN=Vault Fake Root'],
    );
    expect(vault.signed).toHaveLength(1);
    expect(
      await metric('certmanager_clusterissuer_ready_status', { name: 'vault-issuer', condition: 'True' }),
    ).toBe(1);

    // The CA server signs workloads locally: [leaf, istio-ca, Vault's intermediate, Vault's root].
    const chain = await signWorkload();
    expect(chain).toHaveLength(4);
    expect(vault.signed).toHaveLength(1);

    // Vault goes down before the renewal time (720h − 168h).
    await vault.stop();
    const renewalTime = new Date((await certificate()).status!.renewalTime!);
    expect(renewalTime).toEqual(new Date(first[0]!.notAfter.getTime() - 168 * HOUR));
    now = new Date(renewalTime.getTime() + 1000);
    await settle();

    // Renewal fails and says why; the old intermediate still signs workloads.
    const issuing = await condition('Issuing');
    expect(issuing).toMatchObject({ status: 'True' });
    const requests = (
      await store.list<Resource & { status?: { conditions?: Condition[] } }>(
        { apiVersion: 'cert-manager.io/v1', kind: 'CertificateRequest' },
        { namespace: NS },
      )
    ).items;
    const pending = requests.find((r) =>
      r.status?.conditions?.some((c) => c.type === 'Ready' && c.reason === 'Pending'),
    );
    expect(pending?.status?.conditions?.find((c) => c.type === 'Ready')?.message).toMatch(
      /Waiting for the issuer: vault at http:\/\/127\.0\.0\.1:\d+: POST \/v1\/auth\/approle\/login: connect ECONNREFUSED/,
    );
    expect(await condition('Ready')).toMatchObject({ status: 'True' });
    expect(
      await metric('certmanager_clusterissuer_ready_status', { name: 'vault-issuer', condition: 'False' }),
    ).toBe(1);
    expect(
      await metric('certmanager_certificate_renewal_timestamp_seconds', { name: 'istio-ca' }),
    ).toBeLessThan(now.getTime() / 1000);
    await signWorkload();

    // Three days on, still down: signing goes on with the same intermediate.
    for (let i = 0; i < 12; i++) {
      now = new Date(now.getTime() + 6 * HOUR);
      await settle();
    }
    const during = await signWorkload();
    expect(during[1]).toBe(first[0]!.pem);
    expect(vault.signed).toHaveLength(1);

    // Vault is back: the next retry renews, with no one acting.
    await vault.start();
    now = new Date(now.getTime() + 5 * 60_000);
    await settle();
    expect(vault.signed).toHaveLength(2);
    const renewed = parseCertificates((await secretText('tls.crt')) ?? '')[0]!;
    expect(renewed.fingerprintSha256).not.toBe(first[0]!.fingerprintSha256);
    expect(await condition('Ready')).toMatchObject({ status: 'True' });
    expect((await condition('Issuing'))?.status ?? 'False').toBe('False');
    expect(
      await metric('certmanager_clusterissuer_ready_status', { name: 'vault-issuer', condition: 'True' }),
    ).toBe(1);
    const after = await signWorkload();
    expect(after[1]).toBe(renewed.pem);
  });

  it("fails the intermediate with Vault's own words when Vault refuses, and does not sign workloads without it", async () => {
    await store.update({
      ...(await store.tryGet<Resource>({
        apiVersion: 'v1',
        kind: 'Secret',
        namespace: 'cert-manager',
        name: 'vault-approle',
      }))!,
      data: { secretId: b64('wrong') },
    });
    await settle();
    expect(await condition('Ready')).toMatchObject({ status: 'False' });
    expect(await condition('Issuing')).toMatchObject({
      status: 'False',
      message: expect.stringContaining(
        'vault: login with appRole at auth/approle/login: HTTP 400: invalid secret id',
      ) as unknown,
    });
    await expect(signWorkload()).rejects.toMatchObject({ code: 'ISSUER_NOT_READY' });
  });
});
