import { MeshcaError } from '../../errors/index.js';

/** An RFC 8555 §6.7 problem document (RFC 7807), as read from an ACME server. */
export interface ProblemDocument {
  readonly type: string;
  readonly detail: string;
  readonly status?: number;
}

/** The longest problem detail kept: a hostile server must not fill resources with its text. */
export const MAX_PROBLEM_DETAIL = 512;

/** A MeshcaError from an ACME server's answer: its problem document and when to try again. */
export class AcmeProblemError extends MeshcaError {
  /** The server's problem document (or one describing a transport failure). */
  readonly problem: ProblemDocument;
  /** The instant the server asked us to wait until (Retry-After), when it gave one. */
  readonly retryAfter: Date | undefined;

  constructor(error: MeshcaError, problem: ProblemDocument, retryAfter: Date | undefined) {
    super(error.code, error.message, {
      retryable: error.retryable,
      ...(error.hint !== undefined && { hint: error.hint }),
      details: error.details,
    });
    this.name = 'AcmeProblemError';
    this.problem = problem;
    this.retryAfter = retryAfter;
  }
}

/** The longest Retry-After honoured: a server cannot park an order for more than a day. */
export const MAX_RETRY_AFTER_MS = 86_400_000;

/**
 * Reads a Retry-After header (RFC 9110 §10.2.3: delay-seconds or an HTTP-date), capped at one
 * day from `now`; undefined when absent or unreadable.
 */
export function parseRetryAfter(value: unknown, now: Date): Date | undefined {
  const text = Array.isArray(value) ? (value[0] as unknown) : value;
  if (typeof text !== 'string' || text.length > 64) return undefined;
  const trimmed = text.trim();
  let at: number;
  if (/^\d+$/.test(trimmed)) at = now.getTime() + Number(trimmed) * 1000;
  else {
    at = Date.parse(trimmed);
    if (!Number.isFinite(at)) return undefined;
  }
  return new Date(Math.min(Math.max(at, now.getTime()), now.getTime() + MAX_RETRY_AFTER_MS));
}

const clean = (text: string): string => {
  // Control characters would break one-line condition messages and logs.
  let flat = '';
  for (const ch of text) flat += ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f ? ' ' : ch;
  flat = flat.replace(/ {2,}/g, ' ').trim();
  return flat.length > MAX_PROBLEM_DETAIL ? `${flat.slice(0, MAX_PROBLEM_DETAIL)}…` : flat;
};

/** Reads a problem document from an untrusted body; fields that are not strings are dropped. */
export function readProblem(body: unknown, httpStatus: number | undefined): ProblemDocument {
  const o =
    typeof body === 'object' && body !== null && !Array.isArray(body)
      ? (body as Record<string, unknown>)
      : {};
  const type = typeof o['type'] === 'string' ? clean(o['type']) : 'about:blank';
  const detail =
    typeof o['detail'] === 'string' && o['detail'].trim() !== ''
      ? clean(o['detail'])
      : httpStatus === undefined
        ? 'no problem document'
        : `HTTP ${httpStatus} without a problem document`;
  const status = typeof o['status'] === 'number' && Number.isInteger(o['status']) ? o['status'] : httpStatus;
  return { type, detail, ...(status !== undefined && { status }) };
}

const ACME_ERROR = 'urn:ietf:params:acme:error:';

/**
 * Maps an ACME server's failed answer to an error: rate limits (RFC 8555 §6.6) and server-side
 * failures are retryable and keep Retry-After; anything else is a final refusal.
 */
export function problemError(
  what: string,
  httpStatus: number | undefined,
  body: unknown,
  retryAfterHeader: unknown,
  now: Date | undefined,
): AcmeProblemError {
  const problem = readProblem(body, httpStatus);
  // Without a clock (a readiness probe) there is nothing to schedule: the delay is dropped.
  const retryAfter = now === undefined ? undefined : parseRetryAfter(retryAfterHeader, now);
  const said = `${problem.detail} (${problem.type})`;
  let error: MeshcaError;
  if (problem.type === `${ACME_ERROR}rateLimited` || httpStatus === 429) {
    error = new MeshcaError('RATE_LIMITED', `the acme server rate-limits ${what}: ${said}`, {
      hint: 'meshca retries after the time the server asked for',
    });
  } else if (
    httpStatus === undefined ||
    httpStatus >= 500 ||
    problem.type === `${ACME_ERROR}serverInternal` ||
    problem.type === `${ACME_ERROR}badNonce`
  ) {
    error = new MeshcaError('UPSTREAM_UNAVAILABLE', `the acme server failed ${what}: ${said}`, {
      hint: 'meshca retries with backoff',
    });
  } else {
    error = new MeshcaError('UPSTREAM_REJECTED', `the acme server refused ${what}: ${said}`, {
      hint: 'fix what the problem document names, then renew the certificate',
    });
  }
  return new AcmeProblemError(error, problem, retryAfter);
}

/** An error for an answer that breaks RFC 8555 (a hostile or broken server): final. */
export function malformedAnswer(what: string, reason: string): AcmeProblemError {
  const error = new MeshcaError(
    'UPSTREAM_REJECTED',
    `the acme server's answer to ${what} is malformed: ${reason}`,
    {
      hint: 'check the issuer spec.acme.server points at an RFC 8555 server',
    },
  );
  return new AcmeProblemError(error, { type: 'meshca:malformed-answer', detail: reason }, undefined);
}
