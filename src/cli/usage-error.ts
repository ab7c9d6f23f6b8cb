import { MeshcaError } from '../errors/index.js';

/** Global flags every command sees. */
export interface GlobalOptions {
  home?: string;
  debug?: boolean;
}

/** A usage error raised by a command's own argument checks (exit code 2). */
export function usageError(message: string, hint?: string): MeshcaError {
  return new MeshcaError('USAGE', message, hint === undefined ? {} : { hint });
}
