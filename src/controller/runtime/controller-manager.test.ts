import { afterEach, describe, expect, it } from 'vitest';
import type { Resource, ResourceKey, ResourceType } from '../../api/resource.js';
import { MeshcaError } from '../../errors/index.js';
import { openSqliteStore } from '../../store/sqlite/sqlite-store.js';
import type { Store, Watch, WatchOptions } from '../../store/store.js';
import { certificate, CERTIFICATE } from '../../store/testing/resource-builder.js';
import type { Controller, ReconcileContext, ReconcileResult } from './controller.js';
import { ControllerManager, type ControllerManagerOptions } from './controller-manager.js';
import { ManualClock } from './testing/manual-clock.js';

const SECRET: ResourceType = { apiVersion: 'v1', kind: 'Secret' };
const START = new Date('2030-01-01T00:00:00Z');

/** A controller that records its reconciles and answers with whatever `behaviour` says. */
class RecordingController implements Controller {
  readonly kind = CERTIFICATE;
  readonly calls: string[] = [];
  running = 0;
  maxRunning = 0;
  behaviour: (key: ResourceKey, ctx: ReconcileContext) => Promise<ReconcileResult> = () =>
    Promise.resolve({});

  constructor(
    readonly name = 'recorder',
    readonly watches: readonly ResourceType[] = [SECRET],
  ) {}

  mapToKeys(changed: Resource): ResourceKey[] {
    const owner = changed.metadata.annotations?.['cert-manager.io/certificate-name'];
    if (owner === 'explode') throw new Error('mapping exploded');
    return owner === undefined
      ? []
      : [{ ...CERTIFICATE, namespace: changed.metadata.namespace ?? 'default', name: owner }];
  }

  async reconcile(key: ResourceKey, ctx: ReconcileContext): Promise<ReconcileResult> {
    this.calls.push(key.name);
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    try {
      return await this.behaviour(key, ctx);
    } finally {
      this.running--;
    }
  }

  count(name: string): number {
    return this.calls.filter((c) => c === name).length;
  }
}

const secret = (name: string, owner: string): Resource => ({
  ...SECRET,
  metadata: { name, namespace: 'default', annotations: { 'cert-manager.io/certificate-name': owner } },
  type: 'kubernetes.io/tls',
  data: {},
});

const key = (name: string): ResourceKey => ({ ...CERTIFICATE, namespace: 'default', name });

