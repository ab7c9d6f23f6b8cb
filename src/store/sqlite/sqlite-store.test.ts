import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import type { Resource, ResourceKey } from '../../api/resource.js';
import type { MeshcaError } from '../../errors/index.js';
import type { WatchEvent } from '../store.js';
import { describeStoreConformance } from '../testing/conformance.js';
import { auditRecord } from '../testing/resource-builder.js';
import { MIGRATIONS } from './migrations.js';
import {
  DEFAULT_STORE_FILE,
  openSqliteStore,
  type SqliteStore,
  type SqliteStoreOptions,
} from './sqlite-store.js';
import { spawnStoreChild } from './testing/spawn-store-child.js';

const dir = mkdtempSync(join(tmpdir(), 'meshca-store-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const freshPath = (): string => join(dir, `store-${++n}.db`);

describeStoreConformance('SQLite in memory', () => Promise.resolve(openSqliteStore({ path: ':memory:' })), {
  compact: (s) => Promise.resolve(void (s as SqliteStore).compact({ maxEvents: 0 })),
});

describeStoreConformance(
  'SQLite file',
  () => Promise.resolve(openSqliteStore({ path: freshPath(), pollIntervalMs: 5 })),
  {
    compact: (s) => Promise.resolve(void (s as SqliteStore).compact({ maxEvents: 0 })),
    openPair: () => {
      const path = freshPath();
      return Promise.resolve([
        openSqliteStore({ path, pollIntervalMs: 5 }),
        openSqliteStore({ path, pollIntervalMs: 5 }),
      ]);
    },
  },
);

const cert = (name: string, namespace = 'default'): Resource => ({
  apiVersion: 'cert-manager.io/v1',
  kind: 'Certificate',
  metadata: { name, namespace },
  spec: { secretName: name },
});
const CERT = { apiVersion: 'cert-manager.io/v1', kind: 'Certificate' };
const CERT_KEY = (name: string): ResourceKey => ({ ...CERT, namespace: 'default', name });
/** The next event, failing the test when the watch ends instead. */
async function nextEvent(it: AsyncIterator<WatchEvent>): Promise<WatchEvent> {
  const r = await it.next();
  if (r.done === true) throw new Error('the watch ended');
  return r.value;
}
const mode = (file: string): number => statSync(file).mode & 0o777;

async function expectCode(action: () => unknown, code: string, fragment = ''): Promise<MeshcaError> {
  const err = await (async () => action())().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toMatchObject({ code });
  expect((err as Error).message).toContain(fragment);
  return err as MeshcaError;
}

describe('SQLite store file', () => {
  it('creates the database, -wal and -shm files with mode 0600 and its folder with 0700', async () => {
    const home = join(dir, `home-${++n}`);
    const path = join(home, DEFAULT_STORE_FILE);
    const store = openSqliteStore({ path });
    await store.create(cert('web'));
    expect(mode(home)).toBe(0o700);
    for (const f of [path, `${path}-wal`, `${path}-shm`]) expect(mode(f), f).toBe(0o600);
    await store.close();
  });

  it('tightens an existing database file readable by others to 0600', async () => {
    const path = freshPath();
    await openSqliteStore({ path }).close();
    chmodSync(path, 0o644);
    const store = openSqliteStore({ path });
    expect(mode(path)).toBe(0o600);
    await store.close();
  });

  it('runs in WAL mode and records its schema version', async () => {
    const path = freshPath();
    await openSqliteStore({ path, clock: () => Date.UTC(2025, 0, 1) }).close();
    const raw = new Database(path, { readonly: true });
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(raw.prepare('SELECT version, applied_at FROM schema_migrations').all()).toEqual([
      { version: MIGRATIONS.at(-1)!.version, applied_at: '2025-01-01T00:00:00.000Z' },
    ]);
    raw.close();
  });

  it('keeps resources, leases, audit records and the revision across a reopen', async () => {
    const path = freshPath();
    const first = openSqliteStore({ path });
    const created = await first.create(cert('web'));
    await first.acquireLease({
      name: 'leader',
      namespace: 'meshca',
      holderIdentity: 'a',
      leaseDurationMs: 1000,
      now: 1,
    });
    await first.appendAudit([auditRecord(1, 'spiffe://td/ns/a/sa/b', '2025-01-01T00:00:00Z')]);
    await first.close();
    const second = openSqliteStore({ path });
    expect(await second.get(CERT_KEY('web'))).toEqual(created);
    expect((await second.getLease('leader', 'meshca'))?.holderIdentity).toBe('a');
    expect(await second.listAudit()).toHaveLength(1);
    const next = await second.create(cert('next'));
    expect(Number(next.metadata.resourceVersion)).toBeGreaterThan(Number(created.metadata.resourceVersion));
    await second.close();
  });

  it('refuses a file written by a newer meshca with SCHEMA_TOO_NEW and leaves it untouched', async () => {
    const path = freshPath();
    await openSqliteStore({ path }).close();
    const raw = new Database(path);
    raw
      .prepare(`INSERT INTO schema_migrations VALUES (999, 'from the future', '2099-01-01T00:00:00Z')`)
      .run();
    raw.close();
    const before = readFileSync(path);
    await expectCode(() => openSqliteStore({ path }), 'SCHEMA_TOO_NEW', 'schema version 999');
    expect(readFileSync(path).equals(before)).toBe(true);
  });

  it.each([
    ['a gap in its schema versions', 'UPDATE schema_migrations SET version = 0 WHERE version = 1', 'gap'],
    ['its tables but no schema version', 'DELETE FROM schema_migrations', 'no schema version'],
  ])('refuses a store with %s as STORE_CORRUPT', async (_what, damage, fragment) => {
    const path = freshPath();
    await openSqliteStore({ path }).close();
    const raw = new Database(path);
    raw.prepare(damage).run();
    raw.close();
    await expectCode(() => openSqliteStore({ path }), 'STORE_CORRUPT', fragment);
  });

  it('refuses a file that is not a SQLite database with STORE_CORRUPT and does not overwrite it', async () => {
    const path = freshPath();
    const garbage = Buffer.from('this is not a database, it is a shopping list\n'.repeat(200));
    writeFileSync(path, garbage);
    const err = await expectCode(
      () => openSqliteStore({ path }),
      'STORE_CORRUPT',
      'restore it from a backup',
    );
    expect(err.retryable).toBe(false);
    expect(readFileSync(path).equals(garbage)).toBe(true);
  });

  it('refuses a SQLite database of another program with STORE_CORRUPT', async () => {
    const path = freshPath();
    const raw = new Database(path);
    raw.exec('CREATE TABLE recipes (name TEXT)');
    raw.close();
    await expectCode(() => openSqliteStore({ path }), 'STORE_CORRUPT', 'not a meshca store');
  });

  it('reports damaged pages as STORE_CORRUPT from checkIntegrity or the read that meets them, never a crash', async () => {
    const path = freshPath();
    const store = openSqliteStore({ path });
    for (let i = 0; i < 40; i++) await store.create({ ...cert(`c${i}`), spec: { pad: 'p'.repeat(3000) } });
    await store.close();
    // Fold the WAL into the main file, then overwrite pages in its middle.
    const raw = new Database(path);
    raw.pragma('wal_checkpoint(TRUNCATE)');
    raw.close();
    const bytes = readFileSync(path);
    bytes.fill(0xa5, 4096 * 3, bytes.length - 4096 * 2);
    writeFileSync(path, bytes);
    const err = await (async () => {
      const damaged = openSqliteStore({ path });
      try {
        await damaged.checkIntegrity();
        await damaged.list(CERT);
      } finally {
        await damaged.close();
      }
    })().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'STORE_CORRUPT' });
  });

  it('answers STORE_UNAVAILABLE, retryable, when another process holds the write lock past the busy timeout', async () => {
    const path = freshPath();
    const store = openSqliteStore({ path, busyTimeoutMs: 20 });
    const other = new Database(path);
    other.exec('BEGIN IMMEDIATE');
    const err = await expectCode(() => store.create(cert('web')), 'STORE_UNAVAILABLE', 'locked');
    expect(err.retryable).toBe(true);
    other.exec('ROLLBACK');
    other.close();
    await store.create(cert('web'));
    await store.close();
  });

  it('answers STORE_UNAVAILABLE, not retryable, once closed; close ends its watches; a second close is harmless', async () => {
    const store = openSqliteStore({ path: ':memory:' });
    const watch = store.watch(CERT);
    const pending = watch[Symbol.asyncIterator]().next();
    await store.close();
    expect(await pending).toEqual({ done: true, value: undefined });
    const err = await expectCode(() => store.get(CERT_KEY('web')), 'STORE_UNAVAILABLE', 'closed');
    expect(err.retryable).toBe(false);
    await expectCode(() => store.watch(CERT), 'STORE_UNAVAILABLE', 'closed');
    await store.close();
  });

  it.each<[string, Partial<SqliteStoreOptions>, string]>([
    ['an empty path', { path: '' }, 'store path'],
    ['a zero poll interval', { pollIntervalMs: 0 }, 'pollIntervalMs'],
    ['a negative busy timeout', { busyTimeoutMs: -1 }, 'busyTimeoutMs'],
    ['a fractional event retention', { eventRetention: { maxEvents: 1.5 } }, 'eventRetention.maxEvents'],
    ['an unknown synchronous mode', { synchronous: 'OFF' as never }, 'synchronous'],
  ])('refuses %s with INVALID_INPUT', async (_what, options, fragment) => {
    await expectCode(() => openSqliteStore({ path: ':memory:', ...options }), 'INVALID_INPUT', fragment);
  });

  it('a folder where the file should be is STORE_UNAVAILABLE naming the path', async () => {
    const path = join(dir, `folder-${++n}`);
    mkdirSync(path);
    await expectCode(() => openSqliteStore({ path }), 'STORE_UNAVAILABLE', path);
  });
});

