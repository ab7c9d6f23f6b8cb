import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { ERROR_CODES, MeshcaError, isMeshcaError, type ErrorCode } from '../errors/index.js';
import { METRIC_NAMES } from './metric-names.js';

/**
 * The events the CA server reports while answering one CSR (the same strings as the ca-server's
 * `CaServerEvent`, so its `onEvent` can be this module's `recordEvent`).
 */
export type CaServerEventName =
  | 'csr'
  | 'authentication_failure'
  | 'id_extraction_error'
  | 'csr_parsing_error'
  | 'csr_sign_error'
  | 'success_cert_issuance'
  | 'rate_limited';

/** Options of createCaServerMetrics. */
export interface CaServerMetricsOptions {
  /** Monotonic milliseconds used to time a CSR; default `performance.now`. */
  readonly clock?: () => number;
}

/** Handles on istiod's CA server metrics plus meshca's latency and rate-limit metrics. */
export interface CaServerMetrics {
  /** `citadel_server_csr_count{error}`: every answered CSR, error "" on success, else its code. */
  readonly csrCount: Counter<'error'>;
  /** `citadel_server_authentication_failure_count`. */
  readonly authenticationFailureCount: Counter;
  /** `citadel_server_csr_parsing_err_count`. */
  readonly csrParsingErrCount: Counter;
  /** `citadel_server_id_extraction_err_count`. */
  readonly idExtractionErrCount: Counter;
  /** `citadel_server_csr_sign_err_count`. */
  readonly csrSignErrCount: Counter;
  /** `citadel_server_success_cert_issuance_count`. */
  readonly successCertIssuanceCount: Counter;
  /** `citadel_server_root_cert_expiry_timestamp`: the root's notAfter, unix seconds. */
  readonly rootCertExpiryTimestamp: Gauge;
  /** `citadel_server_cert_chain_expiry_timestamp`: the earliest notAfter of the signing chain. */
  readonly certChainExpiryTimestamp: Gauge;
  /** `meshca_csr_sign_duration_seconds`: time from receiving a CSR to answering it. */
  readonly csrSignDurationSeconds: Histogram;
  /** `meshca_csr_rate_limited_total`: CSRs refused by the per-identity rate limit. */
  readonly csrRateLimitedTotal: Counter;
  /**
   * Counts one stage event. `'csr'` adds nothing here: `citadel_server_csr_count` needs the
   * outcome for its `error` label, so `observeCsr` counts it when the answer is known.
   */
  recordEvent(event: CaServerEventName): void;
  /** Counts one answered CSR in `citadel_server_csr_count`: no error, or the error it failed with. */
  recordCsrResult(error?: unknown): void;
  /** Runs `answer`, timing it and counting its outcome; rethrows what it throws. */
  observeCsr<T>(answer: () => Promise<T>): Promise<T>;
  /** Sets the root's expiry (`citadel_server_root_cert_expiry_timestamp`). */
  setRootCertExpiry(notAfter: Date): void;
  /** Sets the signing chain's expiry (`citadel_server_cert_chain_expiry_timestamp`). */
  setCertChainExpiry(notAfter: Date): void;
}

/**
 * Signing takes from tens of microseconds (ECDSA P-256 in process) to about a second (a remote
 * Vault or an overloaded replica), so the buckets run from 100 µs to 5 s, about ×2.5 apart.
 */
export const CSR_SIGN_DURATION_BUCKETS: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
];

/** The `error` label of a failure: its catalog code, or INTERNAL, so the label set stays bounded. */
function errorLabel(error: unknown): ErrorCode {
  return isMeshcaError(error) ? error.code : 'INTERNAL';
}

