import type { ResourceType } from '../api/resource.js';
import { isMeshcaError } from '../errors/index.js';
import type { Store, Watch } from './store.js';

/** A running set of watches; close() ends them. */
export interface TypeWatcher {
  /** Resolves once every watch has its starting point: read state after this, and no change is missed. */
  readonly ready: Promise<void>;
  close(): void;
}

/** Options of watchTypes. */
export interface WatchTypesOptions {
  /** Reported failures other than GONE (the watch is retried after `retryDelayMs`). */
  onError?: (err: unknown) => void;
  retryDelayMs?: number;
  /**
   * Runs `fn` after `delayMs` and returns a function that cancels it (default: Node's setTimeout,
   * unref'd). Lets a caller drive the retry with its own clock.
   */
  schedule?: (delayMs: number, fn: () => void) => () => void;
}

const nodeSchedule = (delayMs: number, fn: () => void): (() => void) => {
  const t = setTimeout(fn, delayMs);
  t.unref();
  return () => clearTimeout(t);
};

/**
 * Calls `onChange(type)` after every change to resources of the given types, from now on, until
 * closed. A watch that fails — it fell behind compaction (GONE), or the store was unavailable —
 * lists again and resumes from there; `onChange(type)` is then called once the new list has
 * succeeded (and before the new watch delivers anything), since changes made while the watch was
 * down are not replayed: the consumer must read the state again (resync).
 */
export function watchTypes(
  store: Store,
  types: readonly ResourceType[],
  onChange: (type: ResourceType) => void,
  options: WatchTypesOptions = {},
): TypeWatcher {
  let closed = false;
  const open = new Set<Watch>();
  const cancels = new Set<() => void>();
  const retryDelayMs = options.retryDelayMs ?? 1000;
  const schedule = options.schedule ?? nodeSchedule;

  const run = async (type: ResourceType, started: () => void): Promise<void> => {
    let from: string | undefined;
    // Set after a failure: the next successful list is a resync the consumer must hear about.
    let resync = false;
    while (!closed) {
      try {
        if (from === undefined) from = (await store.list(type, { limit: 1 })).resourceVersion;
        started();
        if (resync) {
          resync = false;
          onChange(type);
        }
        const watch = store.watch(type, { resourceVersion: from });
        open.add(watch);
        if (closed) watch.close();
        try {
          for await (const event of watch) {
            from = event.object.metadata.resourceVersion ?? from;
            onChange(type);
          }
        } finally {
          open.delete(watch);
        }
        if (closed) return;
      } catch (err) {
        if (closed) return;
        from = undefined;
        resync = true;
        if (isMeshcaError(err, 'GONE')) continue;
        started();
        options.onError?.(err);
        await new Promise<void>((resolve) => {
          const cancel = schedule(retryDelayMs, () => {
            cancels.delete(cancel);
            resolve();
          });
          cancels.add(cancel);
        });
      }
    }
  };

  const ready = Promise.all(
    types.map(
      (type) =>
        new Promise<void>((resolve) => {
          void run(type, resolve);
        }),
    ),
  ).then(() => undefined);
  return {
    ready,
    close(): void {
      closed = true;
      for (const w of open) w.close();
      for (const cancel of cancels) cancel();
      cancels.clear();
    },
  };
}
