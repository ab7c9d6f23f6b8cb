import type { Clock } from '../clock.js';

/**
 * A clock whose sleeps advance time at once, so a test runs days of renewals in milliseconds.
 * `stopAt` ends a run: the sleep that would pass the instant aborts the controller instead.
 */
export class FakeClock implements Clock {
  private ms: number;
  /** Every sleep asked for, in ms, in order. */
  readonly sleeps: number[] = [];
  private stop: { at: number; controller: AbortController } | undefined;

  constructor(start: Date) {
    this.ms = start.getTime();
  }

  /** The current fake instant. */
  now(): Date {
    return new Date(this.ms);
  }

  /** Moves time forward. */
  advance(ms: number): void {
    this.ms += ms;
  }

  /** Aborts `controller` when a sleep would carry time past `at`. */
  stopAt(at: Date, controller: AbortController): void {
    this.stop = { at: at.getTime(), controller };
  }

  /** Advances time by `ms` (or to the stop instant, aborting) and yields once to other tasks. */
  async sleep(ms: number, signal: AbortSignal): Promise<void> {
    this.sleeps.push(ms);
    if (signal.aborted) return;
    if (this.stop !== undefined && this.ms + ms > this.stop.at) {
      this.ms = Math.max(this.ms, this.stop.at);
      this.stop.controller.abort();
      return;
    }
    this.ms += ms;
    await Promise.resolve();
  }
}
