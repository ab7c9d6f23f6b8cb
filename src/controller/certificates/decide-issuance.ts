import type { Resource } from '../../api/resource.js';
import type { PkiParser } from '../../pki/index.js';
import {
  failedAttempts,
  isTrue,
  type CertificateObject,
  type RequestObject,
} from './certificate-resources.js';
import { formatTime, parseTime } from './resource-types.js';
import { PLAIN_PARSER, inspectSecret, readKeyPair, type SecretTroubleReason } from './secret-state.js';

/** cert-manager's base delay after a failed issuance: 1h. */
export const DEFAULT_BACKOFF_BASE_MS = 3_600_000;
/** The longest delay between failed issuances: 32h. */
export const MAX_BACKOFF_MS = 32 * 3_600_000;

/** The last retry before expiry comes this fraction of the certificate's lifetime before notAfter … */
export const EXPIRY_RETRY_FRACTION = 0.05;
/** … at least 1 minute … */
export const MIN_EXPIRY_RETRY_MARGIN_MS = 60_000;
/** … and at most 30 minutes before it. */
export const MAX_EXPIRY_RETRY_MARGIN_MS = 30 * 60_000;

/** Why an issuance starts: a Secret trouble, a due renewal. (A manual renew is set by the CLI.) */
export type IssuanceReason = SecretTroubleReason | 'Renewing';

/** What the trigger should do now. */
export type IssuanceDecision =
  | { readonly issue: { readonly reason: IssuanceReason; readonly message: string } }
  /** Nothing to do until `wait` (a renewal time or the end of a backoff). */
  | { readonly wait: Date; readonly why: 'renewal' | 'backoff' }
  /** An issuance is already in progress (Issuing=True, set by the trigger or by a manual renew). */
  | { readonly busy: true };

/** Everything the trigger decision looks at. */
export interface IssuanceInput {
  readonly certificate: CertificateObject;
  /** The Secret named by spec.secretName, if it exists. */
  readonly secret: Resource | undefined;
  /** The CertificateRequest of the current revision, if kept. */
  readonly currentRequest?: RequestObject | undefined;
  /** True when the spec changed since the last failed issuance: the backoff does not apply. */
  readonly specChangedSinceFailure?: boolean;
  readonly now: Date;
  /** The base of the backoff; DEFAULT_BACKOFF_BASE_MS when omitted. */
  readonly backoffBaseMs?: number;
  /** Reads the Secret's key pair; the plain parsers when omitted (a cache gives the same answer, faster). */
  readonly parser?: PkiParser;
}

/** How long to wait after the n-th consecutive failure: base × 2^(n−1), at most 32h (DESIGN §4). */
export function backoffDelay(failures: number, baseMs: number = DEFAULT_BACKOFF_BASE_MS): number {
  if (failures <= 0) return 0;
  // Past 2^6 the cap always applies; stopping the exponent there avoids overflow to Infinity.
  return Math.min(baseMs * 2 ** Math.min(failures - 1, 62), MAX_BACKOFF_MS);
}

/**
 * When a backoff ends at the latest while the current certificate is still valid: its notAfter
 * less 5% of its lifetime, kept between 1 and 30 minutes (whole seconds, as status times are).
 * A failure after this instant was that last attempt; later ones back off as usual.
 */
export function lastRetryBeforeExpiry(notBefore: Date, notAfter: Date): Date {
  const lifetime = Math.max(0, notAfter.getTime() - notBefore.getTime());
  const margin = Math.min(
    MAX_EXPIRY_RETRY_MARGIN_MS,
    Math.max(MIN_EXPIRY_RETRY_MARGIN_MS, Math.ceil((lifetime * EXPIRY_RETRY_FRACTION) / 1000) * 1000),
  );
  return new Date(Math.floor(notAfter.getTime() / 1000) * 1000 - margin);
}

/**
 * The end of the backoff after `failures` failed issuances, the last at `lastFailure`:
 * cert-manager's base × 2^(n−1) ≤ 32h, but, when the Secret holds a readable key pair that has
 * not expired, no later than lastRetryBeforeExpiry (unless the last failure was already at or
 * past it), so a fixed cause is picked up before the certificate in use expires. meshca's
 * choice; cert-manager waits out the whole backoff, even past the expiry.
 */
export function backoffEnd(
  failures: number,
  lastFailure: Date,
  secret: Resource | undefined,
  now: Date,
  baseMs: number = DEFAULT_BACKOFF_BASE_MS,
  parser: PkiParser = PLAIN_PARSER,
): Date {
  const end = lastFailure.getTime() + backoffDelay(failures, baseMs);
  const pair = secret === undefined ? undefined : readKeyPair(secret, parser);
  if (pair === undefined || !('certificate' in pair)) return new Date(end);
  const { notBefore, notAfter } = pair.certificate;
  if (now.getTime() >= notAfter.getTime()) return new Date(end);
  const last = lastRetryBeforeExpiry(notBefore, notAfter).getTime();
  return new Date(last > lastFailure.getTime() && last < end ? last : end);
}

/**
 * The trigger's decision (cert-manager's trigger controller): wait while a failed issuance backs
 * off (backoffEnd), issue when the Secret is missing, incomplete, mismatched or issued by another
 * issuer, or when the renewal time has come; else wait until it does.
 */
export function decideIssuance(input: IssuanceInput): IssuanceDecision {
  const { certificate, now } = input;
  if (isTrue(certificate.status?.conditions, 'Issuing')) return { busy: true };
  const failures = failedAttempts(certificate);
  const lastFailure = parseTime(certificate.status?.lastFailureTime);
  if (failures > 0 && lastFailure !== undefined && input.specChangedSinceFailure !== true) {
    const retryAt = backoffEnd(failures, lastFailure, input.secret, now, input.backoffBaseMs, input.parser);
    if (now.getTime() < retryAt.getTime()) return { wait: retryAt, why: 'backoff' };
  }
  const state = inspectSecret(certificate, input.secret, input.currentRequest, input.parser);
  if (!state.ok) return { issue: state.trouble };
  if (now.getTime() >= state.renewalTime.getTime()) {
    return {
      issue: {
        reason: 'Renewing',
        message: `Renewing certificate as renewal was scheduled at ${formatTime(state.renewalTime)}`,
      },
    };
  }
  return { wait: state.renewalTime, why: 'renewal' };
}
