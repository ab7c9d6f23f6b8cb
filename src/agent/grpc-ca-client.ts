import { createRequire } from 'node:module';
import type * as grpcJs from '@grpc/grpc-js';
import type { Client, ServiceError } from '@grpc/grpc-js';
import { fromJSON, type MethodDefinition } from '@grpc/proto-loader';
import { MeshcaError } from '../errors/index.js';
import type { AgentCaClient, CertificateSigningCall } from './agent-ca-client.js';
import { ISTIO_CA_DESCRIPTOR } from './istio-ca-descriptor.js';
import { MAX_ANSWER_CHARS } from './validate-answer.js';

/** How to reach the CA. */
export interface GrpcCaClientOptions {
  /** HOST:PORT of the CA's gRPC endpoint. */
  readonly address: string;
  /** The name the CA's serving certificate must carry, when not the host of `address`. */
  readonly serverName?: string;
  /** Deadline of one call (default 10 s). */
  readonly timeoutMs?: number;
}

/** The wire shape of IstioCertificateRequest with proto-loader's keepCase. */
interface WireRequest {
  csr: string;
  validity_duration: string;
}

/** The wire shape of IstioCertificateResponse. */
interface WireResponse {
  cert_chain?: unknown;
}

type CreateCertificateMethod = MethodDefinition<WireRequest, WireResponse>;

const createCertificateMethod = (): CreateCertificateMethod => {
  // protobuf.js's INamespace type asks for a `comment` on every method and has no map fields; the
  // JSON itself is what protobuf.js's own toJSON() produces, so it is cast rather than padded.
  const descriptor = ISTIO_CA_DESCRIPTOR as unknown as Parameters<typeof fromJSON>[0];
  const definition = fromJSON(descriptor, { keepCase: true, longs: String, defaults: true, arrays: true });
  const service = definition['istio.v1.auth.IstioCertificateService'] as Record<
    string,
    CreateCertificateMethod
  >;
  return service.CreateCertificate as CreateCertificateMethod;
};

let grpcLib: typeof grpcJs | undefined;
/** @grpc/grpc-js, loaded when an agent first calls (≈ 13 MiB that `meshca serve` does not need). */
function grpc(): typeof grpcJs {
  return (grpcLib ??= createRequire(import.meta.url)('@grpc/grpc-js') as typeof grpcJs);
}

/**
 * The agent's CA client over gRPC with TLS (grpc-js): verifies the CA's serving certificate
 * against the roots of each call, reusing one connection while those roots stay the same and
 * opening a new one when they change (so a root rotation takes effect on the next call).
 */
export class GrpcCaClient implements AgentCaClient {
  private readonly options: GrpcCaClientOptions;
  private readonly method: CreateCertificateMethod = createCertificateMethod();
  private client: Client | undefined;
  private clientRoots: string | undefined;

  constructor(options: GrpcCaClientOptions) {
    this.options = options;
  }

  /** Sends one CSR; rejects with a MeshcaError naming the CA and gRPC's reason. */
  createCertificate(call: CertificateSigningCall, signal: AbortSignal): Promise<string[]> {
    const client = this.clientFor(call.trustedRootsPem);
    const metadata = new (grpc().Metadata)();
    metadata.set('authorization', `Bearer ${call.token}`);
    metadata.set('clusterid', call.clusterId);
    const request: WireRequest = {
      csr: call.csr,
      validity_duration: String(Math.floor(call.validityDurationSeconds)),
    };
    const deadline = new Date(Date.now() + (this.options.timeoutMs ?? 10_000));
    return new Promise<string[]>((resolve, reject) => {
      const pending = client.makeUnaryRequest(
        this.method.path,
        this.method.requestSerialize,
        this.method.responseDeserialize,
        request,
        metadata,
        { deadline },
        (err, response) => {
          signal.removeEventListener('abort', cancel);
          if (err !== null) {
            reject(this.toError(err));
            return;
          }
          const chain = response?.cert_chain;
          if (!Array.isArray(chain) || !chain.every((c): c is string => typeof c === 'string')) {
            reject(
              new MeshcaError(
                'CHAIN_INVALID',
                `the CA at ${this.options.address} answered without a cert_chain list of strings`,
              ),
            );
            return;
          }
          resolve(chain);
        },
      );
      const cancel = (): void => pending.cancel();
      signal.addEventListener('abort', cancel, { once: true });
    });
  }

  /** Closes the connection. */
  close(): void {
    this.client?.close();
    this.client = undefined;
    this.clientRoots = undefined;
  }

  private clientFor(rootsPem: string): Client {
    if (this.client !== undefined && this.clientRoots === rootsPem) return this.client;
    this.close();
    const channelOptions: Record<string, string | number> = {
      // The answer is bounded before it is parsed; a few KiB of framing on top of the PEM limit.
      'grpc.max_receive_message_length': MAX_ANSWER_CHARS + 64 * 1024,
    };
    if (this.options.serverName !== undefined) {
      channelOptions['grpc.ssl_target_name_override'] = this.options.serverName;
      channelOptions['grpc.default_authority'] = this.options.serverName;
    }
    const { Client, credentials } = grpc();
    this.client = new Client(
      this.options.address,
      credentials.createSsl(Buffer.from(rootsPem)),
      channelOptions,
    );
    this.clientRoots = rootsPem;
    return this.client;
  }

  private toError(err: ServiceError): MeshcaError {
    const where = `the CA at ${this.options.address}`;
    const details = err.details || err.message;
    switch (err.code) {
      case grpc().status.UNAVAILABLE:
      case grpc().status.DEADLINE_EXCEEDED:
      case grpc().status.CANCELLED:
        return new MeshcaError('UPSTREAM_UNAVAILABLE', `cannot reach ${where}: ${details}`, {
          cause: err,
          hint: 'check --ca-address, that the CA is running, and that --root-cert holds the root its serving certificate chains to (or set --ca-server-name)',
        });
      case grpc().status.UNAUTHENTICATED:
        return new MeshcaError('UNAUTHENTICATED', `${where} did not accept our token: ${details}`, {
          cause: err,
          retryable: true,
          hint: 'check that --token-file holds a current service-account token with audience istio-ca',
        });
      case grpc().status.PERMISSION_DENIED:
        return new MeshcaError(
          'PERMISSION_DENIED',
          `${where} refused to sign for this identity: ${details}`,
          {
            cause: err,
            retryable: true,
            hint: 'check that --namespace and --service-account match the token, and --trust-domain matches the CA',
          },
        );
      case grpc().status.RESOURCE_EXHAUSTED:
        return /larger than max|exceeds|too large/i.test(details)
          ? new MeshcaError(
              'INPUT_TOO_LARGE',
              `${where} sent an answer larger than ${MAX_ANSWER_CHARS} bytes: ${details}`,
              { cause: err },
            )
          : new MeshcaError('RATE_LIMITED', `${where} is rate limiting us: ${details}`, { cause: err });
      default:
        return new MeshcaError(
          'UPSTREAM_REJECTED',
          `${where} rejected the request (gRPC ${grpc().status[err.code] ?? err.code}): ${details}`,
          {
            cause: err,
            retryable: true,
            hint: "see the CA server's logs for why",
          },
        );
    }
  }
}
