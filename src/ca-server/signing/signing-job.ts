import { MeshcaError } from '../../errors/index.js';
import type { ErrorCode } from '../../errors/index.js';
import type { CaIssuer } from '../../issuers/ca/ca-issuer.js';
import { parseCsr, verifyCsr, type KeyUsage } from '../../pki/index.js';
import { checkWorkloadCsr, type KeyPolicy } from './workload-csr-policy.js';

/** What one CSR needs to be signed, on whichever thread signs it. */
export interface SigningJob {
  readonly csrPem: string;
  /** The SPIFFE ID the CSR must carry. */
  readonly expected: string;
  readonly lifetimeMs: number;
  /** Milliseconds since the epoch. */
  readonly now: number;
}

/** A signed leaf as plain data, so it crosses a thread boundary. */
export interface SignedLeaf {
  /**
   * The leaf as PEM. The rest of the chain (intermediates, roots) is the signing CA's own and is
   * added by the caller from its copy of that CA, so it does not cross the thread boundary (and
   * is not copied) per certificate.
   */
  readonly leafPem: string;
  readonly serialNumber: string;
  readonly notBefore: string;
  readonly notAfter: string;
  readonly fingerprintSha256: string;
}

/** A MeshcaError as plain data (structured clone drops an Error's own fields). */
export interface SerializedError {
  readonly code: ErrorCode;
  readonly message: string;
  readonly hint?: string;
  readonly retryable: boolean;
  readonly details: readonly string[];
}

/**
 * The CPU-heavy part of the CSR hot path: parse, verify the signature, apply the workload policy
 * and sign. `issuer` undefined means no CA is ready: the CSR is still checked first so a bad CSR
 * gets its own error, as it always did, and `undefined` tells the caller to answer not-ready.
 */
export function runSigningJob(
  job: SigningJob,
  policy: KeyPolicy,
  issuer: CaIssuer | undefined,
): SignedLeaf | undefined {
  const csr = parseCsr(job.csrPem);
  verifyCsr(csr);
  checkWorkloadCsr(csr, job.expected, policy);
  if (issuer === undefined) return undefined;
  const keyUsages: KeyUsage[] =
    csr.keySpec.algorithm === 'RSA' ? ['digitalSignature', 'keyEncipherment'] : ['digitalSignature'];
  const result = issuer.signSync({
    csr,
    durationMs: job.lifetimeMs,
    isCA: false,
    keyUsages,
    extKeyUsages: ['serverAuth', 'clientAuth'],
    now: new Date(job.now),
  });
  const leaf = result.certificate;
  return {
    leafPem: leaf.pem,
    serialNumber: leaf.serialNumber,
    notBefore: leaf.notBefore.toISOString(),
    notAfter: leaf.notAfter.toISOString(),
    fingerprintSha256: leaf.fingerprintSha256,
  };
}

/** Flattens a MeshcaError for postMessage. */
export function serializeError(err: MeshcaError): SerializedError {
  return {
    code: err.code,
    message: err.message,
    ...(err.hint !== undefined && { hint: err.hint }),
    retryable: err.retryable,
    details: err.details,
  };
}

/** Rebuilds a MeshcaError from postMessage data, with the same code, message, hint and flag. */
export function deserializeError(data: SerializedError): MeshcaError {
  return new MeshcaError(data.code, data.message, {
    ...(data.hint !== undefined && { hint: data.hint }),
    retryable: data.retryable,
    details: data.details,
  });
}
