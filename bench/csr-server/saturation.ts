/** When to stop raising concurrency: throughput has stopped rising. */

/** A step must beat the best so far by this fraction to count as still rising. */
export const RISE_FRACTION = 0.05;

/**
 * Given the throughputs of the steps so far (concurrency rising), decides whether to try the
 * next level: stop once two steps in a row failed to beat the best earlier step by RISE_FRACTION
 * (two, so one noisy step on a shared machine does not end the search early).
 */
export function nextSaturationStep(perSecond: readonly number[]): 'continue' | 'stop' {
  let best = 0;
  let flat = 0;
  for (const rate of perSecond) {
    if (rate > best * (1 + RISE_FRACTION)) flat = 0;
    else flat++;
    best = Math.max(best, rate);
  }
  return flat >= 2 ? 'stop' : 'continue';
}
