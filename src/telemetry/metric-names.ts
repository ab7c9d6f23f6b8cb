/**
 * Every metric name meshca exports, in one place. The `citadel_server_*` names are istiod's and
 * the `certmanager_*` names are cert-manager's, kept identical so that existing dashboards and
 * alert rules work unchanged; `meshca_*` names are meshca's own.
 */
export const METRIC_NAMES = {
  // istiod's CA server (DESIGN §3)
  csrCount: 'citadel_server_csr_count',
  authenticationFailureCount: 'citadel_server_authentication_failure_count',
  csrParsingErrCount: 'citadel_server_csr_parsing_err_count',
  idExtractionErrCount: 'citadel_server_id_extraction_err_count',
  csrSignErrCount: 'citadel_server_csr_sign_err_count',
  successCertIssuanceCount: 'citadel_server_success_cert_issuance_count',
  rootCertExpiryTimestamp: 'citadel_server_root_cert_expiry_timestamp',
  certChainExpiryTimestamp: 'citadel_server_cert_chain_expiry_timestamp',
  // meshca's own CA server metrics
  csrSignDurationSeconds: 'meshca_csr_sign_duration_seconds',
  csrRateLimitedTotal: 'meshca_csr_rate_limited_total',
  // cert-manager's (DESIGN §4)
  certificateExpirationTimestampSeconds: 'certmanager_certificate_expiration_timestamp_seconds',
  certificateReadyStatus: 'certmanager_certificate_ready_status',
  certificateRenewalTimestampSeconds: 'certmanager_certificate_renewal_timestamp_seconds',
  issuerReadyStatus: 'certmanager_issuer_ready_status',
  clusterIssuerReadyStatus: 'certmanager_clusterissuer_ready_status',
} as const;

/** One of meshca's metric names. */
export type MetricName = (typeof METRIC_NAMES)[keyof typeof METRIC_NAMES];
