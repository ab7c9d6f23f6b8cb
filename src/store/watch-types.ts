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
}

/**
 * Calls `onChange(type)` after every change to resources of the given types, from now on, until
 * closed. A watch that falls behind compaction (GONE) lists again and resumes; `onChange` is
 * called then too, since changes may have been missed.
 */
export function watchTypes(
  store: Store,
  types: readonly ResourceType[],
  onChange: (type: ResourceType) => void,
  options: WatchTypesOptions = {},
): TypeWatcher {
  let closed = false;
  const open = new Set<Watch>();
  const timers = new Set<NodeJS.Timeout>();
  const retryDelayMs = options.retryDelayMs ?? 1000;

  const run = async (type: ResourceType, started: () => void): Promise<void> => {
    let from: string | undefined;
    while (!closed) {
      try {
        if (from === undefined) from = (await store.list(type, { limit: 1 })).resourceVersion;
        started();
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
        if (isMeshcaError(err, 'GONE')) {
          onChange(type);
          continue;
        }
        started();
        options.onError?.(err);
        await new Promise<void>((resolve) => {
          const t = setTimeout(() => {
            timers.delete(t);
            resolve();
          }, retryDelayMs);
          t.unref();
          timers.add(t);
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
      for (const t of timers) clearTimeout(t);
      timers.clear();
    },
  };
}
