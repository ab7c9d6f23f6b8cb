import { afterEach, describe, expect, it } from 'vitest';
import { MeshcaError } from '../../errors/index.js';
import { openSqliteStore } from '../../store/sqlite/sqlite-store.js';
import type { Store } from '../../store/store.js';
import { defaultLeaderIdentity, LeaderElector, type LeaderElectionOptions } from './leader-election.js';
import type { SetTimer } from './set-timer.js';
import { ManualClock } from './testing/manual-clock.js';

const START = new Date('2030-01-01T00:00:00Z');
const NAMESPACE = 'istio-system';

/** One replica: its elector, what it saw, and a switch that freezes it (a hung or killed process). */
interface Replica {
  elector: LeaderElector;
  events: string[];
  frozen: boolean;
}

const flush = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

let store: Store;
let clock: ManualClock;
const replicas: Replica[] = [];

afterEach(async () => {
  for (const r of replicas.splice(0)) {
    r.frozen = false;
    await r.elector.stop();
  }
  await store.close();
});

function replica(identity: string, options: Partial<LeaderElectionOptions> = {}, on: Store = store): Replica {
  const r: Replica = { events: [], frozen: false, elector: undefined as unknown as LeaderElector };
  // A frozen replica's timers never fire: like a process that hangs or was killed.
  const setTimer: SetTimer = (at, fn) =>
    clock.setTimer(at, () => {
      if (!r.frozen) fn();
    });
  r.elector = new LeaderElector({
    store: on,
    namespace: NAMESPACE,
    identity,
    now: clock.now,
    setTimer,
    onStartedLeading: () => void r.events.push('started'),
    onStoppedLeading: () => void r.events.push('stopped'),
    ...options,
  });
  replicas.push(r);
  return r;
}

/** Advances the clock in 500 ms steps, letting store calls finish between steps. */
async function run(ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 500) {
    clock.advance(500);
    await flush();
  }
}

const setupStore = (): void => {
  store = openSqliteStore({ path: ':memory:' });
  clock = new ManualClock(START);
};

