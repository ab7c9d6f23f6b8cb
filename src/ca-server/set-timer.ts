// The injected-clock timer the controllers use too (src/store/set-timer.ts).
export { nodeSetTimer, type SetTimer } from '../store/set-timer.js';

/** The delay before retry number `attempt` (1-based): `initialMs` doubled each time, at most `maxMs`. */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number): number {
  return Math.min(maxMs, initialMs * 2 ** Math.min(Math.max(0, attempt - 1), 30));
}
