import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { describeStoreConformance } from '../testing/conformance.js';
import { openSqliteStore, type SqliteStore } from './sqlite-store.js';

const dir = mkdtempSync(join(tmpdir(), 'meshca-store-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const freshPath = (): string => join(dir, `store-${++n}.db`);

describeStoreConformance('SQLite in memory', () => Promise.resolve(openSqliteStore({ path: ':memory:' })), {
  compact: (s) => Promise.resolve(void (s as SqliteStore).compact({ maxEvents: 0 })),
});

describeStoreConformance('SQLite file', () => Promise.resolve(openSqliteStore({ path: freshPath(), pollIntervalMs: 5 })), {
  compact: (s) => Promise.resolve(void (s as SqliteStore).compact({ maxEvents: 0 })),
  openPair: () => {
    const path = freshPath();
    return Promise.resolve([openSqliteStore({ path, pollIntervalMs: 5 }), openSqliteStore({ path, pollIntervalMs: 5 })]);
  },
});
