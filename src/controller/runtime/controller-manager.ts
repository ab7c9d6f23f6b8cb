import type { Resource, ResourceKey, ResourceType } from '../../api/resource.js';
import { isMeshcaError, MeshcaError, toMeshcaError } from '../../errors/index.js';
import type { Store, Watch } from '../../store/store.js';
import type { Controller, ReconcileContext } from './controller.js';
import { nodeSetTimer, type SetTimer } from './set-timer.js';
import { TimerHeap } from './timer-heap.js';

/** How failed reconciles are retried. */
export interface RetryPolicy {
  /** First backoff (default 5 ms). */
  baseMs?: number;
  /** Longest backoff (default 5 min). */
  maxMs?: number;
  /** A CONFLICT is retried at once this many times in a row before backing off (default 3). */
  immediateConflictRetries?: number;
}

/** What one finished reconcile reports (for logs and metrics). */
export interface ReconcileOutcome {
  readonly controller: string;
  readonly key: ResourceKey;
  readonly durationMs: number;
  readonly requeueAt?: Date;
  readonly error?: MeshcaError;
}

/** Options of ControllerManager. */
export interface ControllerManagerOptions {
  readonly store: Store;
  readonly controllers: readonly Controller[];
  /** The injected clock (default the real one). */
  readonly now?: () => Date;
  /** The injected scheduler (default Node timers on `now`). */
  readonly setTimer?: SetTimer;
  readonly log?: ReconcileContext['log'];
  /** Reconciles running at once (default 4). */
  readonly concurrency?: number;
  readonly retry?: RetryPolicy;
  /** In [0, 1): jitter of retry backoff (default Math.random). */
  readonly random?: () => number;
  /** Pause before re-opening a watch that failed with anything but GONE (default 1 s). */
  readonly watchRetryMs?: number;
  /** Items read per list page (default 500). */
  readonly listPageSize?: number;
  /** Called after each reconcile. */
  readonly onReconcile?: (outcome: ReconcileOutcome) => void;
}

interface WorkItem {
  readonly controller: Controller;
  readonly key: ResourceKey;
}

const typeId = (t: ResourceType): string => `${t.apiVersion}\u0000${t.kind}`;

const workId = (controller: Controller, key: ResourceKey): string =>
  `${controller.name}\u0000${key.apiVersion}\u0000${key.kind}\u0000${key.namespace ?? ''}\u0000${key.name}`;

const keyText = (k: ResourceKey): string =>
  `${k.kind} ${k.namespace === undefined ? '' : `${k.namespace}/`}${k.name}`;

const noLog: ReconcileContext['log'] = () => undefined;

/**
 * Runs controllers against a store, the way a Kubernetes controller manager does: one watch per
 * resource type feeds a work queue that holds each (controller, key) at most once and reconciles
 * it at most once at a time; a failed reconcile is retried with exponential backoff; a reconcile
 * that names its next action time (`requeueAt`) goes into a min-heap of which only the earliest
 * entry is armed as a real timer. There is no periodic scan: with nothing due and nothing
 * changing, it does no work at all.
 */
export class ControllerManager {
  private readonly store: Store;
  private readonly controllers: readonly Controller[];
  private readonly now: () => Date;
  private readonly setTimer: SetTimer;
  private readonly log: ReconcileContext['log'];
  private readonly concurrency: number;
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly immediateConflictRetries: number;
  private readonly random: () => number;
  private readonly watchRetryMs: number;
  private readonly pageSize: number;
  private readonly onReconcile: ((outcome: ReconcileOutcome) => void) | undefined;
  /** Per watched type: the controllers reconciling that kind, and those mapping its changes. */
  private readonly types = new Map<
    string,
    { type: ResourceType; own: Controller[]; watchers: Controller[] }
  >();

  private running = false;
  /** Bumped on every stop, so work begun before a stop cannot touch the state of a later start. */
  private epoch = 0;
  private syncing = 0;
  private readonly items = new Map<string, WorkItem>();
  private queue: string[] = [];
  private queueHead = 0;
  private readonly queued = new Set<string>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new TimerHeap<string>();
  private armed: { at: number; cancel: () => void } | undefined;
  private readonly watches = new Set<Watch>();
  private readonly pauses = new Set<() => void>();
  private informers: Promise<void>[] = [];
  private idleWaiters: (() => void)[] = [];
  private stopping: Promise<void> = Promise.resolve();

