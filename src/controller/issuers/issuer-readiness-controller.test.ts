import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Condition } from '../../api/common-schemas.js';
import type { Resource } from '../../api/resource.js';
import { MeshcaError } from '../../errors/index.js';
import { makeIntermediate, makeRoot } from '../../issuers/testing/fixtures.js';
import { openSqliteStore, type SqliteStore } from '../../store/sqlite/sqlite-store.js';
import { createCertManagerMetrics, type CertManagerMetrics } from '../../telemetry/cert-manager-metrics.js';
import { makeFakePki, startFakeVault, type FakeVault } from '../../../test/fakes/vault/fake-vault.js';
import { converge, type ConvergeResult } from '../testing/converge.js';
import { createIssuerControllers } from './create-issuer-controllers.js';
import { decideIssuerReadiness, notReadyRetryDelay, secretNamesOf } from './issuer-readiness-controller.js';

const HOUR = 3_600_000;
const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

describe('decideIssuerReadiness', () => {
  const failed = (code: 'ISSUER_NOT_READY' | 'UPSTREAM_UNAVAILABLE' | 'ISSUER_INVALID', message: string) =>
    ({ ok: false, error: new MeshcaError(code, message, { hint: 'do this' }) }) as const;
  it.each([
    ['selfSigned', { ok: true } as const, 'True', 'IsReady', ''],
    ['ca', { ok: true } as const, 'True', 'IsReady', 'Signing CA verified'],
    ['vault', { ok: true } as const, 'True', 'IsReady', 'Vault verified'],
    [
      'acme',
      { ok: true } as const,
      'True',
      'IsReady',
      'The ACME account was registered with the ACME server',
    ],
    [
      'ca',
      failed('ISSUER_NOT_READY', 'secret a/b of Issuer a/c does not exist'),
      'False',
      'ErrGetKeyPair',
      'secret a/b of Issuer a/c does not exist (do this)',
    ],
    [
      'ca',
      failed('ISSUER_NOT_READY', 'secret a/b: certificate "CN=x" is not a CA'),
      'False',
      'ErrInvalidKeyPair',
      'secret a/b: certificate "CN=x" is not a CA (do this)',
    ],
    [
      'vault',
      failed('UPSTREAM_UNAVAILABLE', 'vault at http://v is sealed'),
      'False',
      'VaultError',
      'vault at http://v is sealed (do this)',
    ],
    [
      'acme',
      failed('UPSTREAM_UNAVAILABLE', 'no directory'),
      'False',
      'ErrRegisterACMEAccount',
      'no directory (do this)',
    ],
    [
      undefined,
      failed('ISSUER_INVALID', 'spec names no issuer type'),
      'False',
      'ErrInitIssuer',
      'spec names no issuer type (do this)',
    ],
  ])('a %s issuer with outcome %j is Ready=%s (%s)', (type, outcome, status, reason, message) => {
    expect(decideIssuerReadiness(type, outcome)).toEqual({ type: 'Ready', status, reason, message });
  });
});

describe('secretNamesOf', () => {
  it('finds every Secret an issuer spec names', () => {
    expect(
      secretNamesOf({
        vault: {
          caBundleSecretRef: { name: 'vault-ca' },
          clientCertSecretRef: { name: 'mtls' },
          auth: { appRole: { secretRef: { name: 'approle' } }, clientCertificate: { secretName: 'cert' } },
        },
      }).sort(),
    ).toEqual(['approle', 'cert', 'mtls', 'vault-ca']);
    expect(secretNamesOf({ ca: { secretName: 'root' } })).toEqual(['root']);
    expect(secretNamesOf({ acme: { privateKeySecretRef: { name: 'acct' } } })).toEqual(['acct']);
    expect(secretNamesOf(null)).toEqual([]);
  });
});

describe('notReadyRetryDelay', () => {
  it.each([
    [0, 10_000],
    [10_000, 10_000],
    [20_000, 20_000],
    [160_000, 160_000],
    [400_000, 300_000],
  ])('waits, after %d ms not ready, %d ms', (elapsed, ms) => {
    expect(notReadyRetryDelay(elapsed, 10_000, 300_000)).toBe(ms);
  });
});

