// A timer on an injected clock, shared by the layers above the store (controllers, the CA server)
// that schedule renewals and retries; it lives here because both may import the store layer.
/** Runs `fn` once at the instant `at` of the injected clock; returns a function that cancels it. */
export type SetTimer = (at: Date, fn: () => void) => () => void;

/** setTimeout takes at most 2^31−1 ms; a later instant is reached in steps. */
const MAX_DELAY_MS = 2 ** 31 - 1;

/**
 * A SetTimer on Node's timers for a clock `now` (normally the real one). Timers are unref'd: a
 * pending renewal must not keep a stopping process alive. A far instant (a 30-year root) is
 * reached in steps of at most ~24 days and re-checked against `now` at each step.
 */
export function nodeSetTimer(now: () => Date): SetTimer {
  return (at, fn) => {
    let handle: NodeJS.Timeout | undefined;
    let cancelled = false;
    const arm = (): void => {
      const delay = at.getTime() - now().getTime();
      if (delay <= 0) {
        handle = setTimeout(() => {
          if (!cancelled) fn();
        }, 0);
      } else {
        handle = setTimeout(
          () => {
            if (!cancelled) arm();
          },
          Math.min(delay, MAX_DELAY_MS),
        );
      }
      handle.unref();
    };
    arm();
    return () => {
      cancelled = true;
      if (handle !== undefined) clearTimeout(handle);
    };
  };
}
