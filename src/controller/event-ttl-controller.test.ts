import { afterEach, describe, expect, it } from 'vitest';
import type { Resource } from '../api/resource.js';
import type { Store } from '../store/store.js';
import { openSqliteStore } from '../store/sqlite/sqlite-store.js';
import { createEventTtlController, DEFAULT_EVENT_TTL_MS } from './event-ttl-controller.js';
import { EVENT, EventRecorder } from './events.js';
import { ControllerManager } from './runtime/controller-manager.js';
import { ManualClock } from './runtime/testing/manual-clock.js';

const START = new Date('2026-01-01T00:00:00Z');
const HOUR = 3_600_000;
const certificate = (name: string, uid: string): Resource => ({
  apiVersion: 'cert-manager.io/v1',
  kind: 'Certificate',
  metadata: { name, namespace: 'istio-system', uid },
});

const opened: { store: Store; manager: ControllerManager }[] = [];
afterEach(async () => {
  for (const { store, manager } of opened.splice(0)) {
    await manager.stop();
    await store.close();
  }
});

async function setup(
  ttlMs?: number,
): Promise<{ store: Store; manager: ControllerManager; clock: ManualClock }> {
  const store = openSqliteStore({ path: ':memory:' });
  const clock = new ManualClock(START);
  const manager = new ControllerManager({
    store,
    controllers: [createEventTtlController(ttlMs === undefined ? {} : { ttlMs })],
    now: clock.now,
    setTimer: clock.setTimer,
    random: () => 1,
    log: () => undefined,
  });
  opened.push({ store, manager });
  return { store, manager, clock };
}

const names = async (store: Store): Promise<string[]> =>
  (await store.list<Resource>(EVENT, { namespace: 'istio-system' })).items
    .map((e) => String(e['reason']))
    .sort();

describe('event TTL', () => {
  it('deletes an Event one TTL after it last happened, the Events of deleted objects included, and keeps younger ones', async () => {
    const { store, manager, clock } = await setup();
    const recorder = new EventRecorder();
    await recorder.record(
      store,
      certificate('gone', 'uid-gone'),
      { type: 'Normal', reason: 'Issuing', message: 'a' },
      clock.now(),
    );
    await manager.start();
    await manager.idle();
    clock.advance(30 * 60_000);
    await recorder.record(
      store,
      certificate('kept', 'uid-kept'),
      { type: 'Normal', reason: 'Issued', message: 'b' },
      clock.now(),
    );
    await manager.idle();
    expect(await names(store)).toEqual(['Issued', 'Issuing']);
    clock.advance(30 * 60_000 - 1);
    await manager.idle();
    expect(await names(store)).toEqual(['Issued', 'Issuing']);
    clock.advance(1);
    await manager.idle();
    expect(await names(store)).toEqual(['Issued']);
    clock.advance(30 * 60_000);
    await manager.idle();
    expect(await names(store)).toEqual([]);
    expect(clock.armedTimers).toBe(0);
  });

  it('keeps an Event that happened again: its count and lastTimestamp move its expiry', async () => {
    const { store, manager, clock } = await setup(2 * HOUR);
    const recorder = new EventRecorder();
    const owner = certificate('web', 'uid-web');
    await recorder.record(store, owner, { type: 'Warning', reason: 'Failed', message: 'x' }, clock.now());
    await manager.start();
    await manager.idle();
    clock.advance(90 * 60_000);
    await recorder.record(store, owner, { type: 'Warning', reason: 'Failed', message: 'x' }, clock.now());
    await manager.idle();
    clock.advance(60 * 60_000); // 2.5 h after the first, 1 h after the second
    await manager.idle();
    const [event] = (await store.list<Resource>(EVENT, { namespace: 'istio-system' })).items;
    expect(event?.['count']).toBe(2);
    clock.advance(60 * 60_000);
    await manager.idle();
    expect(await names(store)).toEqual([]);
  });

  it('finds the Events already in the store when it starts, and deletes the expired ones at once', async () => {
    const { store, manager, clock } = await setup();
    const recorder = new EventRecorder();
    await recorder.record(
      store,
      certificate('old', 'uid-old'),
      { type: 'Normal', reason: 'Old', message: 'o' },
      new Date(START.getTime() - 2 * HOUR),
    );
    await recorder.record(
      store,
      certificate('new', 'uid-new'),
      { type: 'Normal', reason: 'New', message: 'n' },
      clock.now(),
    );
    await manager.start();
    await manager.idle();
    expect(await names(store)).toEqual(['New']);
  });

  it('refuses a TTL that is not a positive whole number of milliseconds', () => {
    for (const ttlMs of [0, -1, 1.5, Number.NaN])
      expect(() => createEventTtlController({ ttlMs })).toThrow(/event TTL must be a positive/);
    expect(DEFAULT_EVENT_TTL_MS).toBe(HOUR);
  });
});