  /** Checks the controllers (unique names) and remembers the options; start() begins the work. */
  constructor(options: ControllerManagerOptions) {
    this.store = options.store;
    this.controllers = options.controllers;
    this.now = options.now ?? ((): Date => new Date());
    this.setTimer = options.setTimer ?? nodeSetTimer(this.now);
    this.log = options.log ?? noLog;
    this.concurrency = positive(options.concurrency ?? 4, 'concurrency');
    this.baseMs = positive(options.retry?.baseMs ?? 5, 'retry.baseMs');
    this.maxMs = positive(options.retry?.maxMs ?? 300_000, 'retry.maxMs');
    this.immediateConflictRetries = options.retry?.immediateConflictRetries ?? 3;
    this.random = options.random ?? Math.random;
    this.watchRetryMs = positive(options.watchRetryMs ?? 1000, 'watchRetryMs');
    this.pageSize = positive(options.listPageSize ?? 500, 'listPageSize');
    this.onReconcile = options.onReconcile;
    const names = new Set<string>();
    for (const c of this.controllers) {
      if (names.has(c.name)) {
        throw new MeshcaError(
          'INVALID_INPUT',
          `two controllers are named ${JSON.stringify(c.name)}: give each a unique name`,
        );
      }
      names.add(c.name);
      this.entry(c.kind).own.push(c);
      for (const w of c.watches) this.entry(w).watchers.push(c);
    }
  }

  /** True between start() and stop(). */
  get isRunning(): boolean {
    return this.running;
  }

  /** How many (controller, key) pairs have a scheduled next action. */
  get scheduledCount(): number {
    return this.timers.size;
  }

  /**
   * Lists every watched type and queues every key once, then follows changes. Resolves once the
   * initial lists are read (reconciles continue in the background).
   */
  async start(): Promise<void> {
    await this.stopping;
    if (this.running) return;
    this.running = true;
    const epoch = this.epoch;
    const ready: Promise<void>[] = [];
    this.informers = [...this.types.values()].map((t) => {
      let markReady: () => void = () => undefined;
      ready.push(new Promise<void>((resolve) => (markReady = resolve)));
      return this.runInformer(t.type, epoch, markReady);
    });
    await Promise.all(ready);
    this.log('info', 'controllers started', { controllers: this.controllers.map((c) => c.name) });
  }

  /**
   * Stops at once: no new reconcile starts, watches and timers are dropped, and the returned
   * promise resolves once the reconciles already running have finished. start() may follow.
   */
  async stop(): Promise<void> {
    if (!this.running) return this.stopping;
    this.running = false;
    this.epoch++;
    for (const w of this.watches) w.close();
    this.watches.clear();
    for (const resume of this.pauses) resume();
    this.pauses.clear();
    this.armed?.cancel();
    this.armed = undefined;
    this.timers.clear();
    this.queue = [];
    this.queueHead = 0;
    this.queued.clear();
    this.dirty.clear();
    this.failures.clear();
    this.items.clear();
    this.stopping = Promise.allSettled([...this.inFlight.values(), ...this.informers]).then(() => {
      this.inFlight.clear();
      this.informers = [];
      this.syncing = 0;
      this.wakeIdle();
      this.log('info', 'controllers stopped');
    });
    return this.stopping;
  }

  /**
   * Resolves when nothing is queued or running and every initial list is read (for tests: the
   * effects of the last change have been reconciled). Scheduled timers do not count.
   */
  async idle(): Promise<void> {
    for (;;) {
      if (!this.quiet()) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
      // Watch deliveries of the last writes are a few promise turns away: let them land.
      for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
      if (this.quiet()) return;
    }
  }

  /** Queues a reconcile of `key` by the controller named `controller` (used by tests and manual triggers). */
  enqueue(controller: string, key: ResourceKey): void {
    const c = this.controllers.find((x) => x.name === controller);
    if (c === undefined)
      throw new MeshcaError('NOT_FOUND', `no controller is named ${JSON.stringify(controller)}`);
    this.add(c, key);
  }

  // ---- informers -----------------------------------------------------------------------------

  private entry(type: ResourceType): { type: ResourceType; own: Controller[]; watchers: Controller[] } {
    const id = typeId(type);
    let e = this.types.get(id);
    if (e === undefined) {
      e = { type: { apiVersion: type.apiVersion, kind: type.kind }, own: [], watchers: [] };
      this.types.set(id, e);
    }
    return e;
  }

  private live(epoch: number): boolean {
    return this.running && this.epoch === epoch;
  }

