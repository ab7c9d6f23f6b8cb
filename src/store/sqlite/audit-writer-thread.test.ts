import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { isMeshcaError } from '../../errors/index.js';
import { auditRecord } from '../testing/resource-builder.js';
import { openSqliteStore } from './sqlite-store.js';

const dir = mkdtempSync(join(tmpdir(), 'meshca-audit-thread-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const freshPath = (): string => join(dir, `store-${++n}.db`);
const alice = 'spiffe://cluster.local/ns/a/sa/alice';

describe('audit batches on the writer thread', () => {
  it('writes through its own connection: the rows are there for the store and for another process once append resolves', async () => {
    const path = freshPath();
    const store = openSqliteStore({ path });
    const inThread = openSqliteStore({ path: freshPath(), auditWriterThread: false });
    const batch = Array.from({ length: 300 }, (_, i) => auditRecord(i + 1, alice, '2025-01-01T00:00:00Z'));
    await store.appendAudit(batch);
    await inThread.appendAudit(batch);
    const listed = await store.listAudit({ limit: 1000 });
    expect(listed).toHaveLength(300);
    expect(listed).toEqual(await inThread.listAudit({ limit: 1000 }));
    const raw = new Database(path, { readonly: true });
    expect(raw.prepare('SELECT COUNT(*) AS c FROM audit').get()).toEqual({ c: 300 });
    raw.close();
    await store.close();
    await inThread.close();
  });

  it('prunes past the retention in the same transaction as the insert', async () => {
    const store = openSqliteStore({
      path: freshPath(),
      auditRetentionMs: 3_600_000,
      clock: () => Date.parse('2025-01-02T00:00:00Z'),
    });
    await store.appendAudit([auditRecord(1, alice, '2025-01-01T00:00:00Z')]);
    await store.appendAudit([auditRecord(2, alice, '2025-01-01T23:30:00Z')]);
    expect((await store.listAudit()).map((r) => r.serialNumber)).toEqual([
      auditRecord(2, alice, '2025-01-01T23:30:00Z').serialNumber,
    ]);
    await store.close();
  });

  it('fails a batch it cannot write with a retryable STORE_UNAVAILABLE, writes none of it, and takes the next batch', async () => {
    const path = freshPath();
    const store = openSqliteStore({ path, busyTimeoutMs: 50 });
    await store.appendAudit([auditRecord(1, alice, '2025-01-01T00:00:00Z')]);
    // Another process holds the write lock past the busy timeout.
    const other = new Database(path);
    other.exec('BEGIN IMMEDIATE');
    const err = await store
      .appendAudit([
        auditRecord(2, alice, '2025-01-01T00:00:00Z'),
        auditRecord(3, alice, '2025-01-01T00:00:00Z'),
      ])
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    other.exec('ROLLBACK');
    other.close();
    expect(isMeshcaError(err) && err.code).toBe('STORE_UNAVAILABLE');
    expect(isMeshcaError(err) && err.retryable).toBe(true);
    await store.appendAudit([auditRecord(4, alice, '2025-01-01T00:00:00Z')]);
    expect((await store.listAudit()).map((r) => Number.parseInt(r.serialNumber, 16)).sort()).toEqual([1, 4]);
    await store.close();
  });

  it('finishes batches already sent before close() resolves', async () => {
    const path = freshPath();
    const store = openSqliteStore({ path });
    const writes = [1, 2, 3].map((i) => store.appendAudit([auditRecord(i, alice, '2025-01-01T00:00:00Z')]));
    await store.close();
    await Promise.all(writes);
    const reopened = openSqliteStore({ path });
    expect(await reopened.listAudit()).toHaveLength(3);
    await reopened.close();
  });

  it('keeps the process alive until the thread stopped: a program whose last act is close() exits 0 after it', async () => {
    // In a vitest worker something else always holds the event loop; a program of its own does not.
    const path = freshPath();
    const program = join(dir, 'close-last.mts');
    const storeModule = fileURLToPath(new URL('./sqlite-store.ts', import.meta.url));
    const builders = fileURLToPath(new URL('../testing/resource-builder.ts', import.meta.url));
    writeFileSync(
      program,
      [
        `import { openSqliteStore } from ${JSON.stringify(storeModule)};`,
        `import { auditRecord } from ${JSON.stringify(builders)};`,
        `const store = openSqliteStore({ path: ${JSON.stringify(path)} });`,
        `await store.appendAudit([auditRecord(1, ${JSON.stringify(alice)}, '2025-01-01T00:00:00Z')]);`,
        // Idle now: the batch is written and nothing else is pending.
        `await new Promise((resolve) => setImmediate(resolve));`,
        `await store.close();`,
        `process.stdout.write('closed');`,
      ].join('\n'),
    );
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', program], { timeout: 20_000 });
    expect(stdout).toBe('closed');
    const reopened = openSqliteStore({ path });
    expect(await reopened.listAudit()).toHaveLength(1);
    await reopened.close();
  });

  it('refuses a batch after close with the store-closed error, not a hang', async () => {
    const store = openSqliteStore({ path: freshPath() });
    await store.close();
    await expect(store.appendAudit([auditRecord(1, alice, '2025-01-01T00:00:00Z')])).rejects.toThrow(
      /closed/,
    );
  });
});
