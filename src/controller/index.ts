/** The controllers: the certificate lifecycle, events, and the bootstrap of the CA hierarchy. */
export { createCertificateControllers } from './certificates/create-certificate-controllers.js';
export type { CertificateControllerOptions } from './certificates/lifecycle-options.js';
export { createIssuerControllers } from './issuers/create-issuer-controllers.js';
export {
  decideIssuerReadiness,
  type IssuerReadinessOptions,
} from './issuers/issuer-readiness-controller.js';
export {
  decideIssuance,
  backoffDelay,
  DEFAULT_BACKOFF_BASE_MS,
  MAX_BACKOFF_MS,
  type IssuanceDecision,
  type IssuanceInput,
} from './certificates/decide-issuance.js';
export { decideKey } from './certificates/key-manager-controller.js';
export { DEFAULT_REVISION_HISTORY_LIMIT } from './certificates/readiness-controller.js';
export { decideReadiness } from './certificates/readiness.js';
export { buildCertificateSecret, type CertificateSecretInput } from './certificates/certificate-secret.js';
export { issuedStatus } from './certificates/issuing-controller.js';
export { mapUsages } from './certificates/usages.js';
export { EventRecorder, pruneEvents, MAX_EVENTS_PER_OBJECT, type EventInput } from './events.js';
export { createEventTtlController, DEFAULT_EVENT_TTL_MS } from './event-ttl-controller.js';
