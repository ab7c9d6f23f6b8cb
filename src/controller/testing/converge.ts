import type { Resource, ResourceKey } from '../../api/resource.js';
import { isMeshcaError } from '../../errors/index.js';
import type { Store } from '../../store/store.js';
import type { Controller, ReconcileContext } from '../runtime/controller.js';

/** Options of converge. */
export interface ConvergeOptions {
  readonly store: Store;
  readonly controllers: readonly Controller[];
  /** The injected clock: tests move it, converge reads it. */
  readonly now: () => Date;
  /** Gives up after this many rounds without a fixed point (default 50): a controller that never settles is a bug. */
  readonly maxRounds?: number;
  /** Log lines, `level message {fields}`; dropped when omitted. */
  readonly log?: (line: string) => void;
}

/** What converge saw. */
export interface ConvergeResult {
  /** Rounds run, the last one finding nothing to reconcile. */
  readonly rounds: number;
  /** The earliest pending requeueAt after now, if any: when to move the clock to next. */
  readonly nextWakeUp: Date | undefined;
  /** Every pending requeueAt (each key's latest), by `controller kind namespace/name`. */
  readonly wakeUps: ReadonlyMap<string, Date>;
}

const text = (c: Controller, k: ResourceKey): string => `${c.name} ${k.kind} ${k.namespace ?? ''}/${k.name}`;
const typeText = (t: { apiVersion: string; kind: string }): string => `${t.apiVersion}/${t.kind}`;
const keyOf = (t: { apiVersion: string; kind: string }, r: Resource): ResourceKey => ({
  apiVersion: t.apiVersion,
  kind: t.kind,
  name: r.metadata.name,
  ...(r.metadata.namespace !== undefined && { namespace: r.metadata.namespace }),
});
const objectText = (k: ResourceKey): string => `${k.namespace ?? ''}/${k.name}`;

/** What the runtime would remember between events: the objects it saw last, and its timers. */
interface RuntimeMemory {
  /** Per type: the objects as of the start of the last round, by namespace/name. */
  seen: Map<string, Map<string, Resource>> | undefined;
  /** Pending requeueAt per `controller kind namespace/name`, with the controller and key. */
  readonly timers: Map<string, { controller: Controller; key: ResourceKey; at: Date }>;
}

// One memory per controllers array: a test that keeps its controllers keeps its "runtime", as a
// running controller manager keeps its informers and timers; a new array is a fresh start.
const memories = new WeakMap<readonly Controller[], RuntimeMemory>();

/**
 * Drives controllers to a fixed point in memory, reconciling what the controller manager would:
 * on the first call for a controllers array every key of every controller's kind (the manager's
 * initial list); after that only the keys an event concerns — an object of the controller's own
 * kind that was created, changed or deleted since the previous round, the keys `mapToKeys` names
 * for a changed object of a watched kind — and keys whose `requeueAt` has come. It stops after a
 * round with nothing to reconcile. A key that is not watched for and asks for no requeue is not
 * reconciled again, however the clock moves: a controller that forgets its wake-up or a watch
 * fails its tests here as it would stall in production. CONFLICT errors make the key run again
 * the next round; anything else thrown fails the call. Time does not move here: the test moves
 * its clock and converges again.
 */
export async function converge(options: ConvergeOptions): Promise<ConvergeResult> {
  const { store, controllers } = options;
  const maxRounds = options.maxRounds ?? 50;
  const ctx: ReconcileContext = {
    store,
    now: options.now,
    log: (level, message, fields) =>
      options.log?.(`${level} ${message}${fields === undefined ? '' : ` ${JSON.stringify(fields)}`}`),
  };
  let memory = memories.get(controllers);
  if (memory === undefined) {
    memory = { seen: undefined, timers: new Map() };
    memories.set(controllers, memory);
  }
  const types = new Map<string, { apiVersion: string; kind: string }>();
  for (const c of controllers)
    for (const t of [c.kind, ...c.watches]) types.set(typeText(t), { apiVersion: t.apiVersion, kind: t.kind });

  const snapshot = async (): Promise<Map<string, Map<string, Resource>>> => {
    const out = new Map<string, Map<string, Resource>>();
    for (const [id, t] of types) {
      const { items } = await store.list<Resource>(t);
      out.set(id, new Map(items.map((r) => [objectText(keyOf(t, r)), r])));
    }
    return out;
  };

  let retry: { controller: Controller; key: ResourceKey }[] = [];
  for (let round = 1; round <= maxRounds; round++) {
    const current = await snapshot();
    const due = new Map<string, { controller: Controller; key: ResourceKey }>();
    const add = (controller: Controller, key: ResourceKey): void => void due.set(text(controller, key), { controller, key });
    const previous = memory.seen;
    for (const c of controllers) {
      const own = current.get(typeText(c.kind))!;
      if (previous === undefined) {
        for (const r of own.values()) add(c, keyOf(c.kind, r));
        continue;
      }
      // Events since the last round: created, changed or deleted objects of its kind and of the kinds it watches.
      for (const t of [c.kind, ...c.watches]) {
        const before = previous.get(typeText(t)) ?? new Map<string, Resource>();
        const after = current.get(typeText(t))!;
        const changed: Resource[] = [];
        for (const [k, r] of after) if (before.get(k)?.metadata.resourceVersion !== r.metadata.resourceVersion) changed.push(r);
        for (const [k, r] of before) if (!after.has(k)) changed.push(r);
        for (const r of changed) {
          if (typeText(t) === typeText(c.kind)) add(c, keyOf(t, r));
          if (c.watches.some((w) => typeText(w) === typeText(t))) for (const k of c.mapToKeys(r)) add(c, k);
        }
      }
    }
    const nowMs = options.now().getTime();
    for (const [id, timer] of memory.timers) if (timer.at.getTime() <= nowMs) due.set(id, timer);
    for (const r of retry) add(r.controller, r.key);
    memory.seen = current;
    retry = [];

    if (due.size === 0) {
      const wakeUps = new Map([...memory.timers].map(([id, t]) => [id, t.at]));
      const future = [...wakeUps.values()].filter((d) => d.getTime() > nowMs);
      const nextWakeUp = future.length === 0 ? undefined : new Date(Math.min(...future.map((d) => d.getTime())));
      return { rounds: round, nextWakeUp, wakeUps };
    }
    // The controllers in their order, as the old all-keys rounds did, so logs read the same way.
    for (const controller of controllers) {
      for (const [id, { controller: c, key }] of due) {
        if (c !== controller) continue;
        memory.timers.delete(id);
        try {
          const result = await controller.reconcile(key, ctx);
          if (result.requeueAt !== undefined) memory.timers.set(id, { controller, key, at: result.requeueAt });
        } catch (err) {
          if (!isMeshcaError(err, 'CONFLICT')) throw err;
          retry.push({ controller, key });
        }
      }
    }
  }
  throw new Error(`the controllers did not settle within ${maxRounds} rounds`);
}
