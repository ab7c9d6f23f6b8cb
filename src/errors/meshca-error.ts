import { ERROR_CODES, type ErrorCode } from './codes.js';

/** Options for a MeshcaError beyond its code and message. */
export interface MeshcaErrorOptions {
  /** What the user can do about it, one line; printed by the CLI under the message. */
  readonly hint?: string;
  /** Overrides the catalog's retryable flag for this instance. */
  readonly retryable?: boolean;
  /** The underlying error. */
  readonly cause?: unknown;
  /** Where the error is, e.g. a field path, a file and line. */
  readonly details?: readonly string[];
}

/**
 * The one error type meshca throws on purpose. `code` is stable (see docs/errors.md); messages
 * start lowercase and say what was wrong; each boundary maps the code to its own status.
 */
export class MeshcaError extends Error {
  /** The stable code from the catalog. */
  readonly code: ErrorCode;
  /** Whether the same operation may succeed later. */
  readonly retryable: boolean;
  /** What to do about it. */
  readonly hint: string | undefined;
  /** Extra lines (every validation error, say). */
  readonly details: readonly string[];

  constructor(code: ErrorCode, message: string, options: MeshcaErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MeshcaError';
    this.code = code;
    this.retryable = options.retryable ?? ERROR_CODES[code].retryable;
    this.hint = options.hint;
    this.details = options.details ?? [];
  }
}

/** True when `err` is a MeshcaError, optionally with the given code. */
export function isMeshcaError(err: unknown, code?: ErrorCode): err is MeshcaError {
  return err instanceof MeshcaError && (code === undefined || err.code === code);
}

/** Wraps anything thrown into a MeshcaError, keeping a MeshcaError as it is. */
export function toMeshcaError(err: unknown, fallback: ErrorCode = 'INTERNAL'): MeshcaError {
  if (err instanceof MeshcaError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new MeshcaError(fallback, message.length > 0 ? message : 'unexpected error', { cause: err });
}
