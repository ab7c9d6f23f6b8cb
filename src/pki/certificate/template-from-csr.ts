import type { CertificationRequest } from '../csr/certification-request.js';
import type { CertificateTemplate } from './issue-certificate.js';

/**
 * A template carrying what the CSR asks for (key, subject, SANs, usages, CA flag); each defined
 * override wins. Policy (what a caller may ask for) is the caller's to check before signing.
 */
export function templateFromCsr(
  csr: CertificationRequest,
  overrides: Partial<CertificateTemplate> & { lifetimeMs: number },
): CertificateTemplate {
  const template: CertificateTemplate = {
    publicKey: csr.publicKeyInfo,
    subject: csr.subject,
    sans: csr.sans,
    isCA: csr.isCA ?? false,
    lifetimeMs: overrides.lifetimeMs,
  };
  if (csr.keyUsages !== undefined) template.keyUsages = [...csr.keyUsages];
  if (csr.extKeyUsages !== undefined) template.extKeyUsages = [...csr.extKeyUsages];
  for (const [k, v] of Object.entries(overrides)) {
    if (v !== undefined) (template as unknown as Record<string, unknown>)[k] = v;
  }
  return template;
}
