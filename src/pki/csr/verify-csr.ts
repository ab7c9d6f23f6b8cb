import { MeshcaError } from '../../errors/index.js';
import { verifySignature } from '../signature/signature-algorithm.js';
import type { CertificationRequest } from './certification-request.js';

/** Checks the CSR's self-signature with its own public key; throws CSR_SIGNATURE_INVALID with the reason. */
export function verifyCsr(csr: CertificationRequest): void {
  const reason = verifySignature(
    csr.signatureAlgorithmOid,
    csr.publicKeyInfo,
    csr.certificationRequestInfo,
    csr.signatureValue,
  );
  if (reason !== undefined) {
    throw new MeshcaError('CSR_SIGNATURE_INVALID', `the CSR's signature is not valid: ${reason}`, {
      hint: 'the CSR was altered or signed with another key; make a new one',
    });
  }
}
