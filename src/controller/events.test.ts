import { afterEach, describe, expect, it } from 'vitest';
import type { Resource } from '../api/resource.js';
import { openSqliteStore, type SqliteStore } from '../store/sqlite/sqlite-store.js';
import { EVENT, EventRecorder, MAX_EVENTS_PER_OBJECT } from './events.js';

let store: SqliteStore;
afterEach(async () => {
  await store.close();
});
const T = new Date('2030-01-01T00:00:00Z');
const involved: Resource = {
  apiVersion: 'cert-manager.io/v1',
  kind: 'Certificate',
  metadata: { name: 'web', namespace: 'ns', uid: '0b7c1c1e-0000-4000-8000-000000000001' },
};
const events = async (): Promise<Resource[]> =>
  (await store.list<Resource>(EVENT, { namespace: 'ns' })).items;

describe('EventRecorder', () => {
  it('writes a core/v1 Event naming the object, and counts a repeat instead of adding one', async () => {
    store = openSqliteStore({ path: ':memory:' });
    const recorder = new EventRecorder();
    await recorder.record(
      store,
      involved,
      { type: 'Normal', reason: 'Issuing', message: 'Issuing certificate as Secret does not exist' },
      T,
    );
    await recorder.record(
      store,
      involved,
      { type: 'Normal', reason: 'Issuing', message: 'Issuing certificate as Secret does not exist' },
      new Date(T.getTime() + 5000),
    );
    const [event, ...rest] = await events();
    expect(rest).toEqual([]);
    expect(event?.metadata.name).toMatch(/^web\.[0-9a-f]{16}$/);
    expect(event).toMatchObject({
      involvedObject: {
        apiVersion: 'cert-manager.io/v1',
        kind: 'Certificate',
        name: 'web',
        namespace: 'ns',
        uid: involved.metadata.uid,
      },
      reason: 'Issuing',
      type: 'Normal',
      count: 2,
      firstTimestamp: '2030-01-01T00:00:00Z',
      lastTimestamp: '2030-01-01T00:00:05Z',
      source: { component: 'meshca' },
    });
  });

  it.each([
    ['"."', `${'a'.repeat(235)}.b${'c'.repeat(16)}`],
    ['"-"', `${'a'.repeat(235)}-b${'c'.repeat(16)}`],
  ])('records events about an object with a 253-character name whose cut falls on %s', async (_cut, name) => {
    store = openSqliteStore({ path: ':memory:' });
    const long: Resource = { ...involved, metadata: { ...involved.metadata, name } };
    await new EventRecorder().record(store, long, { type: 'Normal', reason: 'Issuing', message: 'm' }, T);
    const [event] = await events();
    expect(event?.metadata.name).toMatch(new RegExp(`^${'a'.repeat(235)}\\.[0-9a-f]{16}$`));
  });

  it(`keeps at most ${MAX_EVENTS_PER_OBJECT} events per object, dropping the oldest`, async () => {
    store = openSqliteStore({ path: ':memory:' });
    const recorder = new EventRecorder();
    for (let i = 0; i < 70; i++) {
      await recorder.record(
        store,
        involved,
        { type: 'Warning', reason: 'Failed', message: `attempt ${i}` },
        new Date(T.getTime() + i * 1000),
      );
    }
    const kept = await events();
    expect(kept.length).toBe(MAX_EVENTS_PER_OBJECT);
    const messages = kept.map((e) => String(e['message']));
    expect(messages).toContain('attempt 69');
    expect(messages).not.toContain('attempt 0');
    expect(messages).not.toContain('attempt 19');
  });

  it('keeps events of other objects when pruning', async () => {
    store = openSqliteStore({ path: ':memory:' });
    const recorder = new EventRecorder();
    const other = {
      ...involved,
      metadata: { ...involved.metadata, name: 'api', uid: '0b7c1c1e-0000-4000-8000-000000000002' },
    };
    await recorder.record(store, other, { type: 'Normal', reason: 'Issued', message: 'ok' }, T);
    for (let i = 0; i < 60; i++)
      await recorder.record(
        store,
        involved,
        { type: 'Normal', reason: 'Issuing', message: `m${i}` },
        new Date(T.getTime() + (i + 1) * 1000),
      );
    expect(
      (await events()).filter((e) => (e['involvedObject'] as { name: string }).name === 'api'),
    ).toHaveLength(1);
  });
});
