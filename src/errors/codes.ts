/**
 * The error catalog: every stable code meshca can report, whether a retry may succeed, and the
 * status each boundary maps it to. `docs/errors.md` documents every code (a test checks).
 */

/** How one boundary reports a code: gRPC status name, HTTP status, CLI exit code. */
export interface ErrorCodeSpec {
  /** true when the same operation may succeed later without a change of input. */
  readonly retryable: boolean;
  /** gRPC status code name (see grpc/status.h). */
  readonly grpc:
    | 'INVALID_ARGUMENT'
    | 'UNAUTHENTICATED'
    | 'PERMISSION_DENIED'
    | 'NOT_FOUND'
    | 'ALREADY_EXISTS'
    | 'ABORTED'
    | 'RESOURCE_EXHAUSTED'
    | 'FAILED_PRECONDITION'
    | 'UNAVAILABLE'
    | 'INTERNAL';
  /** HTTP status code. */
  readonly http: number;
  /** CLI exit code: 2 for usage errors, 1 otherwise. */
  readonly exit: 1 | 2;
}

const spec = (
  retryable: boolean,
  grpc: ErrorCodeSpec['grpc'],
  http: number,
  exit: 1 | 2 = 1,
): ErrorCodeSpec => ({ retryable, grpc, http, exit });

/** Every error code. Add a code here and a section in docs/errors.md together. */
export const ERROR_CODES = {
  // usage and input
  USAGE: spec(false, 'INVALID_ARGUMENT', 400, 2),
  INVALID_INPUT: spec(false, 'INVALID_ARGUMENT', 400),
  INVALID_RESOURCE: spec(false, 'INVALID_ARGUMENT', 422),
  INPUT_TOO_LARGE: spec(false, 'INVALID_ARGUMENT', 413),
  FILE_UNREADABLE: spec(false, 'INVALID_ARGUMENT', 400),

  // PKI
  PEM_INVALID: spec(false, 'INVALID_ARGUMENT', 400),
  DER_INVALID: spec(false, 'INVALID_ARGUMENT', 400),
  KEY_INVALID: spec(false, 'INVALID_ARGUMENT', 400),
  KEY_UNSUPPORTED: spec(false, 'INVALID_ARGUMENT', 400),
  KEY_MISMATCH: spec(false, 'INVALID_ARGUMENT', 400),
  CSR_INVALID: spec(false, 'INVALID_ARGUMENT', 400),
  CSR_SIGNATURE_INVALID: spec(false, 'INVALID_ARGUMENT', 400),
  CERT_INVALID: spec(false, 'INVALID_ARGUMENT', 400),
  CHAIN_INVALID: spec(false, 'FAILED_PRECONDITION', 422),
  SPIFFE_ID_INVALID: spec(false, 'INVALID_ARGUMENT', 400),
  VALIDITY_INVALID: spec(false, 'INVALID_ARGUMENT', 400),

  // store
  NOT_FOUND: spec(false, 'NOT_FOUND', 404),
  ALREADY_EXISTS: spec(false, 'ALREADY_EXISTS', 409),
  CONFLICT: spec(true, 'ABORTED', 409),
  GONE: spec(true, 'ABORTED', 410),
  STORE_UNAVAILABLE: spec(true, 'UNAVAILABLE', 503),
  STORE_CORRUPT: spec(false, 'INTERNAL', 500),
  SCHEMA_TOO_NEW: spec(false, 'FAILED_PRECONDITION', 500),

  // issuers and signing
  ISSUER_NOT_FOUND: spec(true, 'UNAVAILABLE', 503),
  ISSUER_NOT_READY: spec(true, 'UNAVAILABLE', 503),
  ISSUER_INVALID: spec(false, 'FAILED_PRECONDITION', 422),
  SIGNING_FAILED: spec(true, 'INTERNAL', 500),
  UPSTREAM_UNAVAILABLE: spec(true, 'UNAVAILABLE', 502),
  UPSTREAM_REJECTED: spec(false, 'FAILED_PRECONDITION', 502),

  // authentication and authorization
  UNAUTHENTICATED: spec(false, 'UNAUTHENTICATED', 401),
  PERMISSION_DENIED: spec(false, 'PERMISSION_DENIED', 403),
  RATE_LIMITED: spec(true, 'RESOURCE_EXHAUSTED', 429),

  // bootstrap
  ALREADY_INITIALIZED: spec(false, 'ALREADY_EXISTS', 409),

  // lifecycle
  PRECONDITION_FAILED: spec(false, 'FAILED_PRECONDITION', 412),

  // anything unexpected
  INTERNAL: spec(false, 'INTERNAL', 500),
} as const satisfies Record<string, ErrorCodeSpec>;

/** A stable error code from the catalog. */
export type ErrorCode = keyof typeof ERROR_CODES;
