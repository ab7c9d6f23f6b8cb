/** meshca's resource types (cert-manager.io/v1, core/v1, meshca.io/v1alpha1), their validation, and YAML in and out. */
export type { ObjectMeta, OwnerReference, Resource, ResourceKey, ResourceType } from './resource.js';
export { parseGoDuration, formatGoDuration } from './go-duration.js';
export { suggestName } from './suggest.js';
export { formatPath, type ValidationIssue } from './validation-issue.js';
export * from './value-rules.js';
export { KEY_USAGES, type KeyUsage } from './key-usage.js';
export { type Condition, type IssuerRef } from './common-schemas.js';
export {
  certificateSchema,
  type Certificate,
  type CertificateSpec,
  type CertificateStatus,
} from './certificate.js';
export {
  certificateSpecIssues,
  DEFAULT_CERTIFICATE_DURATION_MS,
  MIN_CERTIFICATE_DURATION_MS,
  MIN_RENEW_BEFORE_MS,
} from './certificate-rules.js';
export { certificateRequestSchema, type CertificateRequest } from './certificate-request.js';
export {
  clusterIssuerSchema,
  issuerSchema,
  ISSUER_TYPES,
  type AcmeSolver,
  type ClusterIssuer,
  type Issuer,
  type IssuerSpec,
} from './issuer.js';
export { issuerSpecIssues } from './issuer-rules.js';
export { orderSchema, type Order } from './acme-order.js';
export { challengeSchema, type Challenge } from './acme-challenge.js';
export { secretSchema, TLS_SECRET_TYPE, type Secret } from './secret.js';
export { configMapSchema, type ConfigMap } from './config-map.js';
export { eventSchema, involvedObjectSchema, type Event } from './event.js';
export { meshcaConfigSchema, MESHCA_API_VERSION, type MeshcaConfig } from './meshca-config.js';
export { findKind, KINDS, resolveKind, type KindInfo } from './kinds.js';
export {
  parseResource,
  validateResource,
  type KnownResource,
  type ValidationResult,
} from './validate-resource.js';
export { MAX_ALIAS_COUNT, MAX_DEPTH, MAX_MANIFEST_BYTES, parseManifests } from './manifest.js';
export { toJson, toYaml } from './manifest-output.js';
export { secretData } from './secret-data.js';
export { tlsSecret, type TlsSecretInput } from './tls-secret.js';
export { getCondition, setCondition, type ConditionUpdate } from './conditions.js';
