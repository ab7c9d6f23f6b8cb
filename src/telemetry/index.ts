/** Telemetry: metric names and registries, structured logs and their field names, in one place. */
export { METRIC_NAMES, type MetricName } from './metric-names.js';
export { createMetricsRegistry, type MetricsRegistryOptions } from './metrics-registry.js';
export {
  createCaServerMetrics,
  CSR_SIGN_DURATION_BUCKETS,
  type CaServerMetrics,
  type CaServerMetricsOptions,
  type CaServerEventName,
} from './ca-server-metrics.js';
export {
  createCertManagerMetrics,
  CONDITION_STATUSES,
  type CertManagerMetrics,
  type CertificateLabel,
  type CertificateMetricInput,
  type IssuerMetricInput,
  type ClusterIssuerMetricInput,
  type ConditionStatus,
} from './cert-manager-metrics.js';
export { LOG_LEVELS, type LogLevel, type LogFields, type Logger } from './logger.js';
export { LOG_FIELDS, type LogFieldName } from './log-fields.js';
export { REDACTED, LOG_VALUE_LIMITS, isSecretFieldName, redactText, redactForLog } from './redact.js';
export { createJsonLogger, type JsonLoggerOptions, type LogSink } from './json-logger.js';
export { NOOP_LOGGER } from './noop-logger.js';
