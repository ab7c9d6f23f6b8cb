import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Resource } from '../../api/resource.js';
import type { ErrorCode } from '../../errors/index.js';
import type { Store, Watch, WatchEvent } from '../store.js';
import { CERTIFICATE, CLUSTER_ISSUER, auditRecord, certificate, clusterIssuer } from './resource-builder.js';

/** What a backend offers beyond the Store interface so the suite can test more of it. */
export interface ConformanceOptions {
  /** Two handles on one fresh store (two connections): the cross-connection tests run when given. */
  openPair?: () => Promise<[Store, Store]>;
  /** Forgets every event up to the store's current revision: the GONE tests run when given. */
  compact?: (store: Store) => Promise<void>;
}

type Rejection = Promise<unknown> | (() => unknown);

/** Asserts a MeshcaError with `code` whose message contains every fragment. */
async function expectError(action: Rejection, code: ErrorCode, ...fragments: string[]): Promise<void> {
  const run = async (): Promise<unknown> => (typeof action === 'function' ? action() : action);
  const err = await run().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected ${code}`).toMatchObject({ name: 'MeshcaError', code });
  for (const f of fragments) expect((err as Error).message).toContain(f);
}

/** The next `n` events of a watch. */
async function take<T extends Resource>(watch: Watch<T>, n: number): Promise<WatchEvent<T>[]> {
  const it = watch[Symbol.asyncIterator]();
  const out: WatchEvent<T>[] = [];
  while (out.length < n) {
    const r = await it.next();
    if (r.done === true) throw new Error(`watch ended after ${out.length} of ${n} events`);
    out.push(r.value);
  }
  return out;
}

const summary = (events: WatchEvent[]): string[] =>
  events.map((e) => `${e.type} ${e.object.metadata.namespace ?? ''}/${e.object.metadata.name}`);

const names = (items: Resource[]): string[] => items.map((r) => r.metadata.name).sort();

/**
 * Proves that nothing else is pending on `watch`: writes a marker and expects it as the very
 * next event (no sleeping, no timing).
 */
async function expectNothingBefore(store: Store, watch: Watch, namespace = 'default'): Promise<void> {
  const marker = await store.create(
    certificate(`marker-${Math.random().toString(36).slice(2, 10)}`, { namespace }),
  );
  const [next] = await take(watch, 1);
  expect(summary([next!])).toEqual([`ADDED ${namespace}/${marker.metadata.name}`]);
}

/**
 * The conformance suite every Store backend passes: Kubernetes resource semantics, watches,
 * transactions, leases, input checks and the audit log. `open` gives a fresh, empty store.
 */
export function describeStoreConformance(
  name: string,
  open: () => Promise<Store>,
  options: ConformanceOptions = {},
): void {
  describe(`Store conformance: ${name}`, () => {
    let store: Store;
    beforeEach(async () => {
      store = await open();
    });
    afterEach(async () => {
      await store.close();
    });

    describe('create, get and delete', () => {
      it('create sets uid, resourceVersion, generation 1 and an RFC 3339 creationTimestamp, and get returns the same object', async () => {
        const created = await store.create(certificate('web'));
        expect(created.metadata.uid).toMatch(/^.{8,}$/);
        expect(created.metadata.resourceVersion).toMatch(/^.+$/);
        expect(created.metadata.generation).toBe(1);
        expect(created.metadata.creationTimestamp).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/);
        expect(await store.get({ ...CERTIFICATE, namespace: 'default', name: 'web' })).toEqual(created);
        expect(created.spec).toEqual(certificate('web').spec);
      });

      it('create drops status, as the Kubernetes API does for a status subresource', async () => {
        const created = await store.create(
          certificate('web', { status: { conditions: [{ type: 'Ready' }] } }),
        );
        expect(created.status).toBeUndefined();
        expect(
          (await store.get({ ...CERTIFICATE, namespace: 'default', name: 'web' })).status,
        ).toBeUndefined();
      });

      it('two creates give different uids', async () => {
        const a = await store.create(certificate('a'));
        const b = await store.create(certificate('b'));
        expect(a.metadata.uid).not.toBe(b.metadata.uid);
      });

      it('create of an existing resource fails with ALREADY_EXISTS and leaves the stored one as it was', async () => {
        const first = await store.create(certificate('web'));
        await expectError(
          store.create(certificate('web', { spec: { other: true } })),
          'ALREADY_EXISTS',
          'already exists',
        );
        expect(await store.get({ ...CERTIFICATE, namespace: 'default', name: 'web' })).toEqual(first);
      });

      it('create with a resourceVersion set fails with INVALID_RESOURCE', async () => {
        const input = certificate('web');
        input.metadata.resourceVersion = '42';
        await expectError(store.create(input), 'INVALID_RESOURCE', 'resourceVersion');
      });

      it('get of a missing resource fails with NOT_FOUND and tryGet answers undefined', async () => {
        const key = { ...CERTIFICATE, namespace: 'default', name: 'nope' };
        await expectError(store.get(key), 'NOT_FOUND', 'nope');
        expect(await store.tryGet(key)).toBeUndefined();
      });

      it('the same name in another namespace or of another kind is another resource', async () => {
        await store.create(certificate('web', { namespace: 'a' }));
        await store.create(certificate('web', { namespace: 'b' }));
        await store.create({
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'web', namespace: 'a' },
          data: {},
        });
        expect(names((await store.list(CERTIFICATE)).items)).toEqual(['web', 'web']);
        expect((await store.list({ apiVersion: 'v1', kind: 'Secret' })).items).toHaveLength(1);
      });

      it('a cluster-scoped resource has no namespace and is listed only without a namespace filter', async () => {
        const created = await store.create(clusterIssuer('root'));
        expect(created.metadata.namespace).toBeUndefined();
        expect(await store.get({ ...CLUSTER_ISSUER, name: 'root' })).toEqual(created);
        expect(names((await store.list(CLUSTER_ISSUER)).items)).toEqual(['root']);
        expect((await store.list(CLUSTER_ISSUER, { namespace: 'default' })).items).toEqual([]);
      });

      it('delete removes the resource, and creating it again gives a new uid', async () => {
        const first = await store.create(certificate('web'));
        await store.delete({ ...CERTIFICATE, namespace: 'default', name: 'web' });
        expect(await store.tryGet({ ...CERTIFICATE, namespace: 'default', name: 'web' })).toBeUndefined();
        const again = await store.create(certificate('web'));
        expect(again.metadata.uid).not.toBe(first.metadata.uid);
      });

      it('delete of a missing resource fails with NOT_FOUND', async () => {
        await expectError(store.delete({ ...CERTIFICATE, namespace: 'default', name: 'nope' }), 'NOT_FOUND');
      });
    });

    describe('update, updateStatus and generation', () => {
      it('update replaces everything but status and keeps uid and creationTimestamp', async () => {
        const created = await store.create(certificate('web'));
        await store.updateStatus({ ...created, status: { phase: 'Ready' } });
        const updated = await store.update({
          ...created,
          metadata: { ...created.metadata, resourceVersion: undefined, labels: { team: 'a' } },
          spec: { secretName: 'other' },
          status: { phase: 'ignored' },
        });
        expect(updated.spec).toEqual({ secretName: 'other' });
        expect(updated.status).toEqual({ phase: 'Ready' });
        expect(updated.metadata.labels).toEqual({ team: 'a' });
        expect(updated.metadata.uid).toBe(created.metadata.uid);
        expect(updated.metadata.creationTimestamp).toBe(created.metadata.creationTimestamp);
        expect(updated.metadata.resourceVersion).not.toBe(created.metadata.resourceVersion);
        expect(await store.get({ ...CERTIFICATE, namespace: 'default', name: 'web' })).toEqual(updated);
      });

      it.each([
        {
          change: 'a spec change',
          edit: (r: Resource) => ({ ...r, spec: { secretName: 'new' } }),
          generation: 2,
        },
        {
          change: 'a label change',
          edit: (r: Resource) => ({ ...r, metadata: { ...r.metadata, labels: { a: 'b' } } }),
          generation: 1,
        },
        {
          change: 'an annotation change',
          edit: (r: Resource) => ({ ...r, metadata: { ...r.metadata, annotations: { note: 'x' } } }),
          generation: 1,
        },
        {
          change: 'a status sent through update',
          edit: (r: Resource) => ({ ...r, status: { x: 1 } }),
          generation: 1,
        },
        {
          change: 'a generation sent by the client',
          edit: (r: Resource) => ({ ...r, metadata: { ...r.metadata, generation: 99 } }),
          generation: 1,
        },
      ])('update with $change leaves generation at $generation', async ({ edit, generation }) => {
        const created = await store.create(certificate('web'));
        const updated = await store.update(edit(created));
        expect(updated.metadata.generation).toBe(generation);
      });

      it('updateStatus replaces only status, never bumps generation, and ignores spec and metadata in its input', async () => {
        const created = await store.create(certificate('web'));
        const updated = await store.updateStatus({
          ...created,
          metadata: { ...created.metadata, labels: { sneaky: 'yes' } },
          spec: { secretName: 'sneaky' },
          status: { conditions: [{ type: 'Ready', status: 'True' }] },
        });
        expect(updated.status).toEqual({ conditions: [{ type: 'Ready', status: 'True' }] });
        expect(updated.spec).toEqual(created.spec);
        expect(updated.metadata.labels).toBeUndefined();
        expect(updated.metadata.generation).toBe(1);
        expect(updated.metadata.resourceVersion).not.toBe(created.metadata.resourceVersion);
      });

      it('an update that changes nothing keeps the resourceVersion and sends no event', async () => {
        const created = await store.create(certificate('web'));
        const watch = store.watch(CERTIFICATE);
        try {
          expect((await store.update(created)).metadata.resourceVersion).toBe(
            created.metadata.resourceVersion,
          );
          expect((await store.updateStatus(created)).metadata.resourceVersion).toBe(
            created.metadata.resourceVersion,
          );
          await expectNothingBefore(store, watch);
        } finally {
          watch.close();
        }
      });

      it('update without a resourceVersion is unconditional', async () => {
        const created = await store.create(certificate('web'));
        await store.update({ ...created, spec: { v: 1 } });
        const second = await store.update({
          ...created,
          metadata: { ...created.metadata, resourceVersion: undefined },
          spec: { v: 2 },
        });
        expect(second.spec).toEqual({ v: 2 });
      });

      it.each(['update', 'updateStatus', 'delete'] as const)(
        '%s with a stale resourceVersion fails with CONFLICT and changes nothing',
        async (op) => {
          const created = await store.create(certificate('web'));
          const current = await store.update({ ...created, spec: { v: 2 } });
          const attempt =
            op === 'delete'
              ? store.delete({
                  ...CERTIFICATE,
                  namespace: 'default',
                  name: 'web',
                  resourceVersion: created.metadata.resourceVersion!,
                })
              : store[op]({ ...created, spec: { v: 3 }, status: { v: 3 } });
          await expectError(attempt, 'CONFLICT');
          expect(await store.get({ ...CERTIFICATE, namespace: 'default', name: 'web' })).toEqual(current);
        },
      );

      it('delete with the current resourceVersion succeeds', async () => {
        const created = await store.create(certificate('web'));
        await store.delete({
          ...CERTIFICATE,
          namespace: 'default',
          name: 'web',
          resourceVersion: created.metadata.resourceVersion!,
        });
        expect(await store.tryGet({ ...CERTIFICATE, namespace: 'default', name: 'web' })).toBeUndefined();
      });

      it('update carrying the uid of a deleted and recreated resource fails with CONFLICT', async () => {
        const old = await store.create(certificate('web'));
        await store.delete({ ...CERTIFICATE, namespace: 'default', name: 'web' });
        await store.create(certificate('web'));
        await expectError(
          store.update({ ...old, metadata: { ...old.metadata, resourceVersion: undefined } }),
          'CONFLICT',
          'uid',
        );
      });

      it.each(['update', 'updateStatus'] as const)(
        '%s of a missing resource fails with NOT_FOUND',
        async (op) => {
          await expectError(store[op](certificate('ghost')), 'NOT_FOUND', 'ghost');
        },
      );
    });

    describe('list', () => {
      beforeEach(async () => {
        await store.create(certificate('a', { namespace: 'one', labels: { app: 'web', tier: 'front' } }));
        await store.create(certificate('b', { namespace: 'one', labels: { app: 'web', tier: 'back' } }));
        await store.create(certificate('c', { namespace: 'two', labels: { app: 'db' } }));
        await store.create(certificate('d', { namespace: 'two' }));
      });

      it('lists one namespace, or all of them', async () => {
        expect(names((await store.list(CERTIFICATE, { namespace: 'one' })).items)).toEqual(['a', 'b']);
        expect(names((await store.list(CERTIFICATE)).items)).toEqual(['a', 'b', 'c', 'd']);
        expect((await store.list(CERTIFICATE, { namespace: 'three' })).items).toEqual([]);
      });

      it.each([
        ['', ['a', 'b', 'c', 'd']],
        ['app=web', ['a', 'b']],
        ['app==web', ['a', 'b']],
        ['app!=web', ['c', 'd']],
        ['tier in (front,back)', ['a', 'b']],
        ['tier notin (front)', ['b', 'c', 'd']],
        ['tier', ['a', 'b']],
        ['!tier', ['c', 'd']],
        ['app=web,tier!=back', ['a']],
        [' app in ( db , web ) , !tier ', ['c']],
        ['app in (db,web),tier', ['a', 'b']],
        ['app notin (web),!tier', ['c', 'd']],
      ])('label selector %j selects %j', async (selector, expected) => {
        expect(names((await store.list(CERTIFICATE, { labelSelector: selector })).items)).toEqual(expected);
      });

      it.each([
        ['app in web', 'column 8'],
        ['app=web,', 'column 9'],
        ['=web', 'column 1'],
        ['app=we b', 'column 8'],
        ['app in (a', 'column 10'],
        ['a!b', 'column 2'],
        ['app in ()', 'column 9'],
        ['Bad Key=1', 'column 5'],
        ['-app=x', 'column 1'],
        ['app=-x', 'column 5'],
      ])('the malformed selector %j fails with INVALID_INPUT at %s', async (selector, position) => {
        await expectError(store.list(CERTIFICATE, { labelSelector: selector }), 'INVALID_INPUT', position);
      });

      it('pages in order with limit and continue, every page reporting the first page resourceVersion', async () => {
        const seen: string[] = [];
        let page = await store.list(CERTIFICATE, { limit: 3 });
        const firstVersion = page.resourceVersion;
        seen.push(...page.items.map((r) => r.metadata.name));
        expect(page.continue).toBeDefined();
        await store.create(certificate('e', { namespace: 'two' }));
        page = await store.list(CERTIFICATE, { limit: 3, continue: page.continue! });
        seen.push(...page.items.map((r) => r.metadata.name));
        expect(page.resourceVersion).toBe(firstVersion);
        expect(page.continue).toBeUndefined();
        expect(seen).toEqual(['a', 'b', 'c', 'd', 'e']);
      });

      it('pages with a label selector count only matching items', async () => {
        const first = await store.list(CERTIFICATE, { labelSelector: 'app', limit: 2 });
        expect(names(first.items)).toEqual(['a', 'b']);
        const rest = await store.list(CERTIFICATE, {
          labelSelector: 'app',
          limit: 2,
          continue: first.continue!,
        });
        expect(names(rest.items)).toEqual(['c']);
        expect(rest.continue).toBeUndefined();
      });

      it('a limit equal to the number of items gives no continue token', async () => {
        expect((await store.list(CERTIFICATE, { limit: 4 })).continue).toBeUndefined();
      });

      it.each([
        ['garbage', 'not-a-token!'],
        ['base64 of nonsense', Buffer.from('{"x":1}').toString('base64url')],
        ['oversized', 'A'.repeat(100_000)],
      ])('a %s continue token fails with INVALID_INPUT', async (_what, token) => {
        await expectError(
          store.list(CERTIFICATE, { limit: 1, continue: token }),
          'INVALID_INPUT',
          'continue token',
        );
      });

      it('a continue token from another list fails with INVALID_INPUT', async () => {
        const page = await store.list(CERTIFICATE, { namespace: 'one', limit: 1 });
        await expectError(
          store.list(CERTIFICATE, { namespace: 'two', limit: 1, continue: page.continue! }),
          'INVALID_INPUT',
          'another list',
        );
      });

      it.each([-1, 1.5, Number.NaN])('the limit %s fails with INVALID_INPUT', async (limit) => {
        await expectError(store.list(CERTIFICATE, { limit }), 'INVALID_INPUT', 'limit');
      });

      it('a watch from the list resourceVersion sees exactly the changes after the list', async () => {
        const listed = await store.list(CERTIFICATE);
        await store.delete({ ...CERTIFICATE, namespace: 'one', name: 'a' });
        const watch = store.watch(CERTIFICATE, { resourceVersion: listed.resourceVersion });
        try {
          expect(summary(await take(watch, 1))).toEqual(['DELETED one/a']);
          await expectNothingBefore(store, watch);
        } finally {
          watch.close();
        }
      });
    });

    describe('watch', () => {
      it('delivers ADDED, MODIFIED and DELETED in order, DELETED with the last state and a newer resourceVersion', async () => {
        const start = (await store.list(CERTIFICATE)).resourceVersion;
        const created = await store.create(certificate('web'));
        const updated = await store.update({ ...created, spec: { v: 2 } });
        await store.delete({ ...CERTIFICATE, namespace: 'default', name: 'web' });
        const watch = store.watch(CERTIFICATE, { resourceVersion: start });
        try {
          const events = await take(watch, 3);
          expect(summary(events)).toEqual([
            'ADDED default/web',
            'MODIFIED default/web',
            'DELETED default/web',
          ]);
          expect(events[0]!.object).toEqual(created);
          expect(events[1]!.object).toEqual(updated);
          expect(events[2]!.object.spec).toEqual({ v: 2 });
          expect(events[2]!.object.metadata.resourceVersion).not.toBe(updated.metadata.resourceVersion);
        } finally {
          watch.close();
        }
      });

      it('without a resourceVersion starts from now', async () => {
        await store.create(certificate('before'));
        const watch = store.watch(CERTIFICATE);
        try {
          await store.create(certificate('after'));
          expect(summary(await take(watch, 1))).toEqual(['ADDED default/after']);
        } finally {
          watch.close();
        }
      });

      it('a waiting watch wakes for a write made after it started waiting', async () => {
        const watch = store.watch(CERTIFICATE);
        try {
          const pending = take(watch, 1);
          await store.create(certificate('later'));
          expect(summary(await pending)).toEqual(['ADDED default/later']);
        } finally {
          watch.close();
        }
      });

      it('closed and watched again from the last version seen, it misses no event and repeats none', async () => {
        const first = store.watch(CERTIFICATE);
        await store.create(certificate('a'));
        await store.create(certificate('b'));
        const [seen] = await take(first, 1);
        first.close();
        await store.create(certificate('c'));
        const second = store.watch(CERTIFICATE, { resourceVersion: seen!.object.metadata.resourceVersion! });
        try {
          expect(summary(await take(second, 2))).toEqual(['ADDED default/b', 'ADDED default/c']);
          await expectNothingBefore(store, second);
        } finally {
          second.close();
        }
      });

      it('close ends a pending next with done, and for-await ends', async () => {
        const watch = store.watch(CERTIFICATE);
        const it = watch[Symbol.asyncIterator]();
        const pending = it.next();
        watch.close();
        expect(await pending).toEqual({ done: true, value: undefined });
        const seen: WatchEvent[] = [];
        for await (const e of watch) seen.push(e);
        expect(seen).toEqual([]);
      });

      it('breaking out of for-await closes the watch', async () => {
        const watch = store.watch(CERTIFICATE);
        await store.create(certificate('a'));
        await store.create(certificate('b'));
        for await (const e of watch) {
          expect(e.object.metadata.name).toBe('a');
          break;
        }
        expect(await watch[Symbol.asyncIterator]().next()).toEqual({ done: true, value: undefined });
      });

      it('sees only its own type', async () => {
        const watch = store.watch(CERTIFICATE);
        try {
          await store.create(clusterIssuer('root'));
          await store.create({
            apiVersion: 'v1',
            kind: 'Secret',
            metadata: { name: 'x', namespace: 'default' },
          });
          await expectNothingBefore(store, watch);
        } finally {
          watch.close();
        }
      });

      it('filtered by namespace sees only that namespace', async () => {
        const watch = store.watch(CERTIFICATE, { namespace: 'two' });
        try {
          await store.create(certificate('a', { namespace: 'one' }));
          await store.create(certificate('b', { namespace: 'two' }));
          expect(summary(await take(watch, 1))).toEqual(['ADDED two/b']);
          await expectNothingBefore(store, watch, 'two');
        } finally {
          watch.close();
        }
      });

      it('filtered by labels sees objects enter the selection as ADDED and leave it as DELETED', async () => {
        const watch = store.watch(CERTIFICATE, { labelSelector: 'app=web' });
        try {
          const other = await store.create(certificate('other', { labels: { app: 'db' } }));
          const web = await store.create(certificate('web', { labels: { app: 'db' } }));
          const moved = await store.update({ ...web, metadata: { ...web.metadata, labels: { app: 'web' } } });
          const changed = await store.update({ ...moved, spec: { v: 2 } });
          await store.update({ ...changed, metadata: { ...changed.metadata, labels: { app: 'db' } } });
          await store.update({ ...other, spec: { v: 2 } });
          const marker = await store.create(certificate('marker', { labels: { app: 'web' } }));
          expect(summary(await take(watch, 4))).toEqual([
            'ADDED default/web',
            'MODIFIED default/web',
            'DELETED default/web',
            `ADDED default/${marker.metadata.name}`,
          ]);
        } finally {
          watch.close();
        }
      });

      it('invalid watch options fail with INVALID_INPUT', async () => {
        await expectError(
          async () => take(store.watch(CERTIFICATE, { labelSelector: 'a in' }), 1),
          'INVALID_INPUT',
          'column',
        );
        await expectError(
          async () => take(store.watch(CERTIFICATE, { namespace: 'Not_A_Label' }), 1),
          'INVALID_INPUT',
          'namespace',
        );
      });

      if (options.compact !== undefined) {
        const compact = options.compact;
        it('from a compacted resourceVersion fails with GONE, and from the current one it works', async () => {
          const created = await store.create(certificate('web'));
          await store.update({ ...created, spec: { v: 2 } });
          const current = (await store.list(CERTIFICATE)).resourceVersion;
          await compact(store);
          await expectError(
            async () =>
              take(store.watch(CERTIFICATE, { resourceVersion: created.metadata.resourceVersion! }), 1),
            'GONE',
            'list again',
          );
          const watch = store.watch(CERTIFICATE, { resourceVersion: current });
          try {
            await expectNothingBefore(store, watch);
          } finally {
            watch.close();
          }
        });
      }
    });

    describe('transaction', () => {
      it('applies every op in order and returns the results', async () => {
        const existing = await store.create(certificate('old'));
        const watch = store.watch(CERTIFICATE);
        try {
          const results = await store.transaction([
            { op: 'create', resource: certificate('new') },
            { op: 'update', resource: { ...existing, spec: { v: 2 } } },
            {
              op: 'updateStatus',
              resource: {
                ...existing,
                metadata: { ...existing.metadata, resourceVersion: undefined },
                status: { ok: true },
              },
            },
            { op: 'delete', key: { ...CERTIFICATE, namespace: 'default', name: 'new' } },
          ]);
          expect(results.map((r) => r.metadata.name)).toEqual(['new', 'old', 'old', 'new']);
          expect(results[2]!.status).toEqual({ ok: true });
          expect(results[2]!.spec).toEqual({ v: 2 });
          expect(summary(await take(watch, 4))).toEqual([
            'ADDED default/new',
            'MODIFIED default/old',
            'MODIFIED default/old',
            'DELETED default/new',
          ]);
        } finally {
          watch.close();
        }
      });

      it.each([
        {
          failing: 'a create of an existing resource',
          op: { op: 'create' as const, resource: certificate('taken') },
          code: 'ALREADY_EXISTS' as const,
        },
        {
          failing: 'an update of a missing resource',
          op: { op: 'update' as const, resource: certificate('ghost') },
          code: 'NOT_FOUND' as const,
        },
        {
          failing: 'an invalid resource',
          op: { op: 'create' as const, resource: certificate('Bad_Name') },
          code: 'INVALID_RESOURCE' as const,
        },
        {
          failing: 'a delete with a stale resourceVersion',
          op: {
            op: 'delete' as const,
            key: { ...CERTIFICATE, namespace: 'default', name: 'taken', resourceVersion: '0' },
          },
          code: 'CONFLICT' as const,
        },
      ])(
        'is all-or-nothing: $failing as the last op leaves nothing written and sends no event',
        async ({ op, code }) => {
          const taken = await store.create(certificate('taken'));
          const watch = store.watch(CERTIFICATE);
          try {
            await expectError(
              store.transaction([
                { op: 'create', resource: certificate('first') },
                { op: 'update', resource: { ...taken, spec: { changed: true } } },
                op,
              ]),
              code,
              'op #2',
            );
            expect(names((await store.list(CERTIFICATE)).items)).toEqual(['taken']);
            expect(await store.get({ ...CERTIFICATE, namespace: 'default', name: 'taken' })).toEqual(taken);
            await expectNothingBefore(store, watch);
          } finally {
            watch.close();
          }
        },
      );

      it('later ops see earlier ones: create then update of the same resource', async () => {
        const [created, updated] = await store.transaction([
          { op: 'create', resource: certificate('web') },
          { op: 'update', resource: { ...certificate('web'), spec: { v: 2 } } },
        ]);
        expect(created!.metadata.generation).toBe(1);
        expect(updated!.metadata.generation).toBe(2);
        expect((await store.get({ ...CERTIFICATE, namespace: 'default', name: 'web' })).spec).toEqual({
          v: 2,
        });
      });

      it('an empty transaction does nothing', async () => {
        expect(await store.transaction([])).toEqual([]);
      });

      it('an unknown op fails with INVALID_INPUT', async () => {
        await expectError(
          store.transaction([{ op: 'upsert', resource: certificate('x') } as never]),
          'INVALID_INPUT',
          'op #0',
        );
        expect((await store.list(CERTIFICATE)).items).toEqual([]);
      });
    });

    describe('leases', () => {
      const lease = { name: 'meshca-leader', namespace: 'meshca-system', leaseDurationMs: 15_000 };

      it('a free lease is acquired with acquireTime and renewTime at now and no transitions', async () => {
        expect(await store.getLease(lease.name, lease.namespace)).toBeUndefined();
        const got = await store.acquireLease({ ...lease, holderIdentity: 'a', now: 1000 });
        expect(got).toEqual({
          ...lease,
          holderIdentity: 'a',
          acquireTime: 1000,
          renewTime: 1000,
          leaseTransitions: 0,
        });
        expect(await store.getLease(lease.name, lease.namespace)).toEqual(got);
      });

      it('the holder renews: renewTime moves, acquireTime and transitions stay', async () => {
        await store.acquireLease({ ...lease, holderIdentity: 'a', now: 1000 });
        const renewed = await store.acquireLease({ ...lease, holderIdentity: 'a', now: 9000 });
        expect(renewed).toMatchObject({
          holderIdentity: 'a',
          acquireTime: 1000,
          renewTime: 9000,
          leaseTransitions: 0,
        });
      });

      it.each([
        { when: 'just before expiry', now: 1000 + 15_000 - 1, winner: 'a' },
        { when: 'at expiry', now: 1000 + 15_000, winner: 'b' },
        { when: 'long after expiry', now: 1_000_000, winner: 'b' },
      ])('a contender $when: the lease goes to $winner', async ({ now, winner }) => {
        await store.acquireLease({ ...lease, holderIdentity: 'a', now: 1000 });
        const got = await store.acquireLease({ ...lease, holderIdentity: 'b', now });
        const current = await store.getLease(lease.name, lease.namespace);
        expect(current?.holderIdentity).toBe(winner);
        if (winner === 'b') {
          expect(got).toEqual({
            ...lease,
            holderIdentity: 'b',
            acquireTime: now,
            renewTime: now,
            leaseTransitions: 1,
          });
        } else {
          expect(got).toBeUndefined();
          expect(current).toMatchObject({ renewTime: 1000, leaseTransitions: 0 });
        }
      });

      it('release by someone else does nothing; release by the holder frees it for the next at once', async () => {
        await store.acquireLease({ ...lease, holderIdentity: 'a', now: 1000 });
        await store.releaseLease(lease.name, lease.namespace, 'b');
        expect((await store.getLease(lease.name, lease.namespace))?.holderIdentity).toBe('a');
        await store.releaseLease(lease.name, lease.namespace, 'a');
        expect((await store.getLease(lease.name, lease.namespace))?.holderIdentity).toBe('');
        const got = await store.acquireLease({ ...lease, holderIdentity: 'b', now: 1001 });
        expect(got).toMatchObject({ holderIdentity: 'b', acquireTime: 1001, leaseTransitions: 1 });
      });

      it('counts every change of holder', async () => {
        let now = 0;
        for (const holder of ['a', 'b', 'a', 'c']) {
          now += 20_000;
          await store.acquireLease({ ...lease, holderIdentity: holder, now });
        }
        expect((await store.getLease(lease.name, lease.namespace))?.leaseTransitions).toBe(3);
      });

      it.each([
        ['an empty holder', { holderIdentity: '' }, 'holderIdentity'],
        ['a zero duration', { leaseDurationMs: 0 }, 'leaseDurationMs'],
        ['a fractional now', { now: 1.5 }, 'now'],
        ['a bad name', { name: 'Leader!' }, 'lease name'],
        ['a bad namespace', { namespace: 'a.b' }, 'lease namespace'],
      ])('acquireLease with %s fails with INVALID_INPUT', async (_what, change, field) => {
        await expectError(
          store.acquireLease({ ...lease, holderIdentity: 'a', now: 1, ...change }),
          'INVALID_INPUT',
          field,
        );
      });
    });

    describe('concurrent writers', () => {
      it('of many updates from the same resourceVersion exactly one wins, the others get CONFLICT', async () => {
        const created = await store.create(certificate('web'));
        const results = await Promise.allSettled(
          Array.from({ length: 20 }, (_, i) => store.update({ ...created, spec: { writer: i } })),
        );
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        for (const r of results.filter((x) => x.status === 'rejected')) {
          expect(r.reason).toMatchObject({ code: 'CONFLICT' });
        }
      });

      it('many concurrent creates all land, with distinct resourceVersions, and a watch sees each once', async () => {
        const watch = store.watch(CERTIFICATE);
        try {
          const created = await Promise.all(
            Array.from({ length: 50 }, (_, i) => store.create(certificate(`c${i}`))),
          );
          expect(new Set(created.map((r) => r.metadata.resourceVersion)).size).toBe(50);
          const events = await take(watch, 50);
          expect(new Set(events.map((e) => e.object.metadata.name)).size).toBe(50);
          await expectNothingBefore(store, watch);
        } finally {
          watch.close();
        }
      });

      if (options.openPair !== undefined) {
        const openPair = options.openPair;
        describe('through two connections', () => {
          let a: Store;
          let b: Store;
          beforeEach(async () => {
            [a, b] = await openPair();
          });
          afterEach(async () => {
            await a.close();
            await b.close();
          });

          it('a watch on one sees writes made through the other, in order', async () => {
            const watch = a.watch(CERTIFICATE);
            try {
              const created = await b.create(certificate('web'));
              await b.update({ ...created, spec: { v: 2 } });
              await b.delete({ ...CERTIFICATE, namespace: 'default', name: 'web' });
              expect(summary(await take(watch, 3))).toEqual([
                'ADDED default/web',
                'MODIFIED default/web',
                'DELETED default/web',
              ]);
            } finally {
              watch.close();
            }
          });

          it('a stale update through one after a write through the other fails with CONFLICT', async () => {
            const created = await a.create(certificate('web'));
            await b.update({ ...created, spec: { by: 'b' } });
            await expectError(a.update({ ...created, spec: { by: 'a' } }), 'CONFLICT');
            expect((await a.get({ ...CERTIFICATE, namespace: 'default', name: 'web' })).spec).toEqual({
              by: 'b',
            });
          });

          it('only one of two contenders holds a lease', async () => {
            const request = { name: 'leader', namespace: 'meshca-system', leaseDurationMs: 10_000, now: 5 };
            const [x, y] = await Promise.all([
              a.acquireLease({ ...request, holderIdentity: 'a' }),
              b.acquireLease({ ...request, holderIdentity: 'b' }),
            ]);
            expect([x?.holderIdentity, y?.holderIdentity].filter((h) => h !== undefined)).toHaveLength(1);
          });
        });
      }
    });

    describe('bad input', () => {
      const base = (): Record<string, unknown> => ({ ...certificate('web') });
      const cyclic = base();
      cyclic.spec = { self: cyclic };
      const holey: unknown[] = [1];
      holey[2] = 3;
      const deep: Record<string, unknown> = {};
      let cursor = deep;
      for (let i = 0; i < 200; i++) {
        const next: Record<string, unknown> = {};
        cursor.x = next;
        cursor = next;
      }

      it.each<[string, unknown, string]>([
        ['a string', 'certificate', 'an object'],
        ['null', null, 'an object'],
        ['an array', [certificate('web')], 'an object'],
        ['no apiVersion', { ...base(), apiVersion: undefined }, 'apiVersion'],
        ['a malformed apiVersion', { ...base(), apiVersion: 'cert-manager.io/' }, 'apiVersion'],
        ['no kind', { ...base(), kind: undefined }, 'kind'],
        ['a lowercase kind', { ...base(), kind: 'certificate' }, 'kind'],
        ['no metadata', { ...base(), metadata: undefined }, 'metadata'],
        ['no name', { ...base(), metadata: { namespace: 'default' } }, 'metadata.name'],
        [
          'an uppercase name',
          { ...base(), metadata: { name: 'Web', namespace: 'default' } },
          'DNS-1123 subdomain',
        ],
        ['a name of 254 characters', { ...base(), metadata: { name: 'a'.repeat(254) } }, 'at most 253'],
        [
          'a namespace with a dot',
          { ...base(), metadata: { name: 'web', namespace: 'a.b' } },
          'DNS-1123 label',
        ],
        [
          'a namespace of 64 characters',
          { ...base(), metadata: { name: 'web', namespace: 'a'.repeat(64) } },
          'at most 63',
        ],
        [
          'a bad label key',
          { ...base(), metadata: { name: 'web', labels: { 'bad key': 'x' } } },
          'metadata.labels',
        ],
        [
          'a label value that is not a string',
          { ...base(), metadata: { name: 'web', labels: { a: 1 } } },
          'must be a string',
        ],
        [
          'a label value of 64 characters',
          { ...base(), metadata: { name: 'web', labels: { a: 'v'.repeat(64) } } },
          'at most 63',
        ],
        ['a cycle', cyclic, 'cycle'],
        ['a bigint', { ...base(), spec: { n: 10n } }, 'bigint'],
        ['a function', { ...base(), spec: { f: () => 1 } }, 'function'],
        ['NaN', { ...base(), spec: { n: Number.NaN } }, 'finite'],
        ['a class instance', { ...base(), spec: { when: new Date(0) } }, 'plain object'],
        [
          'a __proto__ key',
          JSON.parse(
            '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"},"__proto__":{"polluted":true}}',
          ),
          '__proto__',
        ],
        ['nesting 200 levels deep', { ...base(), spec: deep }, 'nested deeper'],
        ['a hole in an array', { ...base(), spec: { list: holey } }, 'missing'],
      ])('create of %s fails with INVALID_RESOURCE and stores nothing', async (_what, resource, fragment) => {
        await expectError(store.create(resource as Resource), 'INVALID_RESOURCE', fragment);
        expect((await store.list(CERTIFICATE)).items).toEqual([]);
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      });

      it('every problem of a resource is listed in the error details', async () => {
        const err = await store
          .create({ apiVersion: 'x', kind: 'y', metadata: { name: 'A', namespace: 'B' } })
          .catch((e: unknown) => e);
        expect((err as { details: string[] }).details).toHaveLength(4);
      });

      it('create of a resource over 1 MiB serialized fails with INPUT_TOO_LARGE and stores nothing', async () => {
        await expectError(
          store.create(certificate('big', { spec: { blob: 'x'.repeat(1024 * 1024) } })),
          'INPUT_TOO_LARGE',
          '1048576',
        );
        await expectError(
          store.create(
            certificate('many', { spec: { parts: Array.from({ length: 200_000 }, () => 'xxxxxx') } }),
          ),
          'INPUT_TOO_LARGE',
        );
        expect((await store.list(CERTIFICATE)).items).toEqual([]);
      });

      it('a resource just under 1 MiB is stored whole', async () => {
        const blob = 'x'.repeat(1000 * 1024);
        await store.create(certificate('big', { spec: { blob } }));
        expect((await store.get({ ...CERTIFICATE, namespace: 'default', name: 'big' })).spec).toEqual({
          blob,
        });
      });

      it('an update over the limit fails with INPUT_TOO_LARGE and leaves the stored resource as it was', async () => {
        const created = await store.create(certificate('web'));
        await expectError(
          store.update({ ...created, spec: { blob: 'x'.repeat(2 * 1024 * 1024) } }),
          'INPUT_TOO_LARGE',
        );
        await expectError(
          store.updateStatus({ ...created, status: { blob: 'x'.repeat(2 * 1024 * 1024) } }),
          'INPUT_TOO_LARGE',
        );
        expect(await store.get({ ...CERTIFICATE, namespace: 'default', name: 'web' })).toEqual(created);
      });

      it.each<[string, Record<string, unknown>]>([
        ['no name', { ...CERTIFICATE, namespace: 'default' }],
        ['a bad name', { ...CERTIFICATE, name: '../etc/passwd' }],
        ['a bad namespace', { ...CERTIFICATE, name: 'x', namespace: 'UPPER' }],
        ['a bad kind', { apiVersion: 'v1', kind: "x'; DROP TABLE resources; --", name: 'x' }],
      ])('get with %s fails with INVALID_INPUT', async (_what, key) => {
        await expectError(store.get(key as never), 'INVALID_INPUT');
      });
    });

    describe('audit log', () => {
      const alice = 'spiffe://cluster.local/ns/a/sa/alice';
      const bob = 'spiffe://cluster.local/ns/b/sa/bob';
      const batch = [
        auditRecord(1, alice, '2025-01-01T00:00:00Z'),
        auditRecord(2, bob, '2025-01-01T01:00:00Z'),
        auditRecord(3, alice, '2025-01-01T02:00:00Z'),
        auditRecord(4, alice, '2025-01-01T03:00:00.500Z'),
      ];

      it('lists appended records newest first, exactly as appended', async () => {
        await store.appendAudit(batch);
        expect(await store.listAudit()).toEqual([...batch].reverse());
      });

      it.each([
        ['identity', { identity: alice }, [4, 3, 1]],
        ['since (inclusive)', { since: new Date('2025-01-01T01:00:00Z') }, [4, 3, 2]],
        ['until (exclusive)', { until: new Date('2025-01-01T02:00:00Z') }, [2, 1]],
        [
          'identity, since and until',
          {
            identity: alice,
            since: new Date('2025-01-01T00:00:01Z'),
            until: new Date('2025-01-02T00:00:00Z'),
          },
          [4, 3],
        ],
        ['limit', { limit: 2 }, [4, 3]],
        ['an unknown identity', { identity: 'spiffe://cluster.local/ns/x/sa/nobody' }, []],
      ])('filters by %s', async (_what, query, serials) => {
        await store.appendAudit(batch);
        const got = await store.listAudit(query);
        expect(got.map((r) => parseInt(r.serialNumber, 16))).toEqual(serials);
      });

      it('pruneAudit removes records issued before the cutoff and says how many', async () => {
        await store.appendAudit(batch);
        expect(await store.pruneAudit(new Date('2025-01-01T02:00:00Z'))).toBe(2);
        expect((await store.listAudit()).map((r) => parseInt(r.serialNumber, 16))).toEqual([4, 3]);
      });

      it('a batch with one bad record fails with INVALID_INPUT naming it, and appends nothing', async () => {
        const bad = [...batch.slice(0, 2), { ...batch[2]!, fingerprintSha256: 'ZZ' }];
        await expectError(store.appendAudit(bad), 'INVALID_INPUT', 'record #2', 'fingerprintSha256');
        expect(await store.listAudit()).toEqual([]);
      });

      it.each<[string, Record<string, unknown>, string]>([
        ['an empty identity', { identity: '' }, 'identity'],
        ['a date that is not RFC 3339', { issuedAt: 'yesterday' }, 'issuedAt'],
        ['an uppercase serial', { serialNumber: 'ABCD' }, 'serialNumber'],
        ['an oversized caller', { caller: 'c'.repeat(5000) }, 'caller'],
        ['a numeric clusterId', { clusterId: 7 }, 'clusterId'],
      ])('a record with %s fails with INVALID_INPUT', async (_what, change, field) => {
        await expectError(store.appendAudit([{ ...batch[0]!, ...change }]), 'INVALID_INPUT', field);
      });

      it('a batch over 10,000 records fails with INPUT_TOO_LARGE', async () => {
        const many = Array.from({ length: 10_001 }, (_, i) =>
          auditRecord(i + 1, alice, '2025-01-01T00:00:00Z'),
        );
        await expectError(store.appendAudit(many), 'INPUT_TOO_LARGE', '10000');
      });

      it.each<[string, Record<string, unknown>]>([
        ['a zero limit', { limit: 0 }],
        ['an invalid date', { since: new Date('nope') }],
        ['a string for a date', { until: '2025-01-01' }],
      ])('listAudit with %s fails with INVALID_INPUT', async (_what, query) => {
        await expectError(store.listAudit(query), 'INVALID_INPUT');
      });
    });
  });
}
