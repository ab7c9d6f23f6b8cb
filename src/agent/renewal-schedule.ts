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

/** Throws unless 0 < ratio < 1. */
export function checkGracePeriodRatio(ratio: number): void {
  if (!(Number.isFinite(ratio) && ratio > 0 && ratio < 1)) {
    throw new MeshcaError('INVALID_INPUT', `the grace period ratio must be between 0 and 1 (exclusive), got ${ratio}`, {
      hint: 'use 0.5 to renew at half the lifetime, as Istio does',
    });
  }
}

/**
 * When to renew (DESIGN §3): `notAfter − r × lifetime` where r is `ratio` moved by up to
 * ±GRACE_PERIOD_RATIO_JITTER (random 0 → −0.01, random → 1 gives +0.01), kept inside (0, 1).
 */
export function nextRenewalAt(cert: Validity, ratio: number, random: Random): Date {
  checkGracePeriodRatio(ratio);
  const start = cert.notBefore.getTime();
  const end = cert.notAfter.getTime();
  if (!(Number.isFinite(start) && Number.isFinite(end) && end > start)) {
    throw new MeshcaError('VALIDITY_INVALID', 'the certificate has no valid lifetime: notAfter must be after notBefore');
  }
  const jitter = (2 * unit(random) - 1) * GRACE_PERIOD_RATIO_JITTER;
  const effective = Math.min(Math.max(ratio + jitter, 0), 1);
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
