import { afterEach, describe, expect, it } from 'vitest';
import type { ResourceKey } from '../../api/resource.js';
import { openSqliteStore } from '../../store/sqlite/sqlite-store.js';
import type { Store } from '../../store/store.js';
import { certificate, CERTIFICATE } from '../../store/testing/resource-builder.js';
import type { Controller, ReconcileResult } from './controller.js';
import { startControllerRuntime, type ControllerRuntime } from './controller-runtime.js';
import type { SetTimer } from './set-timer.js';
import { ManualClock } from './testing/manual-clock.js';

const START = new Date('2030-01-01T00:00:00Z');

/** A controller that notes which replica reconciled which key. */
function recorder(replica: string, seen: string[]): Controller {
  return {
    name: 'recorder',
    kind: CERTIFICATE,
    watches: [],
    mapToKeys: () => [],
    reconcile: (key: ResourceKey): Promise<ReconcileResult> => {
      seen.push(`${replica}:${key.name}`);
      return Promise.resolve({});
    },
  };
}

const flush = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

let store: Store;
const runtimes: ControllerRuntime[] = [];
afterEach(async () => {
  for (const r of runtimes.splice(0)) await r.stop();
  await store.close();
});

describe('startControllerRuntime', () => {
  it('runs the controllers of only one of two replicas, and hands over when the leader goes away', async () => {
    store = openSqliteStore({ path: ':memory:' });
    const clock = new ManualClock(START);
    const seen: string[] = [];
    let aFrozen = false;
    const frozenTimer: SetTimer = (at, fn) => clock.setTimer(at, () => (aFrozen ? undefined : fn()));
    const run = async (ms: number): Promise<void> => {
      for (let t = 0; t < ms; t += 500) {
        clock.advance(500);
        await flush();
      }
    };
    await store.create(certificate('web'));
    const a = startControllerRuntime({
      store,
      controllers: [recorder('a', seen)],
      leaseNamespace: 'istio-system',
      identity: 'a',
      now: clock.now,
      setTimer: frozenTimer,
    });
    runtimes.push(a);
    await flush();
    await a.manager.idle();
    const b = startControllerRuntime({
      store,
      controllers: [recorder('b', seen)],
      leaseNamespace: 'istio-system',
      identity: 'b',
      now: clock.now,
      setTimer: clock.setTimer,
    });
    runtimes.push(b);
    await run(10_000);
    await store.create(certificate('api'));
    await a.manager.idle();
    expect(seen).toEqual(['a:web', 'a:api']);
    expect(b.manager.isRunning).toBe(false);
    // a hangs: it stops renewing; b takes over after the lease expires and reads everything afresh.
    aFrozen = true;
    await run(20_000);
    expect(b.elector.isLeader).toBe(true);
    await b.manager.idle();
    expect(seen.filter((s) => s.startsWith('b:')).sort()).toEqual(['b:api', 'b:web']);
  });

  it('stops reconciling at once when it steps down', async () => {
    store = openSqliteStore({ path: ':memory:' });
    const clock = new ManualClock(START);
    const seen: string[] = [];
    const a = startControllerRuntime({
      store,
      controllers: [recorder('a', seen)],
      leaseNamespace: 'istio-system',
      identity: 'a',
      now: clock.now,
      setTimer: clock.setTimer,
    });
    runtimes.push(a);
    await flush();
    await a.manager.idle();
    expect(a.manager.isRunning).toBe(true);
    await a.stop();
    expect(a.manager.isRunning).toBe(false);
    await store.create(certificate('late'));
    await flush();
    expect(seen).toEqual([]);
    expect((await store.getLease('meshca-controller', 'istio-system'))?.holderIdentity).toBe('');
  });
});
