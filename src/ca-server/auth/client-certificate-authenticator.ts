import { MeshcaError } from '../../errors/index.js';
import { parseCertificate, parseWorkloadSpiffeId } from '../../pki/index.js';
import type { Authenticator } from './authenticator.js';
import { IDENTITY_EXTRACTION_FAILED } from './authenticator.js';
import { validServiceAccountRef } from './service-account-identity.js';

/** Options of createClientCertificateAuthenticator. */
export interface ClientCertificateAuthenticatorOptions {
  /** Accepted trust domains; a SPIFFE ID of another domain is refused. */
  readonly trustDomains: readonly string[];
  /** Parses a workload SPIFFE ID into its parts or throws; default src/pki's parseWorkloadSpiffeId. */
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

/**
 * Authenticates a renewal by the client certificate on the TLS connection: the chain must have
 * been verified by TLS against the CA bundle (`socket.authorized`), and the leaf must carry
 * exactly one URI SAN, a workload SPIFFE ID in an accepted trust domain.
 */
export function createClientCertificateAuthenticator(
  options: ClientCertificateAuthenticatorOptions,
): Authenticator {
  const parse = options.parseWorkloadSpiffeId ?? parseWorkloadSpiffeId;
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
    // The SANs are read from the DER by src/pki, not from Node's rendered subjectaltname text,
    // whose quoting of unusual characters is ambiguous.
    let uris: readonly string[];
    try {
      uris = parseCertificate(cert.raw).sans.uris;
    } catch (err) {
      return Promise.reject(
        unauthenticated(`client certificate cannot be parsed: ${(err as Error).message}`),
      );
    }
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
