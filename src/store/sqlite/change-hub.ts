/** A wait that can be given up (a closed watch must not stay registered). */
export interface PendingWait {
  readonly promise: Promise<void>;
  cancel(): void;
}

/**
 * Wakes waiting watches when the store may have changed: at once for writes made through this
 * connection (notify), and by polling `probe` every `pollIntervalMs` for writes by other
 * connections or processes. The timer runs only while someone waits.
 */
export class ChangeHub {
  private readonly waiters = new Set<() => void>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly pollIntervalMs: number,
    /** true when another connection committed since the last call; undefined = nothing to poll. */
    private readonly probe: (() => boolean) | undefined,
  ) {}

  /** Resolves at the next change (or when the hub closes). */
  wait(): PendingWait {
    let resolve: () => void = () => undefined;
    const promise = new Promise<void>((r) => (resolve = r));
    if (this.closed) {
      resolve();
      return { promise, cancel: () => undefined };
    }
    this.waiters.add(resolve);
    this.startTimer();
    return {
      promise,
      cancel: () => {
        this.waiters.delete(resolve);
        resolve();
        if (this.waiters.size === 0) this.stopTimer();
      },
    };
  }

  /** Wakes every waiter. */
  notify(): void {
    const all = [...this.waiters];
    this.waiters.clear();
    this.stopTimer();
    for (const w of all) w();
  }

  /** Wakes everyone and stops polling for good. */
  close(): void {
    this.closed = true;
    this.notify();
  }

  private startTimer(): void {
    if (this.timer !== undefined || this.probe === undefined) return;
    const probe = this.probe;
    this.timer = setInterval(() => {
      let changed: boolean;
      try {
        changed = probe();
      } catch {
        // The watches read next and report the failure themselves.
        changed = true;
      }
      if (changed) this.notify();
    }, this.pollIntervalMs);
    // A watch alone must not keep the process alive; the server's listeners do that.
    this.timer.unref();
  }

  private stopTimer(): void {
    if (this.timer === undefined) return;
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
