import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Resource } from '../../api/resource.js';
import { defaultHierarchyOptions, initHierarchy } from '../../controller/bootstrap/init-hierarchy.js';
import { ManualClock } from '../../controller/runtime/testing/manual-clock.js';
import { MeshcaError, toMeshcaError } from '../../errors/index.js';
import { openSqliteStore } from '../../store/sqlite/sqlite-store.js';
import type { Store, Watch, WatchEvent } from '../../store/store.js';
import { SigningAuthoritySource } from './signing-authority-source.js';
import type { SigningAuthority } from './workload-signer.js';

const MINUTE = 60_000;
// Whole seconds: certificate times have no milliseconds.
const START = new Date(Math.floor(Date.now() / 1000) * 1000);

const busy = (): MeshcaError =>
  new MeshcaError(
    'STORE_UNAVAILABLE',
    'store :memory: is busy (SQLITE_BUSY): another process holds the lock',
  );

/** A watch that a test can make fail as a store outage would. */
class BreakableWatch implements Watch {
  #reject: (err: unknown) => void = () => undefined;
  readonly #broken = new Promise<never>((_, reject) => {
    this.#reject = reject;
  });

  constructor(private readonly inner: Watch) {
    this.#broken.catch(() => undefined);
  }

  break(err: unknown): void {
    this.#reject(err);
    this.inner.close();
  }

  close(): void {
    this.inner.close();
  }

  [Symbol.asyncIterator](): AsyncIterator<WatchEvent> {
    const it = this.inner[Symbol.asyncIterator]();
    return {
      next: () => Promise.race([this.#broken, it.next()]),
      return: () => {
        this.inner.close();
        return Promise.resolve({ done: true, value: undefined });
      },
    };
  }
}

/** The real SQLite store, with reads that fail with a retryable STORE_UNAVAILABLE and watches that break, on demand. */
class FlakyStore {
  failReads = false;
  readonly #watches = new Set<BreakableWatch>();
  readonly store: Store;

  constructor(readonly inner: Store) {
    this.store = new Proxy(inner, {
      get: (target, prop) => {
        if (prop === 'tryGet') {
          return async (key: Parameters<Store['tryGet']>[0]) => {
            if (this.failReads) throw busy();
            return target.tryGet(key);
          };
        }
        if (prop === 'watch') {
          return (...args: Parameters<Store['watch']>) => {
            const w = new BreakableWatch(target.watch(...args));
            this.#watches.add(w);
            return w;
          };
        }
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
  }

  /** Every open watch fails with STORE_UNAVAILABLE. */
  breakWatches(): void {
    for (const w of this.#watches) w.break(busy());
    this.#watches.clear();
  }
}

let inner: Store;
let flaky: FlakyStore;
let clock: ManualClock;
let source: SigningAuthoritySource | undefined;
let changes: SigningAuthority[];
let errors: string[];

beforeEach(() => {
  inner = openSqliteStore({ path: ':memory:' });
  flaky = new FlakyStore(inner);
  clock = new ManualClock(START);
  changes = [];
  errors = [];
});
afterEach(async () => {
  source?.close();
  source = undefined;
  await inner.close();
});

function newSource(): SigningAuthoritySource {
  source = new SigningAuthoritySource({
    store: flaky.store,
    issuerRef: { name: 'istio-ca-issuer', kind: 'Issuer' },
    namespace: 'istio-system',
    clusterResourceNamespace: 'cert-manager',
    now: clock.now,
    setTimer: clock.setTimer,
    onChange: (a) => changes.push(a),
    onError: (err) => errors.push(`${toMeshcaError(err).code}: ${toMeshcaError(err).message}`),
  });
  return source;
}

const nameOf = (a: SigningAuthority): string | undefined => (a.ready ? a.name : undefined);

describe('SigningAuthoritySource', () => {
  it('keeps signing with the loaded CA through a transient store error, retrying with bounded backoff', async () => {
    await initHierarchy(inner, defaultHierarchyOptions(), START);
    const s = newSource();
    await s.start();
    const loaded = s.current();
    expect(loaded.ready).toBe(true);

    flaky.failReads = true;
    await s.refresh();
    // A failed re-read does not unload a working CA.
    expect(s.current()).toBe(loaded);
    expect(changes).toEqual([loaded]);
    expect(errors).toEqual([expect.stringMatching(/^STORE_UNAVAILABLE: .*SQLITE_BUSY/)]);

    // Retried by itself: 1 s, 2 s, 4 s … at most 30 s apart.
    const delays: number[] = [];
    for (let i = 0; i < 7; i++) {
      const delay = clock.nextTimerAt()!.getTime() - clock.now().getTime();
      delays.push(delay);
      clock.advance(delay);
      await vi.waitFor(() => expect(errors).toHaveLength(i + 2));
    }
    expect(delays).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000]);
    expect(s.current()).toBe(loaded);

    // The store is back: the next retry succeeds and no more are scheduled.
    flaky.failReads = false;
    clock.advance(30_000);
    await s.refresh();
    expect(clock.armedTimers).toBe(0);
    expect(errors).toHaveLength(8);
    expect(s.current()).toBe(loaded);
    expect(changes).toEqual([loaded]);
  });

  it('retries a first load that met a transient store error, with no change to any resource', async () => {
    await initHierarchy(inner, defaultHierarchyOptions(), START);
    flaky.failReads = true;
    const s = newSource();
    await s.start();
    const first = s.current();
    expect(first.ready).toBe(false);
    expect(!first.ready && first.reason).toMatch(/^Issuer istio-ca-issuer: store :memory: is busy/);
    flaky.failReads = false;
    clock.advance(1_000);
    await vi.waitFor(() => expect(s.current().ready).toBe(true));
    expect(nameOf(s.current())).toBe('Issuer/istio-system/istio-ca-issuer');
  });

  it('looks again at its notBefore at a CA minted on a host whose clock is ahead', async () => {
    await initHierarchy(inner, defaultHierarchyOptions(), new Date(START.getTime() + 2 * MINUTE));
    const s = newSource();
    await s.start();
    const notBefore = new Date(START.getTime() + 2 * MINUTE);
    expect(s.current()).toEqual({
      ready: false,
      reason: `Issuer istio-system/istio-ca-issuer: its CA certificate is not valid before ${notBefore.toISOString()}`,
    });
    expect(clock.nextTimerAt()).toEqual(notBefore);
    clock.advance(2 * MINUTE - 1);
    expect(s.current().ready).toBe(false);
    clock.advance(1);
    await vi.waitFor(() => expect(s.current().ready).toBe(true));
    expect(clock.armedTimers).toBe(0);
  });

  it('sees an issuer swap made while its watches were down (the store re-listed after an outage)', async () => {
    await initHierarchy(inner, defaultHierarchyOptions(), START);
    await initHierarchy(
      inner,
      { ...defaultHierarchyOptions(), namespace: 'cert-manager', rootCommonName: 'Other Root' },
      START,
    );
    await inner.create({
      apiVersion: 'cert-manager.io/v1',
      kind: 'ClusterIssuer',
      metadata: { name: 'other-ca' },
      spec: { ca: { secretName: 'istio-ca' } },
    });
    const s = newSource();
    await s.start();
    expect(nameOf(s.current())).toBe('Issuer/istio-system/istio-ca-issuer');

    flaky.breakWatches();
    // Each of the four watched types reports its failure and waits to retry.
    await vi.waitFor(() => expect(errors).toHaveLength(4));
    expect(errors.every((e) => e.startsWith('STORE_UNAVAILABLE: '))).toBe(true);
    // The swap happens during the outage: no watch will ever deliver it.
    await inner.create<Resource>({
      apiVersion: 'meshca.io/v1alpha1',
      kind: 'MeshcaConfig',
      metadata: { name: 'default' },
      spec: { issuerRef: { name: 'other-ca', kind: 'ClusterIssuer', group: 'cert-manager.io' } },
    });
    expect(nameOf(s.current())).toBe('Issuer/istio-system/istio-ca-issuer');
    // The watches retry after 1 s, list again, and tell the source to read everything again.
    clock.advance(1_000);
    await vi.waitFor(() => expect(nameOf(s.current())).toBe('ClusterIssuer/other-ca'));
  });
});