describe('SQLite store with injected clock and uid', () => {
  it('stamps creationTimestamp from the clock at second precision and uid from the generator', async () => {
    const store = openSqliteStore({
      path: ':memory:',
      clock: () => Date.UTC(2025, 4, 6, 7, 8, 9, 999),
      uid: () => 'uid-1',
    });
    const created = await store.create(cert('web'));
    expect(created.metadata.creationTimestamp).toBe('2025-05-06T07:08:09Z');
    expect(created.metadata.uid).toBe('uid-1');
    await store.close();
  });

  it('a resourceVersion that is not one the store gave out is INVALID_INPUT', async () => {
    const store = openSqliteStore({ path: ':memory:' });
    const created = await store.create(cert('web'));
    await expectCode(
      () => store.update({ ...created, metadata: { ...created.metadata, resourceVersion: 'abc' } }),
      'INVALID_INPUT',
      '"abc"',
    );
    await expectCode(() => store.watch(CERT, { resourceVersion: '-1' }), 'INVALID_INPUT', 'resourceVersion');
    await store.close();
  });
});

describe('SQLite event compaction', () => {
  it('keeps the newest maxEvents events: older starting points are GONE, the kept ones still work', async () => {
    const store = openSqliteStore({ path: ':memory:', eventRetention: { maxEvents: 3 } });
    for (let i = 1; i <= 6; i++) await store.create(cert(`c${i}`));
    expect(store.compact()).toBe(3);
    await expectCode(
      () => store.watch(CERT, { resourceVersion: '2' })[Symbol.asyncIterator]().next(),
      'GONE',
      'up to 3',
    );
    const watch = store.watch(CERT, { resourceVersion: '3' });
    const it = watch[Symbol.asyncIterator]();
    const names = [];
    for (let i = 0; i < 3; i++) names.push((await nextEvent(it)).object.metadata.name);
    expect(names).toEqual(['c4', 'c5', 'c6']);
    watch.close();
    await store.close();
  });

  it('drops events older than maxAgeMs by the injected clock', async () => {
    let now = Date.UTC(2025, 0, 1);
    const store = openSqliteStore({
      path: ':memory:',
      clock: () => now,
      eventRetention: { maxAgeMs: 60_000 },
    });
    await store.create(cert('old'));
    now += 120_000;
    await store.create(cert('new'));
    expect(store.compact()).toBe(1);
    await expectCode(
      () => store.watch(CERT, { resourceVersion: '0' })[Symbol.asyncIterator]().next(),
      'GONE',
    );
    const watch = store.watch(CERT, { resourceVersion: '1' });
    expect((await nextEvent(watch[Symbol.asyncIterator]())).object.metadata.name).toBe('new');
    watch.close();
    await store.close();
  });

  it('runs by itself every 100 writes', async () => {
    const store = openSqliteStore({ path: ':memory:', eventRetention: { maxEvents: 10 } });
    for (let i = 0; i < 100; i++) await store.create(cert(`c${i}`));
    expect(store.compact()).toBe(0);
    await expectCode(
      () => store.watch(CERT, { resourceVersion: '50' })[Symbol.asyncIterator]().next(),
      'GONE',
    );
    await store.close();
  });

  it('a watch that falls behind compaction while reading fails with GONE instead of skipping events', async () => {
    const store = openSqliteStore({ path: ':memory:' });
    for (let i = 0; i < 300; i++) await store.create(cert(`c${i}`));
    const watch = store.watch(CERT, { resourceVersion: '0' });
    const it = watch[Symbol.asyncIterator]();
    expect((await nextEvent(it)).object.metadata.name).toBe('c0');
    store.compact({ maxEvents: 1 });
    // The first batch was already read; the next read finds its starting point compacted.
    let err: unknown;
    for (let i = 0; i < 300 && err === undefined; i++) await it.next().catch((e: unknown) => (err = e));
    expect(err).toMatchObject({ code: 'GONE' });
    await expectCode(() => it.next(), 'GONE');
    await store.close();
  });
});

