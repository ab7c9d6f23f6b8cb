import { afterEach, describe, expect, it } from 'vitest';
import type { Resource } from '../../api/resource.js';
import { MeshcaError } from '../../errors/index.js';
import { openSqliteStore, type SqliteStore } from '../../store/sqlite/sqlite-store.js';
import type { Store } from '../../store/store.js';
import type { CertificateObject } from '../certificates/certificate-resources.js';
import { createCertificateControllers } from '../certificates/create-certificate-controllers.js';
import { decideIssuance } from '../certificates/decide-issuance.js';
import { converge } from '../testing/converge.js';
import { defaultHierarchyOptions, initHierarchy } from './init-hierarchy.js';

const NOW = new Date('2030-01-01T00:00:00Z');
let store: SqliteStore;
afterEach(async () => {
  await store.close();
});

const certKey = (name: string) => ({
  apiVersion: 'cert-manager.io/v1',
  kind: 'Certificate',
  namespace: 'istio-system',
  name,
});
const secretKey = (name: string) => ({ apiVersion: 'v1', kind: 'Secret', namespace: 'istio-system', name });

describe('meshca init writes what the issuing controller would', () => {
  it('leaves the trigger waiting until the renewal time of both Certificates', async () => {
    store = openSqliteStore({ path: ':memory:', clock: () => NOW.getTime() });
    await initHierarchy(store, defaultHierarchyOptions('cluster.local'), NOW);
    for (const [name, lifetimeMs] of [
      ['istio-root-ca', 262_800 * 3_600_000],
      ['istio-ca', 720 * 3_600_000],
    ] as const) {
      const certificate = await store.get<CertificateObject>(certKey(name));
      const secret = await store.get<Resource>(secretKey(certificate.spec.secretName));
      const decision = decideIssuance({ certificate, secret, now: NOW });
      expect(decision).toEqual({
        wait: new Date(NOW.getTime() + Math.floor((lifetimeMs * 2) / 3 / 1000) * 1000),
        why: 'renewal',
      });
      expect(new Date(certificate.status!.renewalTime!)).toEqual((decision as { wait: Date }).wait);
      expect(secret.metadata.annotations).toMatchObject({
        'cert-manager.io/certificate-name': name,
        'cert-manager.io/issuer-kind': 'Issuer',
        'meshca.io/origin': 'generated',
      });
    }
  });

  it('is left alone by the lifecycle controllers: no new revision, the Secrets unchanged', async () => {
    store = openSqliteStore({ path: ':memory:', clock: () => NOW.getTime() });
    await initHierarchy(store, defaultHierarchyOptions('cluster.local'), NOW);
    const before = await store.get<Resource>(secretKey('istio-ca'));
    await converge({
      store,
      controllers: createCertificateControllers({ approval: true, clusterResourceNamespace: 'cert-manager' }),
      now: () => NOW,
    });
    const after = await store.get<Resource>(secretKey('istio-ca'));
    expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
    expect((await store.get<CertificateObject>(certKey('istio-ca'))).status?.revision).toBe(1);
    expect(
      (await store.list({ apiVersion: 'cert-manager.io/v1', kind: 'CertificateRequest' })).items,
    ).toEqual([]);
  });
});

describe('meshca init writes the hierarchy in one transaction', () => {
  /** A store whose n-th transaction fails (as a full disk or a lost connection would), and which counts them. */
  function failingTransaction(inner: SqliteStore, n: number): { store: Store; calls: () => number } {
    let calls = 0;
    const wrapped = Object.create(inner) as Store;
    wrapped.transaction = (ops) => {
      calls++;
      if (calls === n) return Promise.reject(new MeshcaError('STORE_UNAVAILABLE', `transaction ${n} failed`));
      return inner.transaction(ops);
    };
    return { store: wrapped, calls: () => calls };
  }

  it('succeeds with every Certificate status written when a second write would fail', async () => {
    store = openSqliteStore({ path: ':memory:', clock: () => NOW.getTime() });
    const failing = failingTransaction(store, 2);
    const result = await initHierarchy(failing.store, defaultHierarchyOptions('cluster.local'), NOW);
    expect(result.changed).toBe(true);
    expect(failing.calls()).toBe(1);
    for (const name of ['istio-root-ca', 'istio-ca']) {
      const certificate = await store.get<CertificateObject>(certKey(name));
      expect(certificate.status?.revision).toBe(1);
      expect(certificate.status?.conditions?.[0]).toMatchObject({ type: 'Ready', status: 'True' });
    }
  });

  it('leaves nothing behind when its write fails, so a rerun creates the whole hierarchy', async () => {
    store = openSqliteStore({ path: ':memory:', clock: () => NOW.getTime() });
    const failing = failingTransaction(store, 1);
    await expect(initHierarchy(failing.store, defaultHierarchyOptions('cluster.local'), NOW)).rejects.toThrow(
      'transaction 1 failed',
    );
    for (const kind of ['Certificate', 'Issuer']) {
      expect((await store.list({ apiVersion: 'cert-manager.io/v1', kind })).items).toEqual([]);
    }
    expect((await store.list({ apiVersion: 'v1', kind: 'Secret' })).items).toEqual([]);
    const rerun = await initHierarchy(store, defaultHierarchyOptions('cluster.local'), NOW);
    expect(rerun.changed).toBe(true);
    expect((await store.get<CertificateObject>(certKey('istio-ca'))).status?.revision).toBe(1);
  });
});
