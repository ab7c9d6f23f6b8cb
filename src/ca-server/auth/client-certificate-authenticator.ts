import { MeshcaError } from '../../errors/index.js';
import type { Authenticator } from './authenticator.js';
import { IDENTITY_EXTRACTION_FAILED } from './authenticator.js';
import { validServiceAccountRef } from './service-account-identity.js';

/** Options of createClientCertificateAuthenticator. */
export interface ClientCertificateAuthenticatorOptions {
  /** Accepted trust domains; a SPIFFE ID of another domain is refused. */
  readonly trustDomains: readonly string[];
  /**
   * Parses a workload SPIFFE ID into its parts or throws (src/pki's parseWorkloadSpiffeId drops
   * in here); defaults to a strict parser of `spiffe://<td>/ns/<ns>/sa/<sa>`.
   */
  readonly parseWorkloadSpiffeId?: (uri: string) => {
    trustDomain: string;
    namespace: string;
    serviceAccount: string;
  };
}

const unauthenticated = (message: string, identity = false): MeshcaError =>
  new MeshcaError('UNAUTHENTICATED', message, {
    hint: 'present the workload certificate meshca issued, or send a bearer token',
    ...(identity ? { details: [IDENTITY_EXTRACTION_FAILED] } : {}),
  });

/** The default workload SPIFFE ID parser (SPIFFE-ID spec §2: lower-case trust domain, path segments). */
function parseWorkloadId(uri: string): { trustDomain: string; namespace: string; serviceAccount: string } {
  const m = /^spiffe:\/\/([a-z0-9._-]+)\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(uri);
  if (m === null)
    throw unauthenticated(
      `client certificate URI ${JSON.stringify(uri.slice(0, 200))} is not spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`,
      true,
    );
  return { trustDomain: m[1]!, namespace: m[2]!, serviceAccount: m[3]! };
}

/**
 * Authenticates a renewal by the client certificate on the TLS connection: the chain must have
 * been verified by TLS against the CA bundle (`socket.authorized`), and the leaf must carry
 * exactly one URI SAN, a workload SPIFFE ID in an accepted trust domain.
 */
export function createClientCertificateAuthenticator(
  options: ClientCertificateAuthenticatorOptions,
): Authenticator {
  const parse = options.parseWorkloadSpiffeId ?? parseWorkloadId;
  return ({ socket }) => {
    if (socket === undefined)
      return Promise.reject(unauthenticated('no TLS connection to read a client certificate from'));
    const cert = socket.getPeerCertificate();
    if (cert === null || Object.keys(cert).length === 0)
      return Promise.reject(unauthenticated('the client presented no certificate'));
    if (!socket.authorized) {
      const reason =
        socket.authorizationError instanceof Error
          ? socket.authorizationError.message
          : String(socket.authorizationError);
      return Promise.reject(unauthenticated(`client certificate chain is not trusted: ${reason}`));
    }
    // Node renders SANs as "URI:spiffe://…, DNS:…"; a comma inside a URI is escaped in quotes,
    // which no valid SPIFFE ID contains, so such an entry fails the parser below.
    const uris = (cert.subjectaltname ?? '')
      .split(', ')
      .filter((s) => s.startsWith('URI:'))
      .map((s) => s.slice(4));
    if (uris.length !== 1)
      return Promise.reject(
        unauthenticated(
          `client certificate carries ${uris.length} URI SANs: a workload certificate has exactly one SPIFFE ID`,
          true,
        ),
      );
    try {
      const id = parse(uris[0]!);
      if (!options.trustDomains.includes(id.trustDomain)) {
        throw unauthenticated(
          `client certificate trust domain ${JSON.stringify(id.trustDomain)} is not accepted (${options.trustDomains.join(', ')})`,
          true,
        );
      }
      const problem = validServiceAccountRef(id.namespace, id.serviceAccount);
      if (problem !== undefined) throw unauthenticated(`client certificate ${problem}`, true);
      return Promise.resolve({ ...id, method: 'client-certificate' as const, subject: uris[0]! });
    } catch (err) {
      return Promise.reject(
        err instanceof MeshcaError
          ? err
          : unauthenticated(`client certificate SPIFFE ID is invalid: ${(err as Error).message}`, true),
      );
    }
  };
}
