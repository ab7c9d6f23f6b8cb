import { templateFromCsr, type CertificateTemplate } from '../pki/index.js';
import type { SignRequest } from './issuer.js';

/** The certificate template a SignRequest asks for: its CSR, with the request's lifetime and policy overriding it. */
export function templateFromSignRequest(request: SignRequest): CertificateTemplate {
  return templateFromCsr(request.csr, {
    lifetimeMs: request.durationMs,
    ...(request.isCA !== undefined && { isCA: request.isCA }),
    ...(request.pathLen !== undefined && { pathLen: request.pathLen }),
    ...(request.keyUsages !== undefined && { keyUsages: request.keyUsages }),
    ...(request.extKeyUsages !== undefined && { extKeyUsages: request.extKeyUsages }),
    ...(request.nameConstraints !== undefined && { nameConstraints: request.nameConstraints }),
  });
}
