import type { Resource } from '../../api/resource.js';
import { toMeshcaError, type MeshcaError } from '../../errors/index.js';
import type { Watch, WatchEvent } from '../store.js';
import type { ChangeHub, PendingWait } from './change-hub.js';

/** Where a watch reads from: events after a revision, already filtered to what it asked for. */
export type EventReader = (after: number) => { events: WatchEvent[]; upTo: number };

/**
 * A watch over the events table. It reads lazily: only when the consumer asks for the next event
 * and its buffer is empty, so a slow consumer costs no memory, and a consumer that falls behind
 * compaction gets GONE instead of a silent gap.
 */
export class SqliteWatch<T extends Resource = Resource> implements Watch<T> {
  private buffer: WatchEvent[] = [];
  private closed = false;
  private failure: MeshcaError | undefined;
  private pending: PendingWait | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly read: EventReader,
    private readonly hub: ChangeHub,
    /** The revision after which events are delivered, or the error the watch fails with at once. */
    private cursor: number | MeshcaError,
    private readonly onClose: (watch: SqliteWatch<T>) => void,
  ) {}

  /** Ends the watch: a waiting or later next() reports done. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.buffer = [];
    this.pending?.cancel();
    this.onClose(this);
  }

  [Symbol.asyncIterator](): AsyncIterator<WatchEvent<T>> {
    return {
      next: () => this.next(),
      return: () => {
        this.close();
        return Promise.resolve({ done: true, value: undefined });
      },
    };
  }

  /** The next event; concurrent calls are served in order. */
  next(): Promise<IteratorResult<WatchEvent<T>>> {
    const result = this.queue.then(() => this.pull());
    this.queue = result.catch(() => undefined);
    return result;
  }

  private async pull(): Promise<IteratorResult<WatchEvent<T>>> {
    for (;;) {
      if (this.failure !== undefined) throw this.failure;
      if (this.closed) return { done: true, value: undefined };
      const ready = this.buffer.shift();
      if (ready !== undefined) return { done: false, value: ready as WatchEvent<T> };
      if (typeof this.cursor !== 'number') return this.fail(this.cursor);
      try {
        const { events, upTo } = this.read(this.cursor);
        this.cursor = upTo;
        this.buffer = events;
      } catch (err) {
        return this.fail(toMeshcaError(err));
      }
      if (this.buffer.length > 0) continue;
      // Registered in the same synchronous step as the read, so no change can slip between.
      this.pending = this.hub.wait();
      await this.pending.promise;
      this.pending = undefined;
    }
  }

  private fail(err: MeshcaError): never {
    this.failure = err;
    this.close();
    throw err;
  }
}