const ISSUER = { apiVersion: 'cert-manager.io/v1', kind: 'Issuer' };
const issuer = (name: string, ca = 'ca'): Resource => ({
  ...ISSUER,
  metadata: { name, namespace: 'default' },
  spec: { ca: { secretName: ca } },
});
const secret = (name: string): Resource => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace: 'default' },
  data: { 'tls.crt': 'eA==' },
});
/** Lets a woken watch run its read (a few turns of the event loop). */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

describe('SQLite watch of a quiet type while other types churn', () => {
  it('is not GONE when compaction by count passes events it did not care about', async () => {
    const store = openSqliteStore({ path: ':memory:', eventRetention: { maxEvents: 10 } });
    const created = await store.create(issuer('ca'));
    const watch = store.watch(ISSUER, { resourceVersion: created.metadata.resourceVersion });
    const it = watch[Symbol.asyncIterator]();
    // The consumer waits for the next Issuer event, as a controller's watch loop does.
    const next = it.next();
    for (let i = 0; i < 20; i++) await store.create(secret(`s${i}`));
    await settle();
    expect(store.compact()).toBeGreaterThan(0);
    const updated = await store.update(issuer('ca', 'other-ca'));
    const event = await next;
    expect(event.done).toBe(false);
    expect(event.value).toMatchObject({
      type: 'MODIFIED',
      object: { metadata: { name: 'ca', resourceVersion: updated.metadata.resourceVersion } },
    });
    watch.close();
    await store.close();
  });

  it('is not GONE when compaction by age (injected clock) passes events it did not care about', async () => {
    let now = Date.UTC(2025, 0, 1);
    const store = openSqliteStore({
      path: ':memory:',
      clock: () => now,
      eventRetention: { maxAgeMs: 60_000 },
    });
    await store.create(issuer('ca'));
    const watch = store.watch(ISSUER);
    const it = watch[Symbol.asyncIterator]();
    const next = it.next();
    await store.create(secret('old'));
    await settle();
    now += 120_000;
    await store.create(secret('new'));
    await settle();
    expect(store.compact()).toBe(2);
    await store.update(issuer('ca', 'other-ca'));
    expect((await next).value).toMatchObject({
      type: 'MODIFIED',
      object: { spec: { ca: { secretName: 'other-ca' } } },
    });
    watch.close();
    await store.close();
  });

  it('still delivers every event of its type, in order, across full batches and other types', async () => {
    const store = openSqliteStore({ path: ':memory:' });
    const writes: Promise<Resource>[] = [];
    // One group commit: 300 Issuers (more than a 256-event batch) interleaved with Secrets.
    for (let i = 0; i < 300; i++) {
      writes.push(store.create(issuer(`i${i}`)));
      if (i % 7 === 0) writes.push(store.create(secret(`s${i}`)));
    }
    await Promise.all(writes);
    const watch = store.watch(ISSUER, { resourceVersion: '0' });
    const it = watch[Symbol.asyncIterator]();
    const names: string[] = [];
    while (names.length < 300) names.push((await nextEvent(it)).object.metadata.name);
    expect(names).toEqual(Array.from({ length: 300 }, (_, i) => `i${i}`));
    // Caught up: a write made now is the next event, nothing before it is replayed.
    await store.create(secret('late'));
    await store.create(issuer('last'));
    expect((await nextEvent(it)).object.metadata.name).toBe('last');
    watch.close();
    await store.close();
  });
});

