import { afterEach, describe, expect, it } from 'vitest';
import type { Resource } from '../../api/resource.js';
import { openSqliteStore, type SqliteStore } from '../../store/sqlite/sqlite-store.js';
import { certificate } from '../../store/testing/resource-builder.js';
import { parseCrashPoint, withCrashPoint } from './crash-points.js';

const secret = (name: string, data: Record<string, string>): Resource => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace: 'default' },
  type: 'Opaque',
  data,
});

const request = (name: string): Resource => ({
  apiVersion: 'cert-manager.io/v1',
  kind: 'CertificateRequest',
  metadata: { name, namespace: 'default' },
  spec: { request: 'Zm9v', issuerRef: { name: 'ca' } },
});

let inner: SqliteStore;
afterEach(async () => {
  await inner.close();
});

/** The store wrapped at `spec`; `crashes` records each point reached and whether the write had committed. */
function crashing(spec: string): { store: ReturnType<typeof withCrashPoint>; crashes: string[] } {
  inner = openSqliteStore({ path: ':memory:' });
  const crashes: string[] = [];
  const store = withCrashPoint(inner, spec, (point) => {
    crashes.push(point);
    throw new Error(`crashed at ${point}`);
  });
  return { store, crashes };
}

describe('crash points', () => {
  it('crashes after the write that stores a bare private key, with the key already committed', async () => {
    const { store, crashes } = crashing('after-key');
    await store.create(certificate('web'));
    await expect(
      store.transaction([{ op: 'create', resource: secret('web-abcde', { 'tls.key': 'a2V5' }) }]),
    ).rejects.toThrow('crashed at after-key');
    expect(crashes).toEqual(['after-key']);
    expect(
      await inner.tryGet({ apiVersion: 'v1', kind: 'Secret', namespace: 'default', name: 'web-abcde' }),
    ).toBeDefined();
  });

  it('crashes before the issued Secret commits, leaving nothing of that write behind', async () => {
    const { store } = crashing('before-issue-commit');
    await store.create(secret('web-abcde', { 'tls.key': 'a2V5' }));
    await expect(
      store.create(secret('web-tls', { 'tls.crt': 'Y2VydA==', 'tls.key': 'a2V5' })),
    ).rejects.toThrow('crashed at before-issue-commit');
    expect(
      await inner.tryGet({ apiVersion: 'v1', kind: 'Secret', namespace: 'default', name: 'web-tls' }),
    ).toBeUndefined();
  });

  it('crashes at the n-th occurrence when asked with :n, not at earlier ones', async () => {
    const { store, crashes } = crashing('after-request:2');
    await store.create(request('web-1'));
    expect(crashes).toEqual([]);
    await expect(store.create(request('web-2'))).rejects.toThrow('crashed at after-request');
    await store.create(request('web-3'));
    expect(crashes).toEqual(['after-request']);
  });

  it('tells an approval from a signature on a CertificateRequest status', async () => {
    const { store, crashes } = crashing('after-sign');
    const cr = await store.create(request('web-1'));
    await store.updateStatus({ ...cr, status: { conditions: [{ type: 'Approved', status: 'True' }] } });
    expect(crashes).toEqual([]);
    const approved = await inner.get<Resource>({
      apiVersion: 'cert-manager.io/v1',
      kind: 'CertificateRequest',
      namespace: 'default',
      name: 'web-1',
    });
    await expect(
      store.updateStatus({
        ...approved,
        status: { conditions: [{ type: 'Approved', status: 'True' }], certificate: 'Y2VydA==' },
      }),
    ).rejects.toThrow('crashed at after-sign');
  });

  it('passes reads, watches and leases through to the real store', async () => {
    const { store } = crashing('after-approve');
    await store.create(certificate('web'));
    expect((await store.list({ apiVersion: 'cert-manager.io/v1', kind: 'Certificate' })).items).toHaveLength(
      1,
    );
    expect(
      await store.acquireLease({
        name: 'l',
        namespace: 'default',
        holderIdentity: 'me',
        leaseDurationMs: 1000,
        now: 0,
      }),
    ).toBeDefined();
  });

  it.each([
    ['after-keys', /names no crash point/],
    ['after-key:0', /names no crash point/],
    ['AFTER-KEY', /names no crash point/],
    ['after-key:1:2', /names no crash point/],
    ['x'.repeat(10_000), /names no crash point/],
  ])('refuses the crash point %j', (spec, message) => {
    expect(() => parseCrashPoint(spec)).toThrow(message);
  });

  it('names every crash point in the hint of a refusal', () => {
    try {
      parseCrashPoint('nowhere');
      expect.unreachable();
    } catch (err) {
      expect((err as { hint?: string }).hint).toContain(
        'after-key, after-request, after-approve, after-sign, before-issue-commit, after-issue-commit',
      );
    }
  });
});
