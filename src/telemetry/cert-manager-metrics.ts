import { Gauge, type Registry } from 'prom-client';
import { MeshcaError } from '../errors/index.js';
import { METRIC_NAMES } from './metric-names.js';

/** A Kubernetes condition status, as cert-manager exports it in the `condition` label. */
export type ConditionStatus = 'True' | 'False' | 'Unknown';

/** Every status, in the order cert-manager writes a series for each (one is 1, the others 0). */
export const CONDITION_STATUSES: readonly ConditionStatus[] = ['True', 'False', 'Unknown'];

/** What the Certificate metrics need to know of one Certificate. */
export interface CertificateMetricInput {
  readonly name: string;
  readonly namespace: string;
  /**
   * `spec.issuerRef` as stored; kind and group export "" when absent, as cert-manager exports its
   * raw spec. meshca's store holds Certificates with the API defaults filled in (`meshca apply`
   * validates and defaults kind to Issuer and group to cert-manager.io, and keeps nothing of what
   * was written), so for those the labels show the defaults where cert-manager shows "": a
   * documented deviation (docs/observability.md), not guessed back from the values.
   */
  readonly issuerRef: { readonly name: string; readonly kind?: string; readonly group?: string };
  /** The status of the `Ready` condition; `Unknown` when there is none yet. */
  readonly ready: ConditionStatus;
  /** `status.notAfter`; absent exports 0, as cert-manager does. */
  readonly notAfter?: Date;
  /** `status.renewalTime`; absent exports 0. */
  readonly renewalTime?: Date;
}

/** What the Issuer metric needs to know of one Issuer. */
export interface IssuerMetricInput {
  readonly name: string;
  readonly namespace: string;
  readonly ready: ConditionStatus;
}

/** What the ClusterIssuer metric needs to know of one ClusterIssuer. */
export interface ClusterIssuerMetricInput {
  readonly name: string;
  readonly ready: ConditionStatus;
}

/** cert-manager's resource metrics, kept up to date by the controllers. */
export interface CertManagerMetrics {
  readonly certificateExpirationTimestampSeconds: Gauge<CertificateLabel>;
  readonly certificateReadyStatus: Gauge<CertificateLabel | 'condition'>;
  readonly certificateRenewalTimestampSeconds: Gauge<CertificateLabel>;
  readonly issuerReadyStatus: Gauge<'name' | 'namespace' | 'condition'>;
  readonly clusterIssuerReadyStatus: Gauge<'name' | 'condition'>;
  /** Sets the three Certificate series; a changed issuerRef replaces the old series. */
  updateCertificate(input: CertificateMetricInput): void;
  /** Stops exporting a deleted Certificate. */
  removeCertificate(namespace: string, name: string): void;
  /** Sets an Issuer's ready status. */
  updateIssuer(input: IssuerMetricInput): void;
  /** Stops exporting a deleted Issuer. */
  removeIssuer(namespace: string, name: string): void;
  /** Sets a ClusterIssuer's ready status. */
  updateClusterIssuer(input: ClusterIssuerMetricInput): void;
  /** Stops exporting a deleted ClusterIssuer. */
  removeClusterIssuer(name: string): void;
}

/** The labels cert-manager puts on every Certificate series. */
export type CertificateLabel = 'name' | 'namespace' | 'issuer_name' | 'issuer_kind' | 'issuer_group';

type CertificateLabels = Record<CertificateLabel, string>;

/**
 * Registers cert-manager's Certificate, Issuer and ClusterIssuer metrics in `registry`, with
 * cert-manager's names, meanings and label sets, so its dashboards and alerts apply unchanged.
 */