  /** Lists, then watches from the list's resourceVersion; after GONE, lists again. */
  private async runInformer(type: ResourceType, epoch: number, markReady: () => void): Promise<void> {
    let from: string | undefined;
    let first = true;
    this.syncing++;
    const synced = (): void => {
      if (!first) return;
      first = false;
      this.syncing--;
      markReady();
      this.checkIdle();
    };
    try {
      while (this.live(epoch)) {
        try {
          if (from === undefined) {
            from = await this.relist(type, epoch, !first);
            synced();
          }
          if (!this.live(epoch)) return;
          const watch = this.store.watch(type, { resourceVersion: from });
          this.watches.add(watch);
          try {
            for await (const event of watch) {
              if (!this.live(epoch)) return;
              from = event.object.metadata.resourceVersion ?? from;
              this.dispatch(type, event.object);
            }
          } finally {
            this.watches.delete(watch);
          }
          if (!this.live(epoch)) return;
        } catch (err) {
          if (!this.live(epoch)) return;
          if (isMeshcaError(err, 'GONE')) {
            // Changes were compacted away before we read them: read everything again.
            this.log('info', 'watch fell behind; listing again', { kind: type.kind });
            from = undefined;
            continue;
          }
          synced();
          this.log('warn', 'watch failed; retrying', { kind: type.kind, error: toMeshcaError(err).message });
          await this.pause(this.now().getTime() + this.watchRetryMs);
        }
      }
    } finally {
      synced();
    }
  }

  /**
   * Reads every object of `type` and dispatches it as a change. After a gap (`resync`), also
   * queues every key of the controllers that watch `type`, since a deletion of a dependent may
   * have been missed.
   */
  private async relist(type: ResourceType, epoch: number, resync: boolean): Promise<string> {
    const resourceVersion = await this.listAll(type, epoch, (obj) => this.dispatch(type, obj));
    if (resync) {
      for (const c of this.types.get(typeId(type))?.watchers ?? []) {
        await this.listAll(c.kind, epoch, (obj) => this.add(c, keyOf(c.kind, obj)));
      }
    }
    return resourceVersion;
  }

  private async listAll(type: ResourceType, epoch: number, each: (obj: Resource) => void): Promise<string> {
    let page = await this.store.list(type, { limit: this.pageSize });
    const resourceVersion = page.resourceVersion;
    for (;;) {
      if (!this.live(epoch)) return resourceVersion;
      for (const obj of page.items) each(obj);
      if (page.continue === undefined) return resourceVersion;
      page = await this.store.list(type, { limit: this.pageSize, continue: page.continue });
    }
  }

  private dispatch(type: ResourceType, obj: Resource): void {
    const e = this.types.get(typeId(type));
    if (e === undefined) return;
    for (const c of e.own) this.add(c, keyOf(type, obj));
    for (const c of e.watchers) {
      let keys: ResourceKey[];
      try {
        keys = c.mapToKeys(obj);
      } catch (err) {
        this.log('error', 'mapToKeys failed', {
          controller: c.name,
          object: keyText(keyOf(type, obj)),
          error: toMeshcaError(err).message,
        });
        continue;
      }
      for (const k of keys) this.add(c, k);
    }
  }

