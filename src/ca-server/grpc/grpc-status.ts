import { ERROR_CODES, isMeshcaError } from '../../errors/index.js';

/** gRPC status codes (https://grpc.github.io/grpc/core/md_doc_statuscodes.html). */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

/** A gRPC status code number. */
export type GrpcStatusCode = (typeof GrpcStatus)[keyof typeof GrpcStatus];

/** The status and message a failed call answers with. */
export interface GrpcFailure {
  readonly status: GrpcStatusCode;
  readonly message: string;
  /** True when the error was not a MeshcaError: the message is generic and the cause is logged. */
  readonly unexpected: boolean;
}

/**
 * Maps anything a handler throws to a gRPC status through the error catalog. A MeshcaError keeps
 * its message (they are written for the caller); anything else becomes INTERNAL with a generic
 * message, so a stack or a secret in an unexpected error never reaches the wire.
 */
export function grpcFailureOf(err: unknown): GrpcFailure {
  if (isMeshcaError(err)) {
    const hint = err.hint === undefined ? '' : ` (${err.hint})`;
    return {
      status: GrpcStatus[ERROR_CODES[err.code].grpc],
      message: `${err.code}: ${err.message}${hint}`,
      unexpected: false,
    };
  }
  return {
    status: GrpcStatus.INTERNAL,
    message: 'internal error in the CA server: see its log',
    unexpected: true,
  };
}