/** Registers istiod's CA server metrics (and meshca's own) in `registry`. */
export function createCaServerMetrics(
  registry: Registry,
  options: CaServerMetricsOptions = {},
): CaServerMetrics {
  const clock = options.clock ?? (() => performance.now());
  const registers = [registry];
  const counter = (name: string, help: string): Counter => new Counter({ name, help, registers });
  const gauge = (name: string, help: string): Gauge => new Gauge({ name, help, registers });

  const csrCount = new Counter({
    name: METRIC_NAMES.csrCount,
    help: 'The number of CSRs answered; error is "" on success, else the meshca error code.',
    labelNames: ['error'] as const,
    registers,
  });
  // Every series exists from the start at 0: `increase()` over a series that first appears at 1
  // yields 0, so without this the first failure of a kind would not fire the alert.
  csrCount.inc({ error: '' }, 0);
  for (const code of Object.keys(ERROR_CODES)) csrCount.inc({ error: code }, 0);

  const metrics: CaServerMetrics = {
    csrCount,
    authenticationFailureCount: counter(
      METRIC_NAMES.authenticationFailureCount,
      'The number of CSRs whose caller could not be authenticated.',
    ),
    csrParsingErrCount: counter(
      METRIC_NAMES.csrParsingErrCount,
      'The number of requests whose CSR could not be parsed.',
    ),
    idExtractionErrCount: counter(
      METRIC_NAMES.idExtractionErrCount,
      "The number of CSRs whose caller's identity could not be extracted.",
    ),
    csrSignErrCount: counter(METRIC_NAMES.csrSignErrCount, 'The number of CSRs that failed to be signed.'),
    successCertIssuanceCount: counter(
      METRIC_NAMES.successCertIssuanceCount,
      'The number of certificates issued successfully.',
    ),
    rootCertExpiryTimestamp: gauge(
      METRIC_NAMES.rootCertExpiryTimestamp,
      'The unix time, in seconds, when the root certificate expires.',
    ),
    certChainExpiryTimestamp: gauge(
      METRIC_NAMES.certChainExpiryTimestamp,
      'The unix time, in seconds, when the first certificate of the signing chain expires.',
    ),
    csrSignDurationSeconds: new Histogram({
      name: METRIC_NAMES.csrSignDurationSeconds,
      help: 'Seconds from receiving a CSR to answering it, failures included.',
      buckets: [...CSR_SIGN_DURATION_BUCKETS],
      registers,
    }),
    csrRateLimitedTotal: counter(
      METRIC_NAMES.csrRateLimitedTotal,
      'The number of CSRs refused by the per-identity rate limit.',
    ),

    recordEvent(event) {
      switch (event) {
        case 'csr':
          return;
        case 'authentication_failure':
          return metrics.authenticationFailureCount.inc();
        case 'id_extraction_error':
          return metrics.idExtractionErrCount.inc();
        case 'csr_parsing_error':
          return metrics.csrParsingErrCount.inc();
        case 'csr_sign_error':
          return metrics.csrSignErrCount.inc();
        case 'success_cert_issuance':
          return metrics.successCertIssuanceCount.inc();
        case 'rate_limited':
          return metrics.csrRateLimitedTotal.inc();
      }
    },

    recordCsrResult(error?: unknown) {
      csrCount.inc({ error: error === undefined ? '' : errorLabel(error) });
    },

    async observeCsr<T>(answer: () => Promise<T>): Promise<T> {
      const start = clock();
      try {
        const result = await answer();
        metrics.recordCsrResult();
        return result;
      } catch (err) {
        metrics.recordCsrResult(err ?? new Error('a CSR handler threw nothing'));
        throw err;
      } finally {
        metrics.csrSignDurationSeconds.observe(Math.max(0, clock() - start) / 1000);
      }
    },

    setRootCertExpiry(notAfter) {
      metrics.rootCertExpiryTimestamp.set(unixSeconds(notAfter));
    },

    setCertChainExpiry(notAfter) {
      metrics.certChainExpiryTimestamp.set(unixSeconds(notAfter));
    },
  };
  return metrics;
}

/** Whole unix seconds of a date; refuses an invalid date rather than exporting NaN. */
function unixSeconds(date: Date): number {
  const ms = date.getTime();
  if (!Number.isFinite(ms))
    throw new MeshcaError('INVALID_INPUT', 'the expiry date is invalid: pass a valid Date');
  return Math.floor(ms / 1000);
}
