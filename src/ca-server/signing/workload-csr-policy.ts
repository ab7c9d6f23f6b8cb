import { MeshcaError } from '../../errors/index.js';
import type { CertificationRequest, KeySpec } from '../../pki/index.js';

/** Which workload keys the CA accepts (configurable; the default follows Istio: ECDSA P-256/P-384, RSA ≥ 2048). */
export interface KeyPolicy {
  readonly ecdsaCurves: readonly number[];
  readonly minRsaBits: number;
  readonly allowEd25519: boolean;
}

/** The default key policy. */
export const DEFAULT_KEY_POLICY: KeyPolicy = {
  ecdsaCurves: [256, 384],
  minRsaBits: 2048,
  allowEd25519: false,
};

const ALLOWED_KEY_USAGES = new Set(['digitalSignature', 'keyEncipherment']);
const ALLOWED_EXT_KEY_USAGES = new Set(['serverAuth', 'clientAuth']);
// Extensions a workload CSR may ask for; anything else (basicConstraints with CA, name constraints,
// policies …) is refused rather than silently dropped, so a caller learns what it did wrong.
const ALLOWED_EXTENSION_OIDS = new Set([
  '2.5.29.17', // subjectAltName
  '2.5.29.15', // keyUsage
  '2.5.29.37', // extKeyUsage
  '2.5.29.19', // basicConstraints (only with cA false, checked below)
  '2.5.29.14', // subjectKeyIdentifier (the CA sets its own)
]);

function describeSpec(spec: KeySpec): string {
  return spec.size === undefined ? spec.algorithm : `${spec.algorithm} ${spec.size}`;
}

/**
 * Checks a workload CSR against DESIGN §3: exactly one identity, a URI SAN equal to the caller's
 * SPIFFE ID; no DNS, IP, e-mail or common name; usages within digitalSignature/keyEncipherment and
 * serverAuth/clientAuth; not a CA; a key the policy accepts. Throws CSR_INVALID, PERMISSION_DENIED
 * or KEY_UNSUPPORTED naming what was wrong.
 */
export function checkWorkloadCsr(
  csr: CertificationRequest,
  expectedSpiffeId: string,
  policy: KeyPolicy = DEFAULT_KEY_POLICY,
): void {
  const { sans } = csr;
  if (
    csr.subject.commonName !== undefined ||
    Object.values(csr.subject).some((v) => v !== undefined && (!Array.isArray(v) || v.length > 0))
  ) {
    throw new MeshcaError(
      'CSR_INVALID',
      'the CSR has a subject; a workload CSR must carry its identity only as a URI SAN',
      {
        hint: 'leave the subject (and common name) empty',
      },
    );
  }
  const forbidden: string[] = [];
  if (sans.dnsNames.length > 0) forbidden.push(`DNS names (${sans.dnsNames.slice(0, 3).join(', ')})`);
  if (sans.ipAddresses.length > 0)
    forbidden.push(`IP addresses (${sans.ipAddresses.slice(0, 3).join(', ')})`);
  if (sans.emailAddresses.length > 0)
    forbidden.push(`e-mail addresses (${sans.emailAddresses.slice(0, 3).join(', ')})`);
  if (csr.otherSanKinds.length > 0) forbidden.push(`${csr.otherSanKinds.join(', ')} names`);
  if (sans.otherNames !== undefined && sans.otherNames.length > 0) forbidden.push('otherName names');
  if (forbidden.length > 0) {
    throw new MeshcaError(
      'CSR_INVALID',
      `the CSR asks for ${forbidden.join(' and ')}; a workload certificate carries only its SPIFFE ID`,
    );
  }
  if (sans.uris.length !== 1) {
    throw new MeshcaError(
      'CSR_INVALID',
      sans.uris.length === 0
        ? `the CSR has no URI SAN; it must carry exactly one: ${expectedSpiffeId}`
        : `the CSR has ${sans.uris.length} URI SANs; it must carry exactly one: ${expectedSpiffeId}`,
    );
  }
  const asked = sans.uris[0] ?? '';
  if (asked !== expectedSpiffeId) {
    throw new MeshcaError(
      'PERMISSION_DENIED',
      `the CSR asks for ${JSON.stringify(asked.slice(0, 300))} but the caller is ${expectedSpiffeId}`,
      { hint: 'a workload may ask only for its own SPIFFE ID' },
    );
  }
  if (csr.isCA === true)
    throw new MeshcaError('CSR_INVALID', 'the CSR asks to be a CA; workload certificates never are');
  const badUsages = (csr.keyUsages ?? []).filter((u) => !ALLOWED_KEY_USAGES.has(u));
  if (badUsages.length > 0) {
    throw new MeshcaError(
      'CSR_INVALID',
      `the CSR asks for key usages ${badUsages.join(', ')}; allowed: digitalSignature, keyEncipherment`,
    );
  }
  const badExt = (csr.extKeyUsages ?? []).filter((u) => !ALLOWED_EXT_KEY_USAGES.has(u));
  if (badExt.length > 0) {
    throw new MeshcaError(
      'CSR_INVALID',
      `the CSR asks for extended key usages ${badExt.join(', ')}; allowed: serverAuth, clientAuth`,
    );
  }
  const badOids = csr.extensionOids.filter((oid) => !ALLOWED_EXTENSION_OIDS.has(oid));
  if (badOids.length > 0) {
    throw new MeshcaError(
      'CSR_INVALID',
      `the CSR asks for extensions a workload certificate may not have (${badOids.join(', ')})`,
    );
  }
  const spec = csr.keySpec;
  const keyOk =
    (spec.algorithm === 'ECDSA' && spec.size !== undefined && policy.ecdsaCurves.includes(spec.size)) ||
    (spec.algorithm === 'RSA' && spec.size !== undefined && spec.size >= policy.minRsaBits) ||
    (spec.algorithm === 'Ed25519' && policy.allowEd25519);
  if (!keyOk) {
    const allowed = [
      ...policy.ecdsaCurves.map((c) => `ECDSA P-${c}`),
      `RSA ≥ ${policy.minRsaBits}`,
      ...(policy.allowEd25519 ? ['Ed25519'] : []),
    ];
    throw new MeshcaError(
      'KEY_UNSUPPORTED',
      `the CSR's key is ${describeSpec(spec)}; this CA accepts ${allowed.join(', ')}`,
    );
  }
}
