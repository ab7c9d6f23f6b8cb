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

/**
 * The saturating step: the lowest concurrency whose throughput is within RISE_FRACTION of the best
 * step's (the knee). Past the knee more connections only queue: the best step's lead over it is
 * inside the same margin that ends the ramp, so which of several flat steps is "best" is noise, and
 * latency measured there would depend on that draw (docs/benchmarks.md, "Saturation").
 */
export function saturatingStep<T extends { readonly concurrency: number; readonly perSecond: number }>(
  steps: readonly T[],
): T {
  if (steps.length === 0) throw new Error('no load step was run');
  const best = Math.max(...steps.map((s) => s.perSecond));
  const flat = steps.filter((s) => s.perSecond * (1 + RISE_FRACTION) >= best);
  return flat.reduce((a, b) => (b.concurrency < a.concurrency ? b : a));
}
