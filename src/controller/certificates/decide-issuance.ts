import type { Resource } from '../../api/resource.js';
import type { PkiParser } from '../../pki/index.js';
import {
  failedAttempts,
  isTrue,
  type CertificateObject,
  type RequestObject,
} from './certificate-resources.js';
import { formatTime, parseTime } from './resource-types.js';
import { inspectSecret, type SecretTroubleReason } from './secret-state.js';

/** cert-manager's base delay after a failed issuance: 1h. */
export const DEFAULT_BACKOFF_BASE_MS = 3_600_000;
/** The longest delay between failed issuances: 32h. */
export const MAX_BACKOFF_MS = 32 * 3_600_000;

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
 * The trigger's decision (cert-manager's trigger controller): wait while a failed issuance backs
 * off, issue when the Secret is missing, incomplete, mismatched or issued by another issuer, or
 * when the renewal time has come; else wait until it does.
 */
export function decideIssuance(input: IssuanceInput): IssuanceDecision {
  const { certificate, now } = input;
  if (isTrue(certificate.status?.conditions, 'Issuing')) return { busy: true };
  const failures = failedAttempts(certificate);
  const lastFailure = parseTime(certificate.status?.lastFailureTime);
  if (failures > 0 && lastFailure !== undefined && input.specChangedSinceFailure !== true) {
    const retryAt = new Date(lastFailure.getTime() + backoffDelay(failures, input.backoffBaseMs));
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
