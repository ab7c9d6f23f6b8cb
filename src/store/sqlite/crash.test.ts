import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import type { Resource } from '../../api/resource.js';
import { openSqliteStore } from './sqlite-store.js';
import { spawnStoreChild } from './testing/spawn-store-child.js';

const dir = mkdtempSync(join(tmpdir(), 'meshca-crash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const type = { apiVersion: 'cert-manager.io/v1', kind: 'Certificate' };

describe('SQLite store killed with SIGKILL mid-write', () => {
  it.each([1, 8, 40, 120])(
    'after %i reported commits: every reported commit survives, no transaction is half there, and the file passes integrity_check',
    async (killAfter) => {
      const path = join(dir, `crash-${killAfter}.db`);
      const child = spawnStoreChild(['crash', path]);
      const reported: string[] = [];
      for await (const line of child.lines) {
        reported.push(line.replace(/^committed /, ''));
        if (reported.length === killAfter) break;
      }
      child.process.kill('SIGKILL');
      const { signal, stderr } = await child.exited;
      expect(stderr).toBe('');
      expect(signal).toBe('SIGKILL');
      expect(reported).toHaveLength(killAfter);

      const raw = new Database(path);
      expect(raw.pragma('integrity_check', { simple: true })).toBe('ok');
      raw.close();

      const store = openSqliteStore({ path });
      try {
        await store.checkIntegrity();
        const items = (await store.list<Resource>(type, { namespace: 'crash' })).items;
        const present = new Set(items.map((r) => r.metadata.name));
        for (const name of reported) {
          if (name.startsWith('txn-')) {
            for (const k of [0, 1, 2]) expect(present, `${name}-${k}`).toContain(`${name}-${k}`);
          } else {
            expect(present).toContain(name);
          }
        }
        // Every transaction is all there or absent: its three creates and its counter increment.
        const groups = new Map<string, number>();
        for (const name of present) {
          const m = /^(txn-\d+)-\d$/.exec(name);
          if (m !== null) groups.set(m[1]!, (groups.get(m[1]!) ?? 0) + 1);
        }
        for (const [group, count] of groups) expect(count, group).toBe(3);
        const counter = items.find((r) => r.metadata.name === 'counter');
        expect((counter?.spec as { count: number }).count).toBe(groups.size);
        // The change log agrees with the resources, and the revision goes on from where it was.
        const watch = store.watch(type, { resourceVersion: '0' });
        const it = watch[Symbol.asyncIterator]();
        const seen = new Set<string>();
        const last = Math.max(...items.map((r) => Number(r.metadata.resourceVersion)));
        for (let rv = 0; rv < last;) {
          const r = await it.next();
          if (r.done === true) throw new Error('the watch ended before the last revision');
          const e = r.value;
          seen.add(e.object.metadata.name);
          rv = Number(e.object.metadata.resourceVersion);
        }
        watch.close();
        expect([...present].every((name) => seen.has(name))).toBe(true);
        const after = await store.create<Resource>({
          ...type,
          metadata: { name: 'after-crash', namespace: 'crash' },
        });
        expect(Number(after.metadata.resourceVersion)).toBeGreaterThan(last);
      } finally {
        await store.close();
      }
    },
  );
});