/** A gate a reconcile can wait on until the test opens it. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open: () => void = () => undefined;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

const opened: { store: Store; manager: ControllerManager }[] = [];

async function setup(
  controllers: Controller[],
  options: Partial<ControllerManagerOptions> = {},
  store: Store = openSqliteStore({ path: ':memory:' }),
): Promise<{ store: Store; manager: ControllerManager; clock: ManualClock; logs: string[] }> {
  const clock = new ManualClock(START);
  const logs: string[] = [];
  const manager = new ControllerManager({
    store,
    controllers,
    now: clock.now,
    setTimer: clock.setTimer,
    random: () => 1,
    log: (level, message, fields) => logs.push(`${level} ${message} ${JSON.stringify(fields ?? {})}`),
    ...options,
  });
  opened.push({ store, manager });
  return { store, manager, clock, logs };
}

afterEach(async () => {
  for (const { store, manager } of opened.splice(0)) {
    await manager.stop();
    await store.close();
  }
});

describe('ControllerManager', () => {
  it('reconciles every existing object once when it starts, and nothing more while nothing changes', async () => {
    const c = new RecordingController();
    const { store, manager, clock } = await setup([c]);
    for (const n of ['a', 'b', 'c']) await store.create(certificate(n));
    await manager.start();
    await manager.idle();
    expect([...c.calls].sort()).toEqual(['a', 'b', 'c']);
    clock.advance(24 * 3600_000);
    await manager.idle();
    expect(c.calls).toHaveLength(3);
    expect(clock.armedTimers).toBe(0);
  });

  it('reads a large store page by page on start and queues every key', async () => {
    const c = new RecordingController();
    const { store, manager } = await setup([c], { listPageSize: 7 });
    for (let i = 0; i < 30; i++) await store.create(certificate(`cert-${i}`));
    await manager.start();
    await manager.idle();
    expect(new Set(c.calls).size).toBe(30);
    expect(c.calls).toHaveLength(30);
  });

  it('reconciles a key after its object is created, updated and deleted', async () => {
    const c = new RecordingController();
    const { store, manager } = await setup([c]);
    await manager.start();
    const created = await store.create(certificate('web'));
    await manager.idle();
    expect(c.count('web')).toBe(1);
    await store.update({ ...created, spec: { secretName: 'web-tls', dnsNames: ['web2.example.com'] } });
    await manager.idle();
    expect(c.count('web')).toBe(2);
    await store.delete(key('web'));
    await manager.idle();
    expect(c.count('web')).toBe(3);
  });

  it('reconciles the owning key when a watched kind changes, through mapToKeys', async () => {
    const c = new RecordingController();
    const { store, manager } = await setup([c]);
    await manager.start();
    await store.create(secret('web-tls', 'web'));
    await store.create(secret('orphan', 'unrelated'));
    await manager.idle();
    expect(c.calls.sort()).toEqual(['unrelated', 'web']);
  });

  it('keeps going when mapToKeys throws, and logs which object it failed on', async () => {
    const c = new RecordingController();
    const { store, manager, logs } = await setup([c]);
    await manager.start();
    await store.create(secret('bad', 'explode'));
    await store.create(secret('web-tls', 'web'));
    await manager.idle();
    expect(c.calls).toEqual(['web']);
    expect(logs.some((l) => l.startsWith('error mapToKeys failed') && l.includes('Secret default/bad'))).toBe(
      true,
    );
  });

  it('queues a key at most once however many changes arrive before it runs', async () => {
    const c = new RecordingController();
    const g = gate();
    c.behaviour = async (k) => {
      if (k.name === 'blocker') await g.wait;
      return {};
    };
    const { store, manager } = await setup([c], { concurrency: 1 });
    await store.create(certificate('blocker'));
    await manager.start();
    // The only worker is busy with "blocker": five writes to "web" pile up as one queued key.
    const web = await store.create(certificate('web'));
    for (let i = 0; i < 4; i++)
      await store.update({
        ...web,
        metadata: { ...web.metadata, resourceVersion: undefined, labels: { n: String(i) } },
      });
    await new Promise((r) => setImmediate(r));
    g.open();
    await manager.idle();
    expect(c.count('web')).toBe(1);
  });

  it('never runs two reconciles of one key at once, and runs once more for a change seen meanwhile', async () => {
    const c = new RecordingController();
    const g = gate();
    let first = true;
    c.behaviour = async () => {
      if (first) {
        first = false;
        await g.wait;
      }
      return {};
    };
    const { store, manager } = await setup([c], { concurrency: 4 });
    const web = await store.create(certificate('web'));
    await manager.start();
    await new Promise((r) => setImmediate(r));
    for (let i = 0; i < 3; i++)
      await store.update({
        ...web,
        metadata: { ...web.metadata, resourceVersion: undefined, labels: { n: String(i) } },
      });
    await new Promise((r) => setImmediate(r));
    expect(c.running).toBe(1);
    g.open();
    await manager.idle();
    expect(c.maxRunning).toBe(1);
    expect(c.count('web')).toBe(2);
  });

  it('runs at most `concurrency` reconciles at once', async () => {
    const c = new RecordingController();
    const g = gate();
    c.behaviour = async () => {
      await g.wait;
      return {};
    };
    const { store, manager } = await setup([c], { concurrency: 3 });
    for (let i = 0; i < 10; i++) await store.create(certificate(`c${i}`));
    await manager.start();
    await new Promise((r) => setImmediate(r));
    expect(c.running).toBe(3);
    g.open();
    await manager.idle();
    expect(c.maxRunning).toBe(3);
    expect(c.calls).toHaveLength(10);
  });

  it('reconciles a key again at its requeueAt, not before, with one real timer for many keys', async () => {
    const c = new RecordingController();
    const { store, manager, clock } = await setup([c]);
    // Each certificate asks to be looked at again at its own renewal time, once.
    const renewAt: Record<string, number> = { a: 3_600_000, b: 60_000, c: 7_200_000 };
    c.behaviour = (k) =>
      Promise.resolve(
        c.count(k.name) === 1 ? { requeueAt: new Date(START.getTime() + (renewAt[k.name] ?? 0)) } : {},
      );
    for (const n of Object.keys(renewAt)) await store.create(certificate(n));
    await manager.start();
    await manager.idle();
    expect(manager.scheduledCount).toBe(3);
    expect(clock.armedTimers).toBe(1);
    expect(clock.nextTimerAt()).toEqual(new Date(START.getTime() + 60_000));
    clock.advance(59_999);
    await manager.idle();
    expect(c.calls).toHaveLength(3);
    clock.advance(1);
    await manager.idle();
    expect(c.count('b')).toBe(2);
    expect(clock.nextTimerAt()).toEqual(new Date(START.getTime() + 3_600_000));
    clock.advance(2 * 3_600_000);
    await manager.idle();
    expect(c.count('a')).toBe(2);
    expect(c.count('c')).toBe(2);
    expect(manager.scheduledCount).toBe(0);
    expect(clock.armedTimers).toBe(0);
  });

  it("replaces a scheduled requeue with the next reconcile's answer", async () => {
    const c = new RecordingController();
    const { store, manager, clock } = await setup([c]);
    let answer: ReconcileResult = { requeueAt: new Date(START.getTime() + 60_000) };
    c.behaviour = () => Promise.resolve(answer);
    const web = await store.create(certificate('web'));
    await manager.start();
    await manager.idle();
    expect(manager.scheduledCount).toBe(1);
    // A change makes the reconcile say "nothing to do until the next change".
    answer = {};
    await store.update({
      ...web,
      metadata: { ...web.metadata, resourceVersion: undefined, labels: { x: 'y' } },
    });
    await manager.idle();
    expect(manager.scheduledCount).toBe(0);
    expect(clock.armedTimers).toBe(0);
    clock.advance(120_000);
    await manager.idle();
    expect(c.count('web')).toBe(2);
  });

  it('retries a failing reconcile with exponential backoff and resets it after a success', async () => {
    const c = new RecordingController();
    const { store, manager, clock } = await setup([c], { retry: { baseMs: 100, maxMs: 1000 } });
    let failuresLeft = 6;
    c.behaviour = () => {
      if (failuresLeft-- > 0) return Promise.reject(new MeshcaError('STORE_UNAVAILABLE', 'store is busy'));
      return Promise.resolve({});
    };
    await store.create(certificate('web'));
    await manager.start();
    await manager.idle();
    // random() = 1: no jitter reduction, so delays are exactly 100, 200, 400, 800, 1000 (capped), 1000.
    const delays: number[] = [];
    let last = START.getTime();
    while (clock.nextTimerAt() !== undefined) {
      const at = clock.nextTimerAt()!.getTime();
      delays.push(at - last);
      last = at;
      clock.advance(at - clock.now().getTime());
      await manager.idle();
    }
    expect(delays).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(c.count('web')).toBe(7);
    // After the success, a new failure starts from the base again.
    failuresLeft = 1;
    await store.create(secret('web-tls', 'web'));
    await manager.idle();
    expect(clock.nextTimerAt()!.getTime() - clock.now().getTime()).toBe(100);
  });

  it('jitters backoff into the upper half of the exponential delay', async () => {
    const c = new RecordingController();
    const { store, manager, clock } = await setup([c], { retry: { baseMs: 1000 }, random: () => 0 });
    c.behaviour = () => Promise.reject(new Error('boom'));
    await store.create(certificate('web'));
    await manager.start();
    await manager.idle();
    expect(clock.nextTimerAt()!.getTime() - START.getTime()).toBe(500);
  });

  it('retries a CONFLICT at once a few times before backing off', async () => {
    const c = new RecordingController();
    const { store, manager, clock } = await setup([c], {
      retry: { baseMs: 1000, immediateConflictRetries: 3 },
    });
    c.behaviour = () => Promise.reject(new MeshcaError('CONFLICT', 'stale resourceVersion'));
    await store.create(certificate('web'));
    await manager.start();
    await manager.idle();
    // The first try plus three immediate retries, all without the clock moving; then a timer.
    expect(c.count('web')).toBe(4);
    expect(clock.now()).toEqual(START);
    expect(clock.nextTimerAt()!.getTime() - START.getTime()).toBe(8000);
  });

  it('stops at once: nothing runs after stop, even when a change or a timer comes due, and it waits for running work', async () => {
    const c = new RecordingController();
    const g = gate();
    let finished = false;
    c.behaviour = async (k) => {
      if (k.name === 'slow') {
        await g.wait;
        finished = true;
      }
      return { requeueAt: new Date(START.getTime() + 1000) };
    };
    const { store, manager, clock } = await setup([c]);
    await store.create(certificate('slow'));
    await store.create(certificate('fast'));
    await manager.start();
    await new Promise((r) => setImmediate(r));
    const stopped = manager.stop();
    expect(manager.isRunning).toBe(false);
    let resolved = false;
    void stopped.then(() => (resolved = true));
    await new Promise((r) => setImmediate(r));
    expect(resolved).toBe(false);
    g.open();
    await stopped;
    expect(finished).toBe(true);
    const before = c.calls.length;
    await store.create(certificate('late'));
    clock.advance(10_000);
    await new Promise((r) => setTimeout(r, 20));
    expect(c.calls).toHaveLength(before);
    expect(clock.armedTimers).toBe(0);
  });

  it('starts again after a stop by reading everything afresh', async () => {
    const c = new RecordingController();
    const { store, manager } = await setup([c]);
    await store.create(certificate('a'));
    await manager.start();
    await manager.idle();
    await manager.stop();
    await store.create(certificate('b'));
    await manager.start();
    await manager.idle();
    expect(c.calls.sort()).toEqual(['a', 'a', 'b']);
  });

  it('lists again when its watch falls behind compaction (GONE), without losing a change', async () => {
    const c = new RecordingController();
    const inner = openSqliteStore({ path: ':memory:' });
    let goneLeft = 1;
    // The real store, except that its first Secret watch has fallen behind compaction.
    const store: Store = Object.assign(Object.create(inner) as Store, {
      watch<T extends Resource>(type: ResourceType, options?: WatchOptions): Watch<T> {
        if (type.kind === 'Secret' && goneLeft-- > 0) {
          const failed: Watch<T> = {
            close: () => undefined,
            [Symbol.asyncIterator]: () => ({
              next: () => Promise.reject(new MeshcaError('GONE', 'resourceVersion compacted')),
            }),
          };
          return failed;
        }
        return inner.watch<T>(type, options);
      },
    });
    const { manager, logs } = await setup([c], {}, store);
    await inner.create(certificate('web'));
    await inner.create(secret('web-tls', 'web'));
    await manager.start();
    await manager.idle();
    expect(logs.some((l) => l.includes('watch fell behind; listing again'))).toBe(true);
    // Once for the Certificate and again from the re-list of Secrets and the resync of Certificates.
    expect(c.count('web')).toBeGreaterThanOrEqual(1);
    const n = c.count('web');
    await inner.create(secret('other-tls', 'web'));
    await manager.idle();
    expect(c.count('web')).toBe(n + 1);
  });

  it("reconciles each controller's keys separately when two controllers watch one kind", async () => {
    const a = new RecordingController('issuing');
    const b = new RecordingController('readiness', []);
    const { store, manager } = await setup([a, b]);
    await manager.start();
    await store.create(certificate('web'));
    await store.create(secret('web-tls', 'web'));
    await manager.idle();
    expect(a.count('web')).toBe(2);
    expect(b.count('web')).toBe(1);
  });

  it('refuses two controllers with one name, and bad options, with messages that say what to fix', () => {
    const store = openSqliteStore({ path: ':memory:' });
    expect(
      () =>
        new ControllerManager({
          store,
          controllers: [new RecordingController('x'), new RecordingController('x')],
        }),
    ).toThrow('two controllers are named "x": give each a unique name');
    expect(() => new ControllerManager({ store, controllers: [], concurrency: 0 })).toThrow(
      'controller manager option concurrency must be a positive number, got 0',
    );
    expect(() => new ControllerManager({ store, controllers: [], retry: { maxMs: Number.NaN } })).toThrow(
      /retry\.maxMs/,
    );
    void store.close();
  });

  it('reports each reconcile with its duration, its next time and its error', async () => {
    const c = new RecordingController();
    const outcomes: string[] = [];
    const { store, manager } = await setup([c], {
      onReconcile: (o) =>
        outcomes.push(`${o.key.name} ${o.error?.code ?? 'ok'} ${o.requeueAt?.toISOString() ?? '-'}`),
    });
    c.behaviour = (k) =>
      k.name === 'bad'
        ? Promise.reject(new MeshcaError('ISSUER_NOT_FOUND', 'no issuer'))
        : Promise.resolve({ requeueAt: new Date(START.getTime() + 5000) });
    await store.create(certificate('bad'));
    await store.create(certificate('good'));
    await manager.start();
    await manager.idle();
    expect(outcomes.sort()).toEqual(['bad ISSUER_NOT_FOUND -', 'good ok 2030-01-01T00:00:05.000Z']);
  });

  it('lets a caller queue a key by hand, and refuses an unknown controller name', async () => {
    const c = new RecordingController();
    const { manager } = await setup([c]);
    await manager.start();
    manager.enqueue('recorder', key('manual'));
    await manager.idle();
    expect(c.calls).toEqual(['manual']);
    expect(() => manager.enqueue('nobody', key('manual'))).toThrow('no controller is named "nobody"');
  });
});
