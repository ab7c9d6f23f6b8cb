import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isMeshcaError } from '../../errors/index.js';
import { CERTIFICATE, certificate } from '../testing/resource-builder.js';
import { openSqliteStore } from './sqlite-store.js';

const dir = mkdtempSync(join(tmpdir(), 'meshca-group-commit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const freshPath = (): string => join(dir, `store-${++n}.db`);
const key = (name: string) => ({ ...CERTIFICATE, namespace: 'default', name });

describe('group commit: writes asked for in one turn share one SQLite transaction', () => {
  it('keeps each write atomic on its own: a failing one leaves the others of its group written', async () => {
    const store = openSqliteStore({ path: freshPath() });
    const results = await Promise.allSettled([
      store.create(certificate('a')),
      store.create(certificate('a')),
      store.transaction([
        { op: 'create', resource: certificate('b') },
        { op: 'delete', key: key('missing') },
      ]),
      store.transaction([
        { op: 'create', resource: certificate('c') },
        { op: 'create', resource: certificate('d') },
      ]),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled']);
    expect(isMeshcaError((results[1] as PromiseRejectedResult).reason, 'ALREADY_EXISTS')).toBe(true);
    expect(isMeshcaError((results[2] as PromiseRejectedResult).reason, 'NOT_FOUND')).toBe(true);
    const names = (await store.list(CERTIFICATE)).items.map((r) => r.metadata.name);
    expect(names).toEqual(['a', 'c', 'd']);
    await store.close();
  });

  it('gives revisions in the order the writes were asked for, and each write sees the ones before it', async () => {
    const store = openSqliteStore({ path: freshPath() });
    const created = store.create(certificate('x'));
    const second = store.create(certificate('y'));
    const read = store.get(key('x')).catch(() => undefined);
    const [x, y, before] = await Promise.all([created, second, read]);
    // A read answered before the group commits does not see the writes still waiting for it.
    expect(before).toBeUndefined();
    expect(Number(y.metadata.resourceVersion)).toBe(Number(x.metadata.resourceVersion) + 1);
    const stale = { ...x, spec: { ...(x['spec'] as object), secretName: 'one' } };
    // Both carry x's resourceVersion: the second, in the same group, sees the first's write.
    const [first, conflicting] = await Promise.allSettled([store.update(stale), store.update(stale)]);
    expect(first.status).toBe('fulfilled');
    expect(isMeshcaError((conflicting as PromiseRejectedResult).reason, 'CONFLICT')).toBe(true);
    await store.close();
  });

  it('commits the writes still waiting when the store closes, and refuses writes after', async () => {
    const path = freshPath();
    const store = openSqliteStore({ path });
    const pending = store.create(certificate('late'));
    await store.close();
    await expect(pending).resolves.toMatchObject({ metadata: { name: 'late' } });
    await expect(store.create(certificate('after'))).rejects.toThrow(/is closed: open it again/);
    const again = openSqliteStore({ path });
    expect((await again.get(key('late'))).metadata.name).toBe('late');
    await again.close();
  });
});
