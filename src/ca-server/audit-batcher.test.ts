import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../api/audit-record.js';
import { ManualClock } from '../controller/runtime/testing/manual-clock.js';
import { MeshcaError } from '../errors/index.js';
import { openSqliteStore } from '../store/sqlite/sqlite-store.js';
import type { Store } from '../store/store.js';
import { AuditBatcher, type AuditErrorInfo } from './audit-batcher.js';

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

/** Lets pending store writes settle (the SQLite store commits on setImmediate); no clock moves. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** Settles `p`, moving `clock` to each armed timer in turn while `p` waits; returns the ms moved. */
async function runOn(clock: ManualClock, p: Promise<void>): Promise<number> {
  const start = clock.now().getTime();
  let done = false;
  void p.then(() => (done = true));
  for (let i = 0; i < 100 && !done; i++) {
    await settle();
    const at = clock.nextTimerAt();
    if (!done && at !== undefined) clock.advance(at.getTime() - clock.now().getTime());
  }
  await p;
  return clock.now().getTime() - start;
}

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

  it('retries a failed write by its own timer with a growing, bounded backoff, with no add() needed', async () => {
    const clock = new ManualClock(now);
    const retries: (number | undefined)[] = [];
    const b = new AuditBatcher({
      store,
      now: clock.now,
      setTimer: clock.setTimer,
      batchSize: 100,
      flushIntervalMs: 1000,
      retryMinMs: 1000,
      retryMaxMs: 3000,
      onError: (_e, info: AuditErrorInfo | undefined) => retries.push(info?.retryInMs),
    });
    failWith = new MeshcaError('STORE_UNAVAILABLE', 'database is locked');
    const start = now.getTime();
    const armedAt = () => (clock.nextTimerAt()?.getTime() ?? NaN) - start;
    b.add(record(1));
    await b.flush(); // fails: a retry is armed, 1 s on
    expect(writes).toBe(1);
    expect(armedAt()).toBe(1000);
    const tries: number[] = [];
    for (let i = 0; i < 3; i++) {
      clock.advance(armedAt() - (clock.now().getTime() - start));
      await settle();
      tries.push(clock.now().getTime() - start);
    }
    expect(writes).toBe(4);
    expect(tries).toEqual([1000, 3000, 6000]); // waits of 1, 2, then 3 s (4 capped by retryMaxMs)
    expect(retries).toEqual([1000, 2000, 3000, 3000]);
    expect(armedAt()).toBe(9000);
    failWith = undefined;
    clock.advance(3000);
    await settle();
    expect(writes).toBe(5);
    expect(b.pending).toBe(0);
    expect(clock.armedTimers).toBe(0);
    expect(await store.listAudit()).toHaveLength(1);
    await b.close();
  });

  it('while the store is down, a full batch does not start another write before the backoff ends, and the queue stays bounded', async () => {
    const clock = new ManualClock(now);
    const dropped: [number, string][] = [];
    const b = new AuditBatcher({
      store,
      now: clock.now,
      setTimer: clock.setTimer,
      batchSize: 2,
      flushIntervalMs: 60_000,
      retryMinMs: 1000,
      maxPending: 5,
      onDropped: (n, reason) => dropped.push([n, reason]),
    });
    failWith = new MeshcaError('STORE_UNAVAILABLE', 'database is locked');
    b.add(record(1));
    b.add(record(2)); // a full batch: written at once, and fails
    await settle();
    expect(writes).toBe(1);
    for (let i = 3; i <= 7; i++) {
      b.add(record(i));
      await settle();
    }
    expect(writes).toBe(1); // backing off: three more full batches started nothing
    expect(b.pending).toBe(5);
    expect(dropped).toEqual([
      [1, 'queue-full'],
      [1, 'queue-full'],
    ]);
    failWith = undefined;
    clock.advance(1000);
    await settle();
    expect(b.pending).toBe(0);
    expect(writes).toBe(4); // the failed one, then 5 records in batches of 2
    expect(await store.listAudit()).toHaveLength(5);
    await b.close();
  });

  it('close() keeps trying for closeTimeoutMs, then reports exactly how many records it could not write', async () => {
    const clock = new ManualClock(now);
    const dropped: [number, string][] = [];
    const b = new AuditBatcher({
      store,
      now: clock.now,
      setTimer: clock.setTimer,
      batchSize: 100,
      flushIntervalMs: 60_000,
      retryMinMs: 1000,
      closeTimeoutMs: 5000,
      onDropped: (n, reason) => dropped.push([n, reason]),
    });
    failWith = new MeshcaError('STORE_UNAVAILABLE', 'database is locked');
    for (let i = 0; i < 3; i++) b.add(record(i));
    expect(await runOn(clock, b.close())).toBe(5000);
    expect(writes).toBe(4); // at 0, 1, 3 and 5 s
    expect(dropped).toEqual([[3, 'shutdown']]);
    expect(b.pending).toBe(0);
    expect(clock.armedTimers).toBe(0);
    b.add(record(9)); // after close: counted, not kept
    expect(dropped).toEqual([
      [3, 'shutdown'],
      [1, 'shutdown'],
    ]);
  });

  it('close() writes everything if the store comes back within closeTimeoutMs', async () => {
    const clock = new ManualClock(now);
    const dropped: number[] = [];
    const failing = Object.assign(Object.create(store) as Store, {
      appendAudit: (records: readonly AuditRecord[]) => {
        if (writes === 1) failWith = undefined; // the second try succeeds
        return store.appendAudit(records);
      },
    });
    const b = new AuditBatcher({
      store: failing,
      now: clock.now,
      setTimer: clock.setTimer,
      flushIntervalMs: 60_000,
      retryMinMs: 1000,
      closeTimeoutMs: 5000,
      onDropped: (n) => dropped.push(n),
    });
    failWith = new MeshcaError('STORE_UNAVAILABLE', 'database is locked');
    for (let i = 0; i < 3; i++) b.add(record(i));
    expect(await runOn(clock, b.close())).toBe(1000);
    expect(writes).toBe(2);
    expect(dropped).toEqual([]);
    expect(await store.listAudit()).toHaveLength(3);
  });

  it('flush() and close() return only when no write runs, and never run two writes at once', async () => {
    const clock = new ManualClock(now);
    const gates: { resolve: () => void; reject: (e: unknown) => void }[] = [];
    let running = 0;
    let mostRunning = 0;
    const gated = Object.assign(Object.create(store) as Store, {
      appendAudit: async (records: readonly AuditRecord[]) => {
        running++;
        mostRunning = Math.max(mostRunning, running);
        try {
          await new Promise<void>((resolve, reject) => gates.push({ resolve, reject }));
          await store.appendAudit(records);
        } finally {
          running--;
        }
      },
    });
    const b = new AuditBatcher({
      store: gated,
      now: clock.now,
      setTimer: clock.setTimer,
      batchSize: 100,
      flushIntervalMs: 60_000,
    });
    b.add(record(1));
    void b.flush(); // write 1 runs
    await settle();
    let runningWhenFlushed: number | undefined;
    let runningWhenClosed: number | undefined;
    const flushed = b.flush().then(() => (runningWhenFlushed = running));
    const closed = b.close().then(() => (runningWhenClosed = running));
    gates[0]!.reject(new MeshcaError('STORE_UNAVAILABLE', 'database is locked'));
    await settle(); // write 1 failed; its record is tried again (write 2)
    expect(gates).toHaveLength(2);
    expect(runningWhenFlushed).toBeUndefined();
    expect(runningWhenClosed).toBeUndefined();
    gates[1]!.resolve();
    await Promise.all([flushed, closed]);
    expect(runningWhenFlushed).toBe(0);
    expect(runningWhenClosed).toBe(0);
    expect(mostRunning).toBe(1);
    expect(await store.listAudit()).toHaveLength(1);
  });
});
