import type { IncomingHttpHeaders } from 'node:http2';
import type { TLSSocket } from 'node:tls';

/** Who is calling, as an authenticator proved it. */
export interface CallerIdentity {
  /** Kubernetes namespace of the workload. */
  readonly namespace: string;
  /** Kubernetes service account of the workload. */
  readonly serviceAccount: string;
  /** Trust domain, when the credential names one (a SPIFFE ID does; a token does not). */
  readonly trustDomain?: string;
  /** How the caller proved it. */
  readonly method: 'jwt' | 'client-certificate';
  /** The credential's own name for the caller: a token's `sub` or a certificate's SPIFFE ID. */
  readonly subject: string;
}

/** What an authenticator may look at. */
export interface AuthenticationInput {
  /** Request headers (authorization, …). */
  readonly headers: IncomingHttpHeaders;
  /** The TLS socket, for client-certificate authentication. */
  readonly socket?: TLSSocket;
}

/**
 * Proves who is calling or throws a MeshcaError UNAUTHENTICATED whose message says what was
 * wrong. An error whose `details` include IDENTITY_EXTRACTION_FAILED means the credential was
 * valid but named no workload (istiod counts those apart).
 */
export type Authenticator = (input: AuthenticationInput) => Promise<CallerIdentity>;

/** The `details` marker of an authentication error raised while reading the identity. */
export const IDENTITY_EXTRACTION_FAILED = 'identity-extraction-failed';
