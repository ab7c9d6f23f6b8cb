/**
 * A second process writing to a store file, for the crash and cross-process tests:
 *   crash <path>               writes forever (single creates and 4-op transactions), printing
 *                              "committed <name>" after each commit, until killed;
 *   write <path> <n>           creates child-0 … child-<n-1>, then exits;
 *   increment <path> <n> <id>  increments the "counter" Certificate n times (read, update, retry
 *                              on CONFLICT), then exits.
 */
import { randomBytes } from 'node:crypto';
import { isMeshcaError } from '../../../errors/index.js';
import type { Resource } from '../../../api/resource.js';
import { openSqliteStore } from '../sqlite-store.js';

const [mode, path, countText, id] = process.argv.slice(2);
if (path === undefined) throw new Error('usage: store-child <crash|write|increment> <path> [n] [id]');
const store = openSqliteStore({ path });
const type = { apiVersion: 'cert-manager.io/v1', kind: 'Certificate' };
const resource = (name: string, spec: Record<string, unknown>): Resource => ({
  ...type,
  metadata: { name, namespace: 'crash' },
  spec,
});

if (mode === 'crash') {
  await store.create(resource('counter', { count: 0 }));
  console.log('committed counter');
  for (let i = 0; ; i++) {
    // Large enough that a kill often lands inside a write.
    const payload = randomBytes(1024 + ((i * 7919) % 64) * 1024).toString('base64');
    if (i % 2 === 0) {
      await store.create(resource(`single-${i}`, { payload }));
      console.log(`committed single-${i}`);
    } else {
      const counter = await store.get<Resource>({ ...type, namespace: 'crash', name: 'counter' });
      const count = (counter.spec as { count: number }).count;
      await store.transaction([
        ...[0, 1, 2].map((k) => ({
          op: 'create' as const,
          resource: resource(`txn-${i}-${k}`, { payload, group: i }),
        })),
        { op: 'update', resource: { ...counter, spec: { count: count + 1 } } },
      ]);
      console.log(`committed txn-${i}`);
    }
  }
} else if (mode === 'write') {
  for (let i = 0; i < Number(countText); i++) await store.create(resource(`child-${i}`, { i }));
} else if (mode === 'increment') {
  for (let done = 0; done < Number(countText);) {
    const counter = await store.get<Resource>({ ...type, namespace: 'crash', name: 'counter' });
    const spec = counter.spec as { count: number; by: Record<string, number> };
    try {
      await store.update({
        ...counter,
        spec: { count: spec.count + 1, by: { ...spec.by, [id ?? '?']: (spec.by[id ?? '?'] ?? 0) + 1 } },
      });
      done++;
    } catch (err) {
      if (!isMeshcaError(err, 'CONFLICT') && !isMeshcaError(err, 'STORE_UNAVAILABLE')) throw err;
    }
  }
  console.log('done');
} else {
  throw new Error(`unknown mode ${mode ?? ''}`);
}
await store.close();