describe('SQLite audit retention', () => {
  it('appendAudit drops records older than auditRetentionMs by the injected clock', async () => {
    const store = openSqliteStore({
      path: ':memory:',
      clock: () => Date.parse('2025-01-02T00:00:00Z'),
      auditRetentionMs: 3_600_000,
    });
    const id = 'spiffe://td/ns/a/sa/b';
    await store.appendAudit([
      auditRecord(1, id, '2025-01-01T00:00:00Z'),
      auditRecord(2, id, '2025-01-01T23:30:00Z'),
    ]);
    expect((await store.listAudit()).map((r) => r.serialNumber)).toEqual([
      auditRecord(2, id, '2025-01-01T23:30:00Z').serialNumber,
    ]);
    await store.close();
  });
});

describe('SQLite store shared between processes', () => {
  it('a watch sees every write another process makes to the same file, in order', async () => {
    const path = freshPath();
    const store = openSqliteStore({ path, pollIntervalMs: 10 });
    const watch = store.watch(CERT);
    const child = spawnStoreChild(['write', path, '25']);
    const it = watch[Symbol.asyncIterator]();
    const names: string[] = [];
    while (names.length < 25) names.push((await nextEvent(it)).object.metadata.name);
    expect(names).toEqual(Array.from({ length: 25 }, (_, i) => `child-${i}`));
    expect(await child.exited).toMatchObject({ code: 0, stderr: '' });
    watch.close();
    await store.close();
  });

  it('two processes incrementing one counter with optimistic concurrency lose no increment', async () => {
    const path = freshPath();
    const store = openSqliteStore({ path });
    await store.create({ ...cert('counter', 'crash'), spec: { count: 0, by: {} } });
    const children = ['a', 'b'].map((id) => spawnStoreChild(['increment', path, '60', id]));
    for (const c of children) expect(await c.exited).toMatchObject({ code: 0, stderr: '' });
    const counter = await store.get<Resource>({ ...CERT, namespace: 'crash', name: 'counter' });
    expect(counter.spec).toEqual({ count: 120, by: { a: 60, b: 60 } });
    await store.close();
  });
});
