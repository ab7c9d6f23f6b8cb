import { fileURLToPath } from 'node:url';
import { Server, ServerCredentials, status, type Metadata, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { loadSync, type ServiceDefinition } from '@grpc/proto-loader';
import { encodePrivateKey, generatePrivateKey, issueCertificate, parseCsr, templateFromCsr, verifyCsr } from '../../../src/pki/index.js';
import type { Issued } from '../../../src/pki/testing/pki-fixtures.js';
import { makeHierarchy, type TestHierarchy } from '../../../src/agent/testing/fake-ca.js';

/** What the tiny server saw of one call. */
export interface SeenCall {
  readonly authorization: string | undefined;
  readonly clusterId: string | undefined;
  readonly csr: string;
  readonly validityDuration: string;
}

/** How the tiny server answers; tests change it between calls. */
export interface TinyCaBehaviour {
  /** The hierarchy that signs workloads (and whose root is sent last). */
  signing: TestHierarchy;
  /** Rewrites the chain before sending it. */
  tamper?: (chain: string[]) => string[];
  /** Signs this URI SAN instead of the CSR's (a CA answering for another identity). */
  signAs?: string;
  /** Fails every call with this gRPC status. */
  fail?: { code: status; details: string };
}

/** Names the serving certificate carries. */
export interface ServingNames {
  readonly dnsNames: string[];
  readonly ipAddresses: string[];
}

type Request = { csr: string; validity_duration: string };
type Response = { cert_chain: string[] };

const definition = loadSync(fileURLToPath(new URL('../../../src/api/proto/ca.proto', import.meta.url)), {
  keepCase: true,
  longs: String,
  defaults: true,
});
const service = definition['istio.v1.auth.IstioCertificateService'] as ServiceDefinition;

/**
 * A small Istio CA server for the agent's integration tests, on grpc-js's own server over TLS:
 * signs CSRs with a pki test hierarchy, records what it receives, and can be told to fail or to
 * answer badly. The real meshca server is tested elsewhere; this is an independent peer.
 */
export class TinyCaServer {
  readonly calls: SeenCall[] = [];
  readonly behaviour: TinyCaBehaviour;
  private server: Server | undefined;
  port = 0;

  constructor(signing: TestHierarchy = makeHierarchy(new Date())) {
    this.behaviour = { signing };
  }

  /** Starts on 127.0.0.1 with a serving certificate from `servingCa` (default: the signing hierarchy's intermediate). */
  async start(servingCa: Issued = this.behaviour.signing.intermediate, names: ServingNames = { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] }, port = 0): Promise<void> {
    const key = generatePrivateKey();
    const serving = issueCertificate(
      { publicKey: key, sans: names, extKeyUsages: ['serverAuth'], lifetimeMs: 3_600_000 },
      { certificate: servingCa.certificate, key: servingCa.key },
      { now: new Date(Date.now() - 60_000) },
    );
    const chain = serving.pem + (servingCa.certificate.selfSigned ? '' : servingCa.certificate.pem);
    const server = new Server();
    server.addService(service, { CreateCertificate: (call: ServerUnaryCall<Request, Response>, cb: sendUnaryData<Response>) => this.handle(call, cb) });
    const credentials = ServerCredentials.createSsl(null, [{ private_key: Buffer.from(encodePrivateKey(key, 'PKCS8')), cert_chain: Buffer.from(chain) }], false);
    this.port = await new Promise<number>((resolve, reject) => server.bindAsync(`127.0.0.1:${port}`, credentials, (err, p) => (err === null ? resolve(p) : reject(err))));
    this.server = server;
  }

  /** Stops at once. */
  stop(): void {
    this.server?.forceShutdown();
    this.server = undefined;
  }

  /** HOST:PORT of the server. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  private handle(call: ServerUnaryCall<Request, Response>, cb: sendUnaryData<Response>): void {
    const header = (md: Metadata, name: string): string | undefined => md.get(name)[0]?.toString();
    this.calls.push({
      authorization: header(call.metadata, 'authorization'),
      clusterId: header(call.metadata, 'clusterid'),
      csr: call.request.csr,
      validityDuration: call.request.validity_duration,
    });
    const b = this.behaviour;
    if (b.fail !== undefined) {
      cb({ code: b.fail.code, details: b.fail.details });
      return;
    }
    try {
      const csr = parseCsr(call.request.csr);
      verifyCsr(csr);
      const { intermediate, root } = b.signing;
      const lifetimeMs = Math.min(Number(call.request.validity_duration) * 1000, 24 * 3_600_000);
      // Backdated an hour, so a test can make it due at once with a grace period ratio near 1.
      const leaf = issueCertificate(templateFromCsr(csr, { lifetimeMs, ...(b.signAs !== undefined && { sans: { uris: [b.signAs] } }) }), { certificate: intermediate.certificate, key: intermediate.key }, { now: new Date(Date.now() - 3_600_000) });
      const chain = [leaf.pem, intermediate.certificate.pem, root.certificate.pem];
      cb(null, { cert_chain: b.tamper === undefined ? chain : b.tamper(chain) });
    } catch (err) {
      cb({ code: status.INVALID_ARGUMENT, details: (err as Error).message });
    }
  }
}
