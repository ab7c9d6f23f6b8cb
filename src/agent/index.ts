/** The workload agent: key, CSR, request, validate, write files atomically, rotate, reload roots. */
export { type AgentCaClient, type CertificateSigningCall } from './agent-ca-client.js';
export { type AgentMetrics, createAgentMetrics } from './agent-metrics.js';
export { type Clock, systemClock } from './clock.js';
export { CREDENTIAL_FILES, DATA_LINK, CredentialFolder, type CredentialRead, type CredentialTexts } from './credential-folder.js';
export { GrpcCaClient, type GrpcCaClientOptions } from './grpc-ca-client.js';
export { type HostPort, hostNameProblem, parseHostPort } from './host-port.js';
export { type MetricsServer, startMetricsServer } from './metrics-server.js';
export { readRootCertFile, readTokenFile } from './read-inputs.js';
export {
  DEFAULT_GRACE_PERIOD_RATIO,
  GRACE_PERIOD_RATIO_JITTER,
  MAX_GRACE_PERIOD_RATIO,
  MIN_GRACE_PERIOD_RATIO,
  MISSING_BACKOFF,
  RENEWAL_BACKOFF,
  type BackoffPolicy,
  type Random,
  backoffDelay,
  nextRenewalAt,
} from './renewal-schedule.js';
export { checkOutFolder, tokenFileWarning } from './startup-checks.js';
export { type AnswerExpectation, type IssuedCredentials, MAX_CLOCK_SKEW_MS, validateAnswer } from './validate-answer.js';
export { type AgentConfig, type AgentDeps, type AgentLog, type EnsureResult, WorkloadAgent } from './workload-agent.js';