export function createCertManagerMetrics(registry: Registry): CertManagerMetrics {
  const registers = [registry];
  const certificateLabels = ['name', 'namespace', 'issuer_name', 'issuer_kind', 'issuer_group'] as const;
  const expiration = new Gauge({
    name: METRIC_NAMES.certificateExpirationTimestampSeconds,
    help: 'The unix time, in seconds, after which the certificate expires; 0 before one is issued.',
    labelNames: certificateLabels,
    registers,
  });
  const ready = new Gauge({
    name: METRIC_NAMES.certificateReadyStatus,
    help: "1 for the current status of the certificate's Ready condition, 0 for the other statuses.",
    labelNames: [...certificateLabels, 'condition'] as const,
    registers,
  });
  const renewal = new Gauge({
    name: METRIC_NAMES.certificateRenewalTimestampSeconds,
    help: 'The unix time, in seconds, at which the certificate is due for renewal; 0 before one is issued.',
    labelNames: certificateLabels,
    registers,
  });
  const issuerReady = new Gauge({
    name: METRIC_NAMES.issuerReadyStatus,
    help: "1 for the current status of the issuer's Ready condition, 0 for the other statuses.",
    labelNames: ['name', 'namespace', 'condition'] as const,
    registers,
  });
  const clusterIssuerReady = new Gauge({
    name: METRIC_NAMES.clusterIssuerReadyStatus,
    help: "1 for the current status of the cluster issuer's Ready condition, 0 for the other statuses.",
    labelNames: ['name', 'condition'] as const,
    registers,
  });

  // The label set last exported per Certificate: prom-client removes only exact label sets, and a
  // Certificate whose issuerRef changed must not keep exporting its old series.
  const exported = new Map<string, CertificateLabels>();
  const key = (namespace: string, name: string): string => `${namespace}/${name}`;

  const removeCertificate = (namespace: string, name: string): void => {
    const labels = exported.get(key(namespace, name));
    if (labels === undefined) return;
    exported.delete(key(namespace, name));
    expiration.remove(labels);
    renewal.remove(labels);
    for (const condition of CONDITION_STATUSES) ready.remove({ ...labels, condition });
  };

  return {
    certificateExpirationTimestampSeconds: expiration,
    certificateReadyStatus: ready,
    certificateRenewalTimestampSeconds: renewal,
    issuerReadyStatus: issuerReady,
    clusterIssuerReadyStatus: clusterIssuerReady,

    updateCertificate(input) {
      checkStatus(input.ready, `Certificate ${input.namespace}/${input.name}`);
      // Checked before anything changes, so a bad input leaves the last good series in place.
      const expiresAt = unixSecondsOrZero(input.notAfter);
      const renewsAt = unixSecondsOrZero(input.renewalTime);
      const labels: CertificateLabels = {
        name: input.name,
        namespace: input.namespace,
        issuer_name: input.issuerRef.name,
        issuer_kind: input.issuerRef.kind ?? '',
        issuer_group: input.issuerRef.group ?? '',
      };
      const previous = exported.get(key(input.namespace, input.name));
      if (previous !== undefined && !sameLabels(previous, labels))
        removeCertificate(input.namespace, input.name);
      exported.set(key(input.namespace, input.name), labels);
      expiration.set(labels, expiresAt);
      renewal.set(labels, renewsAt);
      for (const condition of CONDITION_STATUSES) {
        ready.set({ ...labels, condition }, condition === input.ready ? 1 : 0);
      }
    },

    removeCertificate,

    updateIssuer(input) {
      checkStatus(input.ready, `Issuer ${input.namespace}/${input.name}`);
      for (const condition of CONDITION_STATUSES) {
        issuerReady.set(
          { name: input.name, namespace: input.namespace, condition },
          condition === input.ready ? 1 : 0,
        );
      }
    },

    removeIssuer(namespace, name) {
      for (const condition of CONDITION_STATUSES) issuerReady.remove({ name, namespace, condition });
    },

    updateClusterIssuer(input) {
      checkStatus(input.ready, `ClusterIssuer ${input.name}`);
      for (const condition of CONDITION_STATUSES) {
        clusterIssuerReady.set({ name: input.name, condition }, condition === input.ready ? 1 : 0);
      }
    },

    removeClusterIssuer(name) {
      for (const condition of CONDITION_STATUSES) clusterIssuerReady.remove({ name, condition });
    },
  };
}

function sameLabels(a: CertificateLabels, b: CertificateLabels): boolean {
  return (Object.keys(a) as CertificateLabel[]).every((k) => a[k] === b[k]);
}

/** A status from outside the type (JSON, YAML) would otherwise export no series set to 1. */
function checkStatus(status: string, what: string): void {
  if (!(CONDITION_STATUSES as readonly string[]).includes(status)) {
    throw new MeshcaError(
      'INVALID_INPUT',
      `the Ready status of ${what} is ${JSON.stringify(status)}: pass True, False or Unknown`,
    );
  }
}

function unixSecondsOrZero(date: Date | undefined): number {
  if (date === undefined) return 0;
  const ms = date.getTime();
  if (!Number.isFinite(ms))
    throw new MeshcaError('INVALID_INPUT', 'a certificate time is an invalid Date: pass a valid one');
  return Math.floor(ms / 1000);
}
