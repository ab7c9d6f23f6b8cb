/** Whether the server may take traffic, and when not, every reason why (each says what is missing). */
export interface Readiness {
  readonly ready: boolean;
  /** e.g. "no signing CA loaded: Issuer istio-system/istio-ca-issuer not found". */
  readonly reasons: readonly string[];
}
