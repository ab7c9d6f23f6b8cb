import type { AuditRecord } from '../../api/audit-record.js';
import { MeshcaError } from '../../errors/index.js';
import type { CaIssuer, CaKeyPair } from '../../issuers/index.js';
import { workloadSpiffeId } from '../../pki/index.js';
import type { SignRequest, Signer } from '../istio-certificate-service.js';
import { runSigningJob, type SignedLeaf, type SigningJob } from './signing-job.js';
import type { SigningWorkerPool } from './signing-worker-pool.js';
import { DEFAULT_KEY_POLICY, type KeyPolicy } from './workload-csr-policy.js';

/**
 * The signing CA as the server currently sees it: loaded, or why not. `keyPair` (the PEMs the CA
 * was loaded from) lets signing workers load the same CA; without it the main thread signs.
 */
export type SigningAuthority =
  | {
      readonly ready: true;
      readonly issuer: CaIssuer;
      readonly name: string;
      readonly keyPair?: CaKeyPair;
    }
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
  /**
   * Worker threads that parse, verify and sign (`--signing-workers`); without it the main thread
   * does. Its key policy must be the same as `keyPolicy`.
   */
  readonly pool?: SigningWorkerPool;
}

/**
 * The CSR hot path: parse, verify the signature, apply the workload policy, sign in process with
 * the resolved CA and answer [leaf, intermediates…, roots…]. No resource is written per CSR; an
 * audit record is handed to the batcher instead (DESIGN §2).
 */
export function createWorkloadSigner(options: WorkloadSignerOptions): Signer {
  const policy = options.keyPolicy ?? DEFAULT_KEY_POLICY;
  const pool = options.pool;
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
    // Read once: the request signs with this CA even if another is loaded meanwhile.
    const authority = options.authority();
    const job: SigningJob = {
      csrPem: request.csrPem,
      expected,
      lifetimeMs: Math.min(request.validitySeconds * 1000, options.maxLifetimeMs),
      now: request.now,
    };
    let leaf: SignedLeaf | undefined;
    // With no worker left (they kept stopping at start, and the pool gave up restarting them), the
    // main thread signs: slower, but a CA that can sign keeps signing.
    if (pool !== undefined && pool.size > 0 && (!authority.ready || authority.keyPair !== undefined)) {
      leaf = await pool.sign(job, authority.ready ? { keyPair: authority.keyPair! } : undefined);
    } else {
      leaf = runSigningJob(job, policy, authority.ready ? authority.issuer : undefined);
    }
    // The CSR passed every check; only then does a missing CA answer, as before workers.
    if (!authority.ready || leaf === undefined) {
      throw new MeshcaError(
        'ISSUER_NOT_READY',
        `no signing CA is ready: ${authority.ready ? 'it was not loaded' : authority.reason}`,
        {
          hint: 'create the hierarchy with `meshca init`, or apply the issuer this server is configured with',
        },
      );
    }
    options.audit?.({
      serialNumber: leaf.serialNumber,
      identity: expected,
      caller: request.caller,
      clusterId: request.clusterId,
      notBefore: leaf.notBefore,
      notAfter: leaf.notAfter,
      fingerprintSha256: leaf.fingerprintSha256,
      issuer: authority.name,
      issuedAt: new Date(request.now).toISOString(),
    });
    // The CA the request started with: the worker signed with the same key pair.
    const issuer = authority.issuer;
    return [leaf.leafPem, ...issuer.chain.map((c) => c.pem), ...issuer.ca.map((c) => c.pem)];
  };
}
