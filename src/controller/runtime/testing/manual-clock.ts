import type { SetTimer } from '../set-timer.js';

/**
 * A clock and scheduler that move only when a test says so: `advance` fires every timer that
 * falls due, in time order, so a test runs hours of renewals without sleeping.
 */
export class ManualClock {
  private ms: number;
  private nextId = 0;
  private readonly pending = new Map<number, { at: number; fn: () => void }>();

  constructor(start: Date) {
    this.ms = start.getTime();
  }

  /** The current instant. */
  readonly now = (): Date => new Date(this.ms);

  /** Schedules on this clock; see SetTimer. */
  readonly setTimer: SetTimer = (at, fn) => {
    const id = this.nextId++;
    this.pending.set(id, { at: at.getTime(), fn });
    return () => {
      this.pending.delete(id);
    };
  };

  /** How many timers are armed (a controller manager keeps at most one for its queue). */
  get armedTimers(): number {
    return this.pending.size;
  }

  /** The earliest armed instant, if any. */
  nextTimerAt(): Date | undefined {
    let min: number | undefined;
    for (const t of this.pending.values()) if (min === undefined || t.at < min) min = t.at;
    return min === undefined ? undefined : new Date(min);
  }

  /** Moves time forward by `ms`, firing due timers in order at their own instants. */
  advance(ms: number): void {
    const end = this.ms + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.pending)
        if (e[1].at <= end && (next === undefined || e[1].at < next[1].at)) next = e;
      if (next === undefined) break;
      this.pending.delete(next[0]);
      this.ms = Math.max(this.ms, next[1].at);
      next[1].fn();
    }
    this.ms = end;
  }
}