describe('the issuer readiness controllers', () => {
  let now: Date;
  let store: SqliteStore;
  let metrics: CertManagerMetrics;
  let registry: Registry;
  let vault: FakeVault | undefined;
  let controllers: ReturnType<typeof createIssuerControllers>;
  beforeEach(() => {
    now = new Date('2030-01-01T00:00:00Z');
    store = openSqliteStore({ path: ':memory:', clock: () => now.getTime() });
    registry = new Registry();
    metrics = createCertManagerMetrics(registry);
    controllers = createIssuerControllers({ clusterResourceNamespace: 'cert-manager', metrics });
  });
  afterEach(async () => {
    await vault?.close();
    vault = undefined;
    await store.close();
  });
  const settle = (): Promise<ConvergeResult> => converge({ store, controllers, now: () => now });
  const issuer = (
    name: string,
    spec: Record<string, unknown>,
    kind: 'Issuer' | 'ClusterIssuer' = 'Issuer',
  ): Resource => ({
    apiVersion: 'cert-manager.io/v1',
    kind,
    metadata: kind === 'Issuer' ? { name, namespace: 'team' } : { name },
    spec,
  });
  const ready = async (
    name: string,
    kind: 'Issuer' | 'ClusterIssuer' = 'Issuer',
  ): Promise<Condition | undefined> => {
    const r = await store.tryGet<Resource>({
      apiVersion: 'cert-manager.io/v1',
      kind,
      name,
      ...(kind === 'Issuer' && { namespace: 'team' }),
    });
    return ((r?.['status'] as { conditions?: Condition[] } | undefined)?.conditions ?? []).find(
      (c) => c.type === 'Ready',
    );
  };
  const metric = async (name: string): Promise<Record<string, number>> => {
    const m = await metrics.issuerReadyStatus.get();
    return Object.fromEntries(
      m.values.filter((v) => v.labels['name'] === name).map((v) => [String(v.labels['condition']), v.value]),
    );
  };
  const caSecret = (name: string, namespace: string, certPem: string, keyPem: string): Resource => ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace },
    type: 'kubernetes.io/tls',
    data: { 'tls.crt': b64(certPem), 'tls.key': b64(keyPem) },
  });

  it('marks a selfSigned issuer ready and exports 1 for True', async () => {
    await store.create(issuer('self', { selfSigned: {} }));
    await settle();
    expect(await ready('self')).toMatchObject({ status: 'True', reason: 'IsReady', message: '' });
    expect(await metric('self')).toEqual({ True: 1, False: 0, Unknown: 0 });
  });

  it('marks a ca issuer not ready until its Secret holds a CA key pair, woken by the Secret, and looks again when the CA expires', async () => {
    await store.create(issuer('ca', { ca: { secretName: 'root' } }));
    await settle();
    expect(await ready('ca')).toMatchObject({
      status: 'False',
      reason: 'ErrGetKeyPair',
      message: expect.stringContaining('secret team/root of Issuer team/ca does not exist') as unknown,
    });
    expect(await metric('ca')).toEqual({ True: 0, False: 1, Unknown: 0 });

    const root = makeRoot(now, 2 * HOUR);
    const leaf = makeIntermediate(root, now, HOUR, { isCA: false, commonName: 'not a ca' });
    await store.create(caSecret('root', 'team', leaf.certificate.pem, leaf.keyPem));
    const changed = controllers[0]?.mapToKeys(
      (await store.tryGet<Resource>({ apiVersion: 'v1', kind: 'Secret', namespace: 'team', name: 'root' }))!,
    );
    expect(changed?.map((k) => k.name)).toEqual(['ca']);
    await settle();
    expect(await ready('ca')).toMatchObject({
      status: 'False',
      reason: 'ErrInvalidKeyPair',
      message: expect.stringContaining('is not a CA') as unknown,
    });

    const secret = await store.tryGet<Resource>({
      apiVersion: 'v1',
      kind: 'Secret',
      namespace: 'team',
      name: 'root',
    });
    await store.update({
      ...secret!,
      data: { 'tls.crt': b64(root.certificate.pem), 'tls.key': b64(root.keyPem) },
    });
    const result = await settle();
    expect(await ready('ca')).toMatchObject({
      status: 'True',
      reason: 'IsReady',
      message: 'Signing CA verified',
    });
    expect(result.nextWakeUp).toEqual(root.certificate.notAfter);

    now = new Date(root.certificate.notAfter.getTime() + 1000);
    await settle();
    expect(await ready('ca')).toMatchObject({
      status: 'False',
      message: expect.stringContaining('expired at') as unknown,
    });
  });

  it("reads a ClusterIssuer's Secret from the cluster resource namespace and exports the ClusterIssuer metric", async () => {
    const root = makeRoot(now);
    await store.create(caSecret('root', 'cert-manager', root.certificate.pem, root.keyPem));
    await store.create(issuer('ca', { ca: { secretName: 'root' } }, 'ClusterIssuer'));
    await settle();
    expect(await ready('ca', 'ClusterIssuer')).toMatchObject({ status: 'True' });
    const values = (await metrics.clusterIssuerReadyStatus.get()).values;
    expect(values.find((v) => v.labels['condition'] === 'True')).toMatchObject({
      value: 1,
      labels: { name: 'ca' },
    });
  });

  it('checks a vault issuer periodically, backs off while Vault is down, and becomes ready by itself when it is back', async () => {
    vault = await startFakeVault({
      now: () => now,
      mounts: { pki: makeFakePki(now) },
      staticTokens: ['t0k3n'],
    });
    await store.create({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'vault-token', namespace: 'team' },
      data: { token: b64('t0k3n') },
    });
    await store.create(
      issuer('vault', {
        vault: {
          server: vault.url,
          path: 'pki/sign/mesh',
          auth: { tokenSecretRef: { name: 'vault-token' } },
        },
      }),
    );
    let result = await settle();
    expect(await ready('vault')).toMatchObject({
      status: 'True',
      reason: 'IsReady',
      message: 'Vault verified',
    });
    expect(result.nextWakeUp).toEqual(new Date(now.getTime() + 300_000));

    await vault.stop();
    now = new Date(now.getTime() + 300_000);
    result = await settle();
    expect(await ready('vault')).toMatchObject({
      status: 'False',
      reason: 'VaultError',
      message: expect.stringContaining('ECONNREFUSED') as unknown,
    });
    expect(await metric('vault')).toEqual({ True: 0, False: 1, Unknown: 0 });
    // Waits double from the time the issuer went not ready: 10 s, 10 s, 20 s, 40 s.
    for (const wait of [10_000, 10_000, 20_000]) {
      expect(result.nextWakeUp).toEqual(new Date(now.getTime() + wait));
      now = new Date(now.getTime() + wait);
      result = await settle();
    }
    expect(result.nextWakeUp).toEqual(new Date(now.getTime() + 40_000));

    vault.mode = 'sealed';
    await vault.start();
    now = new Date(now.getTime() + 40_000);
    await settle();
    expect(await ready('vault')).toMatchObject({
      status: 'False',
      message: expect.stringContaining('is sealed') as unknown,
    });

    vault.mode = 'up';
    now = new Date(now.getTime() + 80_000);
    result = await settle();
    expect(await ready('vault')).toMatchObject({ status: 'True', message: 'Vault verified' });
    expect(await metric('vault')).toEqual({ True: 1, False: 0, Unknown: 0 });
    expect(result.nextWakeUp).toEqual(new Date(now.getTime() + 300_000));
  });

  it('calls Vault once per check: not again after its own status write, but at once when a Secret it names changes', async () => {
    vault = await startFakeVault({
      now: () => now,
      mounts: { pki: makeFakePki(now) },
      staticTokens: ['t0k3n', 'n3w'],
    });
    const tokenSecret = (token: string): Resource => ({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'vault-token', namespace: 'team' },
      data: { token: b64(token) },
    });
    await store.create(tokenSecret('t0k3n'));
    await store.create(
      issuer('vault', {
        vault: {
          server: vault.url,
          path: 'pki/sign/mesh',
          auth: { tokenSecretRef: { name: 'vault-token' } },
        },
      }),
    );
    // The periodic recheck, with nothing to write: the cost of one check.
    await settle();
    expect(await ready('vault')).toMatchObject({ status: 'True' });
    let seen = vault.requests.length;
    now = new Date(now.getTime() + 300_000);
    await settle();
    const oneCheck = vault.requests.length - seen;
    expect(oneCheck).toBeGreaterThan(0);

    // Not ready → ready, with its status write in between: still one check each.
    await vault.stop();
    now = new Date(now.getTime() + 300_000);
    await settle();
    expect(await ready('vault')).toMatchObject({ status: 'False' });
    await vault.start();
    seen = vault.requests.length;
    now = new Date(now.getTime() + 10_000);
    await settle();
    expect(await ready('vault')).toMatchObject({ status: 'True' });
    expect(vault.requests.length - seen).toBe(oneCheck);

    // A new token in the Secret is checked at once, though the issuer itself did not change.
    seen = vault.requests.length;
    const current = await store.get<Resource>({
      apiVersion: 'v1',
      kind: 'Secret',
      namespace: 'team',
      name: 'vault-token',
    });
    await store.update({ ...current, data: { token: b64('n3w') } });
    await settle();
    expect(vault.requests.length - seen).toBe(oneCheck);
    expect(vault.requests.at(-1)?.headers['x-vault-token']).toBe('n3w');
  });

  it('says why a vault issuer cannot log in', async () => {
    vault = await startFakeVault({
      now: () => now,
      mounts: { pki: makeFakePki(now) },
      appRoles: { r: 'right' },
    });
    await store.create({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'approle', namespace: 'team' },
      data: { secretId: b64('wrong') },
    });
    await store.create(
      issuer('vault', {
        vault: {
          server: vault.url,
          path: 'pki/sign/mesh',
          auth: { appRole: { path: 'approle', roleId: 'r', secretRef: { name: 'approle' } } },
        },
      }),
    );
    await settle();
    expect(await ready('vault')).toMatchObject({
      status: 'False',
      reason: 'VaultError',
      message: expect.stringContaining(
        'vault: login with appRole at auth/approle/login: HTTP 400: invalid secret id',
      ) as unknown,
    });
  });

  it("keeps the condition's transition time while nothing changes, and stops exporting a deleted issuer", async () => {
    await store.create(issuer('self', { selfSigned: {} }));
    await settle();
    const first = await ready('self');
    now = new Date(now.getTime() + HOUR);
    await settle();
    expect(await ready('self')).toEqual(first);
    await store.delete({ apiVersion: 'cert-manager.io/v1', kind: 'Issuer', namespace: 'team', name: 'self' });
    await controllers[0]?.reconcile(
      { apiVersion: 'cert-manager.io/v1', kind: 'Issuer', namespace: 'team', name: 'self' },
      { store, now: () => now, log: () => {} },
    );
    expect(await metric('self')).toEqual({});
  });
});
