/** One CreateCertificate call as the agent makes it (DESIGN §3). */
export interface CertificateSigningCall {
  /** PEM PKCS#10 CSR. */
  readonly csr: string;
  /** Requested lifetime in seconds (`validity_duration`). */
  readonly validityDurationSeconds: number;
  /** The service-account JWT, sent as `authorization: Bearer <token>`. */
  readonly token: string;
  /** Sent as the `clusterid` header. */
  readonly clusterId: string;
  /** PEM roots the TLS connection to the CA must verify against. */
  readonly trustedRootsPem: string;
}

/**
 * The CA as the agent sees it: `istio.v1.auth.IstioCertificateService/CreateCertificate`. The
 * agent's loop is written against this, so its tests run with an in-process fake CA.
 */
export interface AgentCaClient {
  /** Sends the CSR; resolves to `cert_chain` unchecked (the agent validates it), rejects with a MeshcaError. */
  createCertificate(call: CertificateSigningCall, signal: AbortSignal): Promise<string[]>;
  /** Closes any connection. */
  close(): void;
}
