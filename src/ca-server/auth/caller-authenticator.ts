import { MeshcaError } from '../../errors/index.js';
import type { Authenticator } from './authenticator.js';

/** Options of createCallerAuthenticator: the authenticators enabled. */
export interface CallerAuthenticatorOptions {
  /** Bearer-token authentication (required by Istio agents' first request). */
  readonly jwt?: Authenticator;
  /** Client-certificate authentication for renewals. */
  readonly clientCertificate?: Authenticator;
}

/**
 * Chooses the authenticator by the credential the call carries: a bearer token if there is an
 * authorization header, else a client certificate if that is enabled and one was presented.
 * A call with a token is judged by its token alone, so a bad token is never rescued by a cert.
 */
export function createCallerAuthenticator(options: CallerAuthenticatorOptions): Authenticator {
  if (options.jwt === undefined && options.clientCertificate === undefined) {
    throw new MeshcaError(
      'USAGE',
      'no authenticator configured: enable bearer tokens (a JWKS), client certificates, or both',
    );
  }
  return async (input) => {
    const hasToken = typeof input.headers.authorization === 'string' && input.headers.authorization !== '';
    if (hasToken && options.jwt !== undefined) return options.jwt(input);
    const peerCert = input.socket?.getPeerCertificate();
    if (
      options.clientCertificate !== undefined &&
      peerCert !== undefined &&
      peerCert !== null &&
      Object.keys(peerCert).length > 0
    ) {
      return options.clientCertificate(input);
    }
    if (options.jwt !== undefined) return options.jwt(input);
    throw new MeshcaError('UNAUTHENTICATED', 'the call carries no client certificate', {
      hint: 'present the workload certificate meshca issued',
    });
  };
}
