/** Time as the agent sees it: injected, so tests drive renewals without real sleeps. */
export interface Clock {
  /** The current instant. */
  now(): Date;
  /** Resolves after `ms`, or as soon as `signal` aborts (it resolves then too: the caller checks the signal). */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

// setTimeout holds at most 2^31−1 ms (about 24.8 days); longer waits are done in steps.
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The real clock: Date and setTimeout. */
export const systemClock: Clock = {
  now: () => new Date(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal.aborted) {
        resolve();
        return;
      }
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.min(Math.max(0, ms), MAX_TIMER_MS));
      signal.addEventListener('abort', done, { once: true });
    }),
};
