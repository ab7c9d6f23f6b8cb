import type { ResourceKey, ResourceType } from '../../api/resource.js';

/** The API version of cert-manager's kinds. */
export const CERT_MANAGER_API = 'cert-manager.io/v1';

/** cert-manager.io/v1 Certificate. */
export const CERTIFICATE: ResourceType = { apiVersion: CERT_MANAGER_API, kind: 'Certificate' };
/** cert-manager.io/v1 CertificateRequest. */
export const CERTIFICATE_REQUEST: ResourceType = { apiVersion: CERT_MANAGER_API, kind: 'CertificateRequest' };
/** cert-manager.io/v1 Issuer. */
export const ISSUER: ResourceType = { apiVersion: CERT_MANAGER_API, kind: 'Issuer' };
/** cert-manager.io/v1 ClusterIssuer. */
export const CLUSTER_ISSUER: ResourceType = { apiVersion: CERT_MANAGER_API, kind: 'ClusterIssuer' };
/** core/v1 Secret. */
export const SECRET: ResourceType = { apiVersion: 'v1', kind: 'Secret' };

/** Annotations and labels cert-manager (and meshca) put on what the lifecycle writes. */
export const ANNOTATIONS = {
  certificateName: 'cert-manager.io/certificate-name',
  issuerName: 'cert-manager.io/issuer-name',
  issuerKind: 'cert-manager.io/issuer-kind',
  issuerGroup: 'cert-manager.io/issuer-group',
  commonName: 'cert-manager.io/common-name',
  altNames: 'cert-manager.io/alt-names',
  ipSans: 'cert-manager.io/ip-sans',
  uriSans: 'cert-manager.io/uri-sans',
  emailSans: 'cert-manager.io/email-sans',
  certificateRevision: 'cert-manager.io/certificate-revision',
  privateKeySecretName: 'cert-manager.io/private-key-secret-name',
  nextPrivateKey: 'cert-manager.io/next-private-key',
  /** Asks the issuing controller for the istiod plug-in layout (ca-cert.pem …). */
  istiodCacerts: 'meshca.io/istiod-cacerts',
  /** Which issuance attempt (failedIssuanceAttempts at its creation) a CertificateRequest serves. */
  issuanceAttempt: 'meshca.io/issuance-attempt',
  /** Name constraints for a CA certificate, as JSON: the CSR builder cannot carry them. */
  nameConstraints: 'meshca.io/name-constraints',
} as const;

/** The key of a namespaced resource of `type`. */
export function keyOf(type: ResourceType, namespace: string | undefined, name: string): ResourceKey {
  return namespace === undefined || namespace === '' ? { ...type, name } : { ...type, namespace, name };
}

/** metav1.Time: RFC 3339 with second precision, as the API server writes it. */
export function formatTime(at: Date | number): string {
  return new Date(Math.floor(new Date(at).getTime() / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/** Parses a status time; undefined when absent or unreadable. */
export function parseTime(text: unknown): Date | undefined {
  if (typeof text !== 'string') return undefined;
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? new Date(ms) : undefined;
}