describe('LeaderElector', () => {
  it('lets only one of two replicas on one store lead', async () => {
    setupStore();
    const a = replica('a');
    const b = replica('b');
    a.elector.start();
    await flush();
    b.elector.start();
    await run(60_000);
    expect(a.elector.isLeader).toBe(true);
    expect(b.elector.isLeader).toBe(false);
    expect(a.events).toEqual(['started']);
    expect(b.events).toEqual([]);
    expect((await store.getLease('meshca-controller', NAMESPACE))?.holderIdentity).toBe('a');
  });

  it('hands over to the other replica once the leader stops renewing and its lease expires, not before', async () => {
    setupStore();
    const a = replica('a');
    const b = replica('b');
    a.elector.start();
    await flush();
    b.elector.start();
    await run(5_000);
    const lastRenew = (await store.getLease('meshca-controller', NAMESPACE))!.renewTime;
    a.frozen = true;
    // Until 15 s after the last renewal, b must wait.
    await run(lastRenew + 15_000 - clock.now().getTime() - 500);
    expect(b.elector.isLeader).toBe(false);
    await run(2_500);
    expect(b.elector.isLeader).toBe(true);
    expect(b.events).toEqual(['started']);
    const lease = await store.getLease('meshca-controller', NAMESPACE);
    expect(lease?.holderIdentity).toBe('b');
    expect(lease?.leaseTransitions).toBe(1);
  });

  it('steps down at once when a renewal finds another holder', async () => {
    setupStore();
    const a = replica('a');
    a.elector.start();
    await flush();
    expect(a.elector.isLeader).toBe(true);
    // Another process took the lease while a was stalled past expiry.
    await store.acquireLease({
      name: 'meshca-controller',
      namespace: NAMESPACE,
      holderIdentity: 'b',
      leaseDurationMs: 15_000,
      now: clock.now().getTime() + 16_000,
    });
    await run(5_000);
    expect(a.elector.isLeader).toBe(false);
    expect(a.events).toEqual(['started', 'stopped']);
  });

  it('releases the lease on stop, so the other replica takes over at its next try', async () => {
    setupStore();
    const a = replica('a');
    const b = replica('b');
    a.elector.start();
    await flush();
    b.elector.start();
    await run(1_000);
    await a.elector.stop();
    expect(a.events).toEqual(['started', 'stopped']);
    await run(2_000);
    expect(b.elector.isLeader).toBe(true);
  });

  it('keeps leading through store failures shorter than the renew deadline, and steps down after it', async () => {
    setupStore();
    let failing = false;
    const flaky: Store = Object.assign(Object.create(store) as Store, {
      acquireLease: (...args: Parameters<Store['acquireLease']>) =>
        failing
          ? Promise.reject(new MeshcaError('STORE_UNAVAILABLE', 'database is locked'))
          : store.acquireLease(...args),
    });
    const a = replica('a', {}, flaky);
    a.elector.start();
    await flush();
    expect(a.elector.isLeader).toBe(true);
    failing = true;
    await run(9_000);
    expect(a.elector.isLeader).toBe(true);
    await run(2_500);
    expect(a.elector.isLeader).toBe(false);
    expect(a.events).toEqual(['started', 'stopped']);
    failing = false;
    await run(3_000);
    expect(a.elector.isLeader).toBe(true);
    expect(a.events).toEqual(['started', 'stopped', 'started']);
  });

  it('stops acting at the renew deadline by its own clock while a renewal hangs, before a peer may take over', async () => {
    setupStore();
    // a's renewals stop answering (a store stuck behind a lock, a hung disk): no error comes back.
    let hang = false;
    const hung: (() => void)[] = [];
    const stuck: Store = Object.assign(Object.create(store) as Store, {
      acquireLease: (...args: Parameters<Store['acquireLease']>) =>
        hang
          ? new Promise<Awaited<ReturnType<Store['acquireLease']>>>((resolve, reject) =>
              hung.push(() => void store.acquireLease(...args).then(resolve, reject)),
            )
          : store.acquireLease(...args),
    });
    const a = replica('a', {}, stuck);
    const b = replica('b');
    a.elector.start();
    await flush();
    b.elector.start();
    expect(a.elector.isLeader).toBe(true);
    const lastRenew = clock.now().getTime();
    hang = true;
    try {
      // Acting = between onStartedLeading and onStoppedLeading (isLeader is not asked here, so
      // what steps a down is its own deadline timer).
      const acting = (r: Replica): boolean => r.events.at(-1) === 'started';
      let bothActed = false;
      const step = async (ms: number): Promise<void> => {
        for (let t = 0; t < ms; t += 500) {
          await run(500);
          if (acting(a) && acting(b)) bothActed = true;
        }
      };
      // Up to the deadline (10 s after the last renewal) a still acts...
      await step(lastRenew + 10_000 - clock.now().getTime() - 500);
      expect(a.events).toEqual(['started']);
      // ...and at it a steps down by itself, though its renewal neither succeeded nor failed.
      await step(500);
      expect(a.events).toEqual(['started', 'stopped']);
      expect(a.elector.isLeader).toBe(false);
      expect(hung).toHaveLength(1);
      // b takes over once the lease has expired (15 s): never while a still acted.
      await step(7_000);
      expect(b.events).toEqual(['started']);
      expect(bothActed).toBe(false);
    } finally {
      // The stuck renewal finally reaches the store (also when an assertion failed, so that
      // afterEach's stop() does not wait on it forever).
      for (const release of hung.splice(0)) release();
    }
    // b holds the lease: a stays a follower.
    await flush();
    expect(a.elector.isLeader).toBe(false);
    expect(a.events).toEqual(['started', 'stopped']);
  });

  it('stops acting as soon as its own clock shows the renewal past the deadline, before any timer or store call', async () => {
    setupStore();
    // a's clock: the shared one plus an offset that can jump (a VM resumed, an NTP step).
    let offset = 0;
    const a = replica('a', {
      now: () => new Date(clock.now().getTime() + offset),
      setTimer: (at, fn) => clock.setTimer(new Date(at.getTime() - offset), fn),
    });
    a.elector.start();
    await flush();
    expect(a.elector.isLeader).toBe(true);
    await run(4_000);
    expect(a.elector.isLeader).toBe(true);
    offset += 20_000;
    // No timer has fired and no store call was made: by a's clock the renewal is 24 s old.
    expect(a.elector.isLeader).toBe(false);
    await flush();
    expect(a.events).toEqual(['started', 'stopped']);
    // Its next renewal of its own (unexpired, untaken) lease makes it lead again.
    await run(1_000);
    expect(a.elector.isLeader).toBe(true);
    expect(a.events).toEqual(['started', 'stopped', 'started']);
  });

  it('does not start acting on a renewal that came back after the renew deadline', async () => {
    setupStore();
    // a's first acquisition answers only 11 s after it was sent.
    let slow = true;
    let release: (() => void) | undefined;
    const lagging: Store = Object.assign(Object.create(store) as Store, {
      acquireLease: (...args: Parameters<Store['acquireLease']>) => {
        if (!slow) return store.acquireLease(...args);
        slow = false;
        return new Promise<Awaited<ReturnType<Store['acquireLease']>>>((resolve, reject) => {
          release = () => void store.acquireLease(...args).then(resolve, reject);
        });
      },
    });
    const a = replica('a', {}, lagging);
    a.elector.start();
    await flush();
    await run(11_000);
    release?.();
    await flush();
    // The store says a holds the lease, but as of 11 s ago: a must not act on it.
    expect((await store.getLease('meshca-controller', NAMESPACE))?.holderIdentity).toBe('a');
    expect(a.elector.isLeader).toBe(false);
    expect(a.events).toEqual([]);
    // A fresh renewal follows at once and a leads on it.
    await run(2_000);
    expect(a.elector.isLeader).toBe(true);
    expect(a.events).toEqual(['started']);
  });

  it('refuses durations that would let two leaders overlap, saying which rule', () => {
    setupStore();
    const base = {
      store,
      namespace: NAMESPACE,
      onStartedLeading: () => undefined,
      onStoppedLeading: () => undefined,
    };
    expect(() => new LeaderElector({ ...base, renewDeadlineMs: 20_000 })).toThrow(
      'leader election needs renewIntervalMs < renewDeadlineMs < leaseDurationMs, got 5000 < 20000 < 15000',
    );
    expect(() => new LeaderElector({ ...base, retryIntervalMs: -1 })).toThrow(
      'leader election retryIntervalMs must be a positive number, got -1',
    );
  });

  it('makes a different identity for every elector: host, pid and a random part', () => {
    const a = defaultLeaderIdentity();
    const b = defaultLeaderIdentity();
    expect(a).not.toBe(b);
    expect(a).toMatch(new RegExp(`-${process.pid}-[0-9a-f]{8}$`));
  });
});
