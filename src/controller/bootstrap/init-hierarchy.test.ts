import { afterEach, describe, expect, it } from 'vitest';
import type { Resource } from '../../api/resource.js';
import { openSqliteStore, type SqliteStore } from '../../store/sqlite/sqlite-store.js';
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
