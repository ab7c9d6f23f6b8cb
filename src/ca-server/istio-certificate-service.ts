import { MeshcaError } from '../errors/index.js';
import type { CaServerEventName } from '../telemetry/ca-server-metrics.js';
import { IDENTITY_EXTRACTION_FAILED, type Authenticator, type CallerIdentity } from './auth/authenticator.js';
import type { UnaryCall, UnaryHandler } from './grpc/grpc-server.js';
import { decodeIstioCertificateRequest } from './proto/istio-certificate-request.js';
import { encodeIstioCertificateResponse } from './proto/istio-certificate-response.js';
import type { JsonObject } from './proto/struct-codec.js';
import type { TokenBucketLimiter } from './rate-limit/token-bucket-limiter.js';

/** The gRPC path of the one method of the Istio CA API. */
export const CREATE_CERTIFICATE_PATH = '/istio.v1.auth.IstioCertificateService/CreateCertificate';

/** What the injected signer is asked to do. */
export interface SignRequest {
  /** The CSR as sent, PEM; the signer parses it and applies the CSR policy. */
  readonly csrPem: string;
  /** Requested lifetime in seconds (the default when the caller asked for none). */
  readonly validitySeconds: number;
  /** The authenticated workload; the CSR's SPIFFE ID must name it. */
  readonly identity: {
    readonly namespace: string;
    readonly serviceAccount: string;
    readonly trustDomain?: string;
  };
  /** Who called, for the audit record: `<method>:<subject>@<address>`. */
  readonly caller: string;
  /** The cluster the call is for. */
  readonly clusterId: string;
  /** The request's metadata, if any. */
  readonly metadata: JsonObject | undefined;
  /** When the call was received, milliseconds since the epoch: the signer's notBefore. */
  readonly now: number;
}

/** Signs a CSR and returns the chain, leaf first and root last; throws a MeshcaError. */
export type Signer = (request: SignRequest) => Promise<string[]>;

/** Events counted under istiod's metric names (citadel_server_*): telemetry owns the list. */
export type CaServerEvent = CaServerEventName;

/** Options of createIstioCertificateService. */
export interface IstioCertificateServiceOptions {
  readonly authenticate: Authenticator;
  readonly sign: Signer;
  /** This CA's cluster ID: a `clusterid` header must be absent or equal to it. */
  readonly clusterId: string;
  /** Per-identity limiter; none means no limit. */
  readonly rateLimit?: TokenBucketLimiter;
  /** Milliseconds since the epoch; passed to the signer as the time of the request. */
  readonly clock: () => number;
  /** Lifetime used when the request asks for none (validity_duration 0). Default 24 h, as Istio. */
  readonly defaultValiditySeconds?: number;
  /** Counts events (wired to citadel_server_* metrics by the caller). */
  readonly onEvent?: (event: CaServerEvent) => void;
}

/** The service: its method table for createGrpcServer. */
export interface IstioCertificateService {
  /** `{ [CREATE_CERTIFICATE_PATH]: handler }`. */
  readonly methods: Readonly<Record<string, UnaryHandler>>;
  /** The CreateCertificate handler alone. */
  readonly createCertificate: UnaryHandler;
}

/**
 * The Istio CA API handler: checks the cluster, authenticates, rate-limits per identity,
 * decodes the request and asks the injected signer, in that order, so nothing is parsed for a
 * caller that has not proved who it is. A call whose signal is aborted (deadline passed, client
 * gone) stops after authentication and before signing, throwing the signal's reason.
 */
export function createIstioCertificateService(
  options: IstioCertificateServiceOptions,
): IstioCertificateService {
  const defaultValidity = options.defaultValiditySeconds ?? 24 * 3600;
  const emit = options.onEvent ?? (() => undefined);

  const createCertificate: UnaryHandler = async (call: UnaryCall) => {
    const now = options.clock();
    emit('csr');
    const clusterHeader = call.headers.clusterid;
    if (clusterHeader !== undefined && clusterHeader !== options.clusterId) {
      throw new MeshcaError(
        'PERMISSION_DENIED',
        `clusterid ${JSON.stringify(String(clusterHeader).slice(0, 100))} is not this CA's cluster ${JSON.stringify(options.clusterId)}`,
        { hint: 'point the agent at the CA of its own cluster, or fix its CLUSTER_ID' },
      );
    }

    let identity: CallerIdentity;
    try {
      identity = await options.authenticate({ headers: call.headers, socket: call.peer.socket });
    } catch (err) {
      if (err instanceof MeshcaError && err.details.includes(IDENTITY_EXTRACTION_FAILED))
        emit('id_extraction_error');
      else emit('authentication_failure');
      throw err;
    }
    // A call answered meanwhile (its deadline passed, or the client cancelled it) stops here,
    // before it takes a rate-limit token or signs: its stream's slot is held until it returns.
    call.signal.throwIfAborted();

    if (options.rateLimit !== undefined) {
      const key = `${identity.trustDomain ?? ''}/${identity.namespace}/${identity.serviceAccount}`;
      const taken = options.rateLimit.take(key);
      if (!taken.allowed) {
        emit('rate_limited');
        throw new MeshcaError(
          'RATE_LIMITED',
          `too many certificate requests for ${identity.namespace}/${identity.serviceAccount}`,
          {
            hint: `retry after ${Math.ceil(taken.retryAfterMs / 1000)} s`,
          },
        );
      }
    }

    let request;
    try {
      request = decodeIstioCertificateRequest(call.message);
      if (request.csr.trim() === '')
        throw new MeshcaError('CSR_INVALID', 'the request has an empty csr field: send a PEM CSR');
      if (request.validityDuration < 0) {
        throw new MeshcaError(
          'VALIDITY_INVALID',
          `validity_duration ${request.validityDuration} is negative: send seconds > 0, or 0 for the default`,
        );
      }
    } catch (err) {
      emit('csr_parsing_error');
      throw err;
    }

    let chain: string[];
    try {
      chain = await options.sign({
        csrPem: request.csr,
        validitySeconds: request.validityDuration === 0 ? defaultValidity : request.validityDuration,
        identity: {
          namespace: identity.namespace,
          serviceAccount: identity.serviceAccount,
          ...(identity.trustDomain === undefined ? {} : { trustDomain: identity.trustDomain }),
        },
        caller: `${identity.method}:${identity.subject}@${call.peer.address}`,
        clusterId: options.clusterId,
        metadata: request.metadata,
        now,
      });
      // The Istio agent rejects a one-element chain and takes the last element as its root.
      if (chain.length < 2) {
        throw new MeshcaError(
          'SIGNING_FAILED',
          `the signer returned ${chain.length} certificate(s): an Istio agent needs the leaf and the root at least`,
        );
      }
    } catch (err) {
      emit('csr_sign_error');
      throw err;
    }
    emit('success_cert_issuance');
    return encodeIstioCertificateResponse(chain);
  };

  return { methods: { [CREATE_CERTIFICATE_PATH]: createCertificate }, createCertificate };
}
