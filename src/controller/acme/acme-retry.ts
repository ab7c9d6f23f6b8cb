import { toMeshcaError, type MeshcaError } from '../../errors/index.js';
import { AcmeProblemError } from '../../issuers/acme/acme-problem.js';

/** The longest wait between two tries of a failed ACME call (without a Retry-After). */
export const MAX_ACME_RETRY_MS = 300_000;

/** What to do after a failed ACME step: retry at an instant (Retry-After or backoff), or give up. */
export interface AcmeRetry {
  readonly error: MeshcaError;
  /** Undefined when final. */
  readonly retryAt: Date | undefined;
  /** The problem document text for status (reason). */
  readonly reason: string;
}

/**
 * Decides the next try after attempt n (1-based) failed: the server's Retry-After when it sent
 * one (RFC 8555 §6.6), else base × 2^(n−1) up to 5 minutes; final errors are not retried.
 */
export function acmeRetry(err: unknown, attempt: number, now: Date, baseMs: number): AcmeRetry {
  const error = toMeshcaError(err);
  const reason = error instanceof AcmeProblemError ? `${error.message}` : error.message;
  if (!error.retryable) return { error, retryAt: undefined, reason };
  const backoff = Math.min(baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 20), MAX_ACME_RETRY_MS);
  const after = error instanceof AcmeProblemError ? error.retryAfter : undefined;
  const retryAt =
    after !== undefined && after.getTime() > now.getTime() ? after : new Date(now.getTime() + backoff);
  return { error, retryAt, reason };
}

/** The longest wait between two polls of an order or challenge whose state has not moved. */
export const MAX_ACME_POLL_MS = 60_000;

/**
 * When to poll again something that waits on the server (a pending authorization, an order being
 * processed): poll n (1-based) in the same state waits pollMs × 2^(n−1), up to a minute, so an
 * order the server never moves on (a challenge nobody answers, until the authorization expires
 * after days) is not asked about every two seconds. A new state starts again at pollMs.
 */
export class PollBackoff {
  private readonly polls = new Map<string, { state: string; n: number }>();

  constructor(private readonly pollMs: number) {}

  /** The wait before the next poll of `id`, now in `state`. */
  next(id: string, state: string): number {
    const last = this.polls.get(id);
    const n = last?.state === state ? last.n + 1 : 1;
    this.polls.set(id, { state, n });
    return Math.min(this.pollMs * 2 ** Math.min(n - 1, 20), Math.max(MAX_ACME_POLL_MS, this.pollMs));
  }

  /** Starts `id` again at pollMs (something moved) or forgets it. */
  reset(id: string): void {
    this.polls.delete(id);
  }
}
