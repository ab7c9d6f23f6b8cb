/**
 * Runs `fn` once at the instant `at` of the injected clock; returns a function that cancels it.
 * The same shape as the controller's SetTimer (src/controller/runtime/set-timer.ts, which this
 * layer may not import), so one test clock drives both.
 */
export type SetTimer = (at: Date, fn: () => void) => () => void;

/** setTimeout takes at most 2^31−1 ms; a later instant is reached in steps. */
const MAX_DELAY_MS = 2 ** 31 - 1;

/**
 * A SetTimer on Node's timers for a clock `now` (normally the real one). Timers are unref'd so a
 * pending renewal or retry never keeps a stopping process alive; a far instant is reached in steps
 * and re-checked against `now` at each one.
 */
export function nodeSetTimer(now: () => Date): SetTimer {
  return (at, fn) => {
    let handle: NodeJS.Timeout | undefined;
    let cancelled = false;
    const arm = (): void => {
      const delay = at.getTime() - now().getTime();
      handle =
        delay <= 0
          ? setTimeout(() => {
              if (!cancelled) fn();
            }, 0)
          : setTimeout(
              () => {
                if (!cancelled) arm();
              },
              Math.min(delay, MAX_DELAY_MS),
            );
      handle.unref();
    };
    arm();
    return () => {
      cancelled = true;
      if (handle !== undefined) clearTimeout(handle);
    };
  };
}

/** The delay before retry number `attempt` (1-based): `initialMs` doubled each time, at most `maxMs`. */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number): number {
  return Math.min(maxMs, initialMs * 2 ** Math.min(Math.max(0, attempt - 1), 30));
}
