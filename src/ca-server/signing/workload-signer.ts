import type { AuditRecord } from '../../api/audit-record.js';
import { MeshcaError } from '../../errors/index.js';
import type { CaIssuer } from '../../issuers/index.js';
import { parseCsr, verifyCsr, workloadSpiffeId, type KeyUsage } from '../../pki/index.js';
import type { SignRequest, Signer } from '../istio-certificate-service.js';
import { checkWorkloadCsr, DEFAULT_KEY_POLICY, type KeyPolicy } from './workload-csr-policy.js';

/** The signing CA as the server currently sees it: loaded, or why not. */
export type SigningAuthority =
  | { readonly ready: true; readonly issuer: CaIssuer; readonly name: string }
  | { readonly ready: false; readonly reason: string };

/** Options of the workload signer. */
export interface WorkloadSignerOptions {
  /** The current signing CA; read once per request so a swap never affects a request in flight. */
  readonly authority: () => SigningAuthority;
  /** The trust domain of every SPIFFE ID this CA signs. */
  readonly trustDomain: string;
  /** Longest lifetime handed out (`--max-certificate-duration`). */
  readonly maxLifetimeMs: number;
  readonly keyPolicy?: KeyPolicy;
  /** Receives one audit record per certificate issued (batched by the caller). */
  readonly audit?: (record: AuditRecord) => void;
}

const iso = (d: Date): string => d.toISOString();

/**
 * The CSR hot path: parse, verify the signature, apply the workload policy, sign in process with
 * the resolved CA and answer [leaf, intermediates…, roots…]. No resource is written per CSR; an
 * audit record is handed to the batcher instead (DESIGN §2).
 */
export function createWorkloadSigner(options: WorkloadSignerOptions): Signer {
  const policy = options.keyPolicy ?? DEFAULT_KEY_POLICY;
  return async (request: SignRequest): Promise<string[]> => {
    const trustDomain = request.identity.trustDomain ?? options.trustDomain;
    if (trustDomain !== options.trustDomain) {
      throw new MeshcaError(
        'PERMISSION_DENIED',
        `the caller is in trust domain ${trustDomain}; this CA signs for ${options.trustDomain}`,
      );
    }
    const expected = workloadSpiffeId(
      trustDomain,
      request.identity.namespace,
      request.identity.serviceAccount,
    );
    const csr = parseCsr(request.csrPem);
    verifyCsr(csr);
    checkWorkloadCsr(csr, expected, policy);

    const authority = options.authority();
    if (!authority.ready) {
      throw new MeshcaError('ISSUER_NOT_READY', `no signing CA is ready: ${authority.reason}`, {
        hint: 'create the hierarchy with `meshca init`, or apply the issuer this server is configured with',
      });
    }
    const lifetimeMs = Math.min(request.validitySeconds * 1000, options.maxLifetimeMs);
    const keyUsages: KeyUsage[] =
      csr.keySpec.algorithm === 'RSA' ? ['digitalSignature', 'keyEncipherment'] : ['digitalSignature'];
    const now = new Date(request.now);
    const result = authority.issuer.signSync({
      csr,
      durationMs: lifetimeMs,
      isCA: false,
      keyUsages,
      extKeyUsages: ['serverAuth', 'clientAuth'],
      now,
    });
    const leaf = result.certificate;
    options.audit?.({
      serialNumber: leaf.serialNumber,
      identity: expected,
      caller: request.caller,
      clusterId: request.clusterId,
      notBefore: iso(leaf.notBefore),
      notAfter: iso(leaf.notAfter),
      fingerprintSha256: leaf.fingerprintSha256,
      issuer: authority.name,
      issuedAt: iso(now),
    });
    return [leaf.pem, ...result.chain.map((c) => c.pem), ...result.ca.map((c) => c.pem)];
  };
}
