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
  /** Rounds run, the last one changing nothing. */
  readonly rounds: number;
  /** The earliest requeueAt any reconcile asked for in the last round, if any: when to move the clock to next. */
  readonly nextWakeUp: Date | undefined;
  /** Every requeueAt of the last round, by `controller kind namespace/name`. */
  readonly wakeUps: ReadonlyMap<string, Date>;
}

const text = (c: Controller, k: ResourceKey): string => `${c.name} ${k.kind} ${k.namespace ?? ''}/${k.name}`;

/**
 * Drives controllers to a fixed point in memory, with no runtime: each round reconciles every key
 * of every controller's kind, in order; it stops after a round in which the store did not change.
 * CONFLICT errors count as a change (the next round retries); anything else thrown fails the call.
 * Time does not move here: the test moves its clock and converges again.
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
  const revision = async (): Promise<string> =>
    (await store.list({ apiVersion: 'v1', kind: 'Secret' }, { limit: 1 })).resourceVersion;
  for (let round = 1; round <= maxRounds; round++) {
    const before = await revision();
    let conflicted = false;
    const wakeUps = new Map<string, Date>();
    for (const controller of controllers) {
      const { items } = await store.list<Resource>(controller.kind);
      for (const item of items) {
        const key: ResourceKey = {
          apiVersion: controller.kind.apiVersion,
          kind: controller.kind.kind,
          name: item.metadata.name,
          ...(item.metadata.namespace !== undefined && { namespace: item.metadata.namespace }),
        };
        try {
          const result = await controller.reconcile(key, ctx);
          if (result.requeueAt !== undefined) wakeUps.set(text(controller, key), result.requeueAt);
        } catch (err) {
          if (!isMeshcaError(err, 'CONFLICT')) throw err;
          conflicted = true;
        }
      }
    }
    if (!conflicted && (await revision()) === before) {
      const now = options.now().getTime();
      // A wake-up at or before now would have acted this round; only future ones matter to the caller.
      const future = [...wakeUps.values()].filter((d) => d.getTime() > now);
      const nextWakeUp =
        future.length === 0 ? undefined : new Date(Math.min(...future.map((d) => d.getTime())));
      return { rounds: round, nextWakeUp, wakeUps };
    }
  }
  throw new Error(`the controllers did not settle within ${maxRounds} rounds`);
}
