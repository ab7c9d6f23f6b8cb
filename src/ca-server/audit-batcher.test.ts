import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../api/audit-record.js';
import { MeshcaError } from '../errors/index.js';
import { openSqliteStore } from '../store/sqlite/sqlite-store.js';
import type { Store } from '../store/store.js';
import { AuditBatcher } from './audit-batcher.js';

const now = new Date('2026-11-22T12:00:00Z');
let store: Store;
let failWith: MeshcaError | undefined;
let writes = 0;

function record(i: number): AuditRecord {
  return {
    serialNumber: (0x1000 + i).toString(16),
    identity: 'spiffe://cluster.local/ns/default/sa/web',
    caller: 'jwt:system:serviceaccount:default:web@127.0.0.1:1',
    clusterId: 'Kubernetes',
    notBefore: '2026-11-22T12:00:00Z',
    notAfter: '2026-11-22T13:00:00Z',
    fingerprintSha256: i.toString(16).padStart(64, '0'),
    issuer: 'Issuer/istio-system/istio-ca-issuer',
    issuedAt: '2026-11-22T12:00:00Z',
  };
}

beforeEach(() => {
  const real = openSqliteStore({ path: ':memory:' });
  failWith = undefined;
  writes = 0;
  // A fake in front of the real store: appendAudit fails while failWith is set.
  store = Object.assign(Object.create(real) as Store, {
    appendAudit: async (records: readonly AuditRecord[]) => {
      writes++;
      if (failWith !== undefined) throw failWith;
      return real.appendAudit(records);
    },
    close: () => real.close(),
  });
});
afterEach(() => store.close());

describe('the audit batcher', () => {
  it('writes a full batch at once, in one store write', async () => {
    const b = new AuditBatcher({ store, now: () => now, batchSize: 3, flushIntervalMs: 60_000 });
    for (let i = 0; i < 3; i++) b.add(record(i));
    await b.flush();
    expect(writes).toBe(1);
    expect(await store.listAudit()).toHaveLength(3);
    await b.close();
  });

  it('keeps a batch the store could not take, and writes it with the next flush', async () => {
    const b = new AuditBatcher({ store, now: () => now, batchSize: 100, flushIntervalMs: 60_000 });
    failWith = new MeshcaError('STORE_UNAVAILABLE', 'database is locked');
    b.add(record(1));
    await b.flush();
    expect(b.pending).toBe(1);
    failWith = undefined;
    b.add(record(2));
    await b.close();
    expect((await store.listAudit()).map((r) => r.serialNumber).sort()).toEqual(['1001', '1002']);
  });

  it('writes a backlog larger than one store write may take, after an outage, in batches, dropping nothing', async () => {
    let dropped = 0;
    const b = new AuditBatcher({
      store,
      now: () => now,
      batchSize: 256,
      flushIntervalMs: 60_000,
      onDropped: (n) => (dropped += n),
    });
    failWith = new MeshcaError('STORE_UNAVAILABLE', 'database is locked');
    for (let i = 0; i < 10_050; i++) b.add(record(i)); // MAX_AUDIT_BATCH is 10,000
    await b.flush();
    expect(b.pending).toBe(10_050);
    failWith = undefined;
    writes = 0;
    await b.flush();
    expect(b.pending).toBe(0);
    expect(dropped).toBe(0);
    expect(writes).toBe(Math.ceil(10_050 / 256));
    expect(await store.listAudit({ limit: 10_000 })).toHaveLength(10_000);
    expect(await store.listAudit({ since: new Date(0), limit: 1 })).toHaveLength(1);
    await b.close();
  });

  it('does not write a batch twice when pruning after it fails', async () => {
    const errors: unknown[] = [];
    const pruning = Object.assign(Object.create(store) as Store, {
      pruneAudit: () => Promise.reject(new MeshcaError('STORE_UNAVAILABLE', 'database is locked')),
    });
    const b = new AuditBatcher({
      store: pruning,
      now: () => now,
      batchSize: 2,
      flushIntervalMs: 60_000,
      onError: (e) => errors.push(e),
    });
    b.add(record(1));
    b.add(record(2));
    await b.flush();
    await b.flush();
    expect(errors).toHaveLength(1);
    expect(b.pending).toBe(0);
    expect(await store.listAudit()).toHaveLength(2);
    await b.close();
  });

  it('drops and counts a batch the store refuses as invalid, so it does not block later records', async () => {
    const dropped: number[] = [];
    const b = new AuditBatcher({
      store,
      now: () => now,
      batchSize: 100,
      flushIntervalMs: 60_000,
      onDropped: (n) => dropped.push(n),
    });
    failWith = new MeshcaError('INVALID_INPUT', 'bad record');
    b.add(record(1));
    await b.flush();
    expect(b.pending).toBe(0);
    expect(dropped).toEqual([1]);
    failWith = undefined;
    b.add(record(2));
    await b.close();
    expect((await store.listAudit()).map((r) => r.serialNumber)).toEqual(['1002']);
  });

  it('drops and counts new records past its queue limit while the store is down', async () => {
    const dropped: number[] = [];
    const b = new AuditBatcher({
      store,
      now: () => now,
      batchSize: 100,
      flushIntervalMs: 60_000,
      maxPending: 2,
      onDropped: (n) => dropped.push(n),
    });
    for (let i = 0; i < 4; i++) b.add(record(i));
    expect(b.pending).toBe(2);
    expect(dropped).toEqual([1, 1]);
    await b.close();
  });
});