  /** Waits until `at` on the injected scheduler, or until stop. */
  private pause(at: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        this.pauses.delete(done);
        cancel();
        resolve();
      };
      const cancel = this.setTimer(new Date(at), done);
      this.pauses.add(done);
    });
  }

  // ---- the work queue ------------------------------------------------------------------------

  private add(controller: Controller, key: ResourceKey): void {
    if (!this.running) return;
    const id = workId(controller, key);
    if (!this.items.has(id)) this.items.set(id, { controller, key });
    this.push(id);
  }

  private push(id: string): void {
    if (this.inFlight.has(id)) {
      // One reconcile per key at a time: run again once the current one ends.
      this.dirty.add(id);
      return;
    }
    if (this.queued.has(id)) return;
    this.queued.add(id);
    this.queue.push(id);
    this.pump();
  }

  private pump(): void {
    while (this.running && this.inFlight.size < this.concurrency && this.queueHead < this.queue.length) {
      const id = this.queue[this.queueHead++] as string;
      if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.queueHead);
        this.queueHead = 0;
      }
      this.queued.delete(id);
      const item = this.items.get(id);
      if (item === undefined) continue;
      const run = this.process(id, item, this.epoch);
      this.inFlight.set(id, run);
    }
    this.checkIdle();
  }

  private async process(id: string, item: WorkItem, epoch: number): Promise<void> {
    // Start on a later turn, so that pump's bookkeeping is complete before reconcile code runs.
    await Promise.resolve();
    const started = this.now().getTime();
    const { controller, key } = item;
    const ctx: ReconcileContext = {
      store: this.store,
      now: this.now,
      log: (level, message, fields) =>
        this.log(level, message, { controller: controller.name, resource: keyText(key), ...fields }),
    };
    let outcome: ReconcileOutcome;
    try {
      const result = await controller.reconcile(key, ctx);
      outcome = {
        controller: controller.name,
        key,
        durationMs: this.now().getTime() - started,
        ...(result.requeueAt !== undefined && { requeueAt: result.requeueAt }),
      };
      if (this.live(epoch)) {
        this.failures.delete(id);
        if (result.requeueAt === undefined || Number.isNaN(result.requeueAt.getTime())) this.unschedule(id);
        else this.schedule(id, result.requeueAt.getTime());
      }
    } catch (err) {
      const error = toMeshcaError(err);
      outcome = { controller: controller.name, key, durationMs: this.now().getTime() - started, error };
      if (this.live(epoch)) {
        const n = (this.failures.get(id) ?? 0) + 1;
        this.failures.set(id, n);
        const delay = this.retryDelay(error, n);
        this.log(n > this.immediateConflictRetries ? 'warn' : 'debug', 'reconcile failed; retrying', {
          controller: controller.name,
          resource: keyText(key),
          error: error.message,
          code: error.code,
          attempt: n,
          retryInMs: delay,
        });
        if (delay === 0) this.dirty.add(id);
        else this.schedule(id, this.now().getTime() + delay);
      }
    }
    this.log('debug', 'reconciled', {
      controller: controller.name,
      resource: keyText(key),
      durationMs: outcome.durationMs,
      ...(outcome.requeueAt !== undefined && { requeueAt: outcome.requeueAt.toISOString() }),
    });
    this.onReconcile?.(outcome);
    if (this.epoch !== epoch) return;
    this.inFlight.delete(id);
    if (this.dirty.delete(id)) this.push(id);
    else this.forgetIfDone(id);
    this.pump();
  }

  /** Backoff for the n-th failure in a row: CONFLICTs at once a few times, then base·2^(n−1) ≤ max, jittered to [½, 1]. */
  private retryDelay(error: MeshcaError, n: number): number {
    if (error.code === 'CONFLICT' && n <= this.immediateConflictRetries) return 0;
    const exp = Math.min(this.maxMs, this.baseMs * 2 ** Math.min(n - 1, 40));
    return Math.max(1, Math.round(exp * (0.5 + this.random() / 2)));
  }

  /** Drops the bookkeeping of a key with nothing queued, running, scheduled or failing. */
  private forgetIfDone(id: string): void {
    if (
      this.queued.has(id) ||
      this.inFlight.has(id) ||
      this.timers.dueAt(id) !== undefined ||
      this.failures.has(id)
    )
      return;
    this.items.delete(id);
  }

  // ---- the timer queue -----------------------------------------------------------------------

  private schedule(id: string, at: number): void {
    this.timers.set(id, at);
    this.arm();
  }

  private unschedule(id: string): void {
    if (this.timers.delete(id)) this.arm();
  }

  /** Keeps exactly one real timer armed: at the earliest scheduled instant. */
  private arm(): void {
    const next = this.timers.peek();
    if (this.armed !== undefined && next !== undefined && this.armed.at === next.at) return;
    this.armed?.cancel();
    this.armed = undefined;
    if (next === undefined || !this.running) return;
    const epoch = this.epoch;
    const cancel = this.setTimer(new Date(next.at), () => {
      if (this.armed?.cancel !== cancel || !this.live(epoch)) return;
      this.armed = undefined;
      for (const id of this.timers.popDue(this.now().getTime())) this.push(id);
      this.arm();
    });
    this.armed = { at: next.at, cancel };
  }

  // ---- idleness ------------------------------------------------------------------------------

  private quiet(): boolean {
    return (
      this.syncing === 0 &&
      this.inFlight.size === 0 &&
      this.queueHead >= this.queue.length &&
      this.dirty.size === 0
    );
  }

  private checkIdle(): void {
    if (this.quiet()) this.wakeIdle();
  }

  private wakeIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}

function keyOf(type: ResourceType, obj: Resource): ResourceKey {
  return {
    apiVersion: type.apiVersion,
    kind: type.kind,
    ...(obj.metadata.namespace !== undefined &&
      obj.metadata.namespace !== '' && { namespace: obj.metadata.namespace }),
    name: obj.metadata.name,
  };
}

function positive(value: number, name: string): number {
  if (!Number.isFinite(value) || value <= 0) {
    throw new MeshcaError(
      'INVALID_INPUT',
      `controller manager option ${name} must be a positive number, got ${String(value)}`,
    );
  }
  return value;
}
