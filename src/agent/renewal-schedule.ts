import { MeshcaError } from '../errors/index.js';

/** Istio's default grace period ratio: renew at half of the certificate's lifetime. */
export const DEFAULT_GRACE_PERIOD_RATIO = 0.5;
/** Istio's SECRET_GRACE_PERIOD_RATIO_JITTER: the ratio moves by up to ±0.01 so a fleet does not renew in step. */
export const GRACE_PERIOD_RATIO_JITTER = 0.01;

/** The validity window of a certificate. */
export interface Validity {
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** A source of uniform numbers in [0, 1), like Math.random; injected so tests are exact. */
export type Random = () => number;

const unit = (random: Random): number => Math.min(Math.max(random(), 0), 1 - Number.EPSILON);

/**
 * The accepted grace period ratios, inside Istio's (0, 1) with room for the jitter on both sides:
 * the jittered ratio then stays within [0.01, 0.99], so renewal is always at least 1% of the
 * lifetime after notBefore and before notAfter (14 min of a 24h certificate), never at expiry.
 */
export const MIN_GRACE_PERIOD_RATIO = 0.02;
export const MAX_GRACE_PERIOD_RATIO = 0.98;
/** The bounds of the jittered ratio: only reached through float rounding when the ratio was accepted. */
const MIN_EFFECTIVE_RATIO = MIN_GRACE_PERIOD_RATIO - GRACE_PERIOD_RATIO_JITTER;
const MAX_EFFECTIVE_RATIO = MAX_GRACE_PERIOD_RATIO + GRACE_PERIOD_RATIO_JITTER;

/** Throws unless MIN_GRACE_PERIOD_RATIO ≤ ratio ≤ MAX_GRACE_PERIOD_RATIO. */
export function checkGracePeriodRatio(ratio: number): void {
  if (!(Number.isFinite(ratio) && ratio >= MIN_GRACE_PERIOD_RATIO && ratio <= MAX_GRACE_PERIOD_RATIO)) {
    throw new MeshcaError('INVALID_INPUT', `the grace period ratio must be from ${MIN_GRACE_PERIOD_RATIO} to ${MAX_GRACE_PERIOD_RATIO}, got ${ratio}`, {
      hint: `use 0.5 to renew at half the lifetime, as Istio does; the ±${GRACE_PERIOD_RATIO_JITTER} jitter needs room on both sides`,
    });
  }
}

/**
 * When to renew (DESIGN §3): `notAfter − r × lifetime` where r is `ratio` moved by up to
 * ±GRACE_PERIOD_RATIO_JITTER (random 0 → −0.01, random → 1 gives +0.01). With an accepted ratio
 * the result is within [0.01, 0.99] of the lifetime, so strictly before notAfter with a margin.
 */
export function nextRenewalAt(cert: Validity, ratio: number, random: Random): Date {
  checkGracePeriodRatio(ratio);
  const start = cert.notBefore.getTime();
  const end = cert.notAfter.getTime();
  if (!(Number.isFinite(start) && Number.isFinite(end) && end > start)) {
    throw new MeshcaError('VALIDITY_INVALID', 'the certificate has no valid lifetime: notAfter must be after notBefore');
  }
  const jitter = (2 * unit(random) - 1) * GRACE_PERIOD_RATIO_JITTER;
  const effective = Math.min(Math.max(ratio + jitter, MIN_EFFECTIVE_RATIO), MAX_EFFECTIVE_RATIO);
  return new Date(Math.round(end - effective * (end - start)));
}

/** An exponential backoff: the first retry after `initialMs`, doubling, never more than `maxMs`. */
export interface BackoffPolicy {
  readonly initialMs: number;
  readonly maxMs: number;
}

/** Retry policy while a valid certificate is still in place: the workload keeps serving, so no hurry. */
export const RENEWAL_BACKOFF: BackoffPolicy = { initialMs: 1_000, maxMs: 5 * 60_000 };
/** Retry policy while no valid certificate is in place: the workload cannot serve, so retry sooner. */
export const MISSING_BACKOFF: BackoffPolicy = { initialMs: 1_000, maxMs: 30_000 };

/**
 * The wait before retry number `attempt` (1 for the first retry): `min(initialMs × 2^(attempt−1), maxMs)`
 * with "equal jitter" (half fixed, half random) so that agents which failed together spread out
 * yet never retry in a burst.
 */
export function backoffDelay(attempt: number, random: Random, policy: BackoffPolicy): number {
  if (!Number.isInteger(attempt) || attempt < 1) {
    throw new MeshcaError('INVALID_INPUT', `the retry attempt must be a whole number from 1, got ${attempt}`);
  }
  if (!(policy.initialMs > 0 && policy.maxMs >= policy.initialMs)) {
    throw new MeshcaError('INVALID_INPUT', `a backoff needs 0 < initialMs ≤ maxMs, got ${policy.initialMs} and ${policy.maxMs}`);
  }
  // 2^(attempt−1) overflows to Infinity for huge attempts; min() still caps it.
  const ceiling = Math.min(policy.initialMs * 2 ** (attempt - 1), policy.maxMs);
  return Math.round(ceiling / 2 + (unit(random) * ceiling) / 2);
}
