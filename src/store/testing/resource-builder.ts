import type { AuditRecord } from '../../api/audit-record.js';
import type { Resource, ResourceType } from '../../api/resource.js';

/** The type most conformance tests use. */
export const CERTIFICATE: ResourceType = { apiVersion: 'cert-manager.io/v1', kind: 'Certificate' };
/** A cluster-scoped type. */
export const CLUSTER_ISSUER: ResourceType = { apiVersion: 'cert-manager.io/v1', kind: 'ClusterIssuer' };

/** Options of certificate(). */
export interface CertificateFixture {
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
}

/** A cert-manager Certificate fixture with a plausible spec. */
export function certificate(name: string, fixture: CertificateFixture = {}): Resource {
  const resource: Resource = {
    ...CERTIFICATE,
    metadata: { name, namespace: fixture.namespace ?? 'default' },
    spec: fixture.spec ?? { secretName: `${name}-tls`, dnsNames: [`${name}.example.com`], duration: '2160h' },
  };
  if (fixture.labels !== undefined) resource.metadata.labels = fixture.labels;
  if (fixture.annotations !== undefined) resource.metadata.annotations = fixture.annotations;
  if (fixture.status !== undefined) resource.status = fixture.status;
  return resource;
}

/** A cluster-scoped ClusterIssuer fixture (no namespace). */
export function clusterIssuer(name: string): Resource {
  return { ...CLUSTER_ISSUER, metadata: { name }, spec: { ca: { secretName: `${name}-ca` } } };
}

/** An audit record fixture for one issuance at `issuedAt`. */
export function auditRecord(
  serial: number,
  identity: string,
  issuedAt: string,
  overrides: Partial<AuditRecord> = {},
): AuditRecord {
  const start = Date.parse(issuedAt);
  return {
    serialNumber: serial.toString(16).padStart(16, '0'),
    identity,
    caller: identity,
    clusterId: 'cluster-1',
    notBefore: new Date(start - 60_000).toISOString(),
    notAfter: new Date(start + 3_600_000).toISOString(),
    fingerprintSha256: serial.toString(16).padStart(64, 'a').slice(-64),
    issuer: 'Issuer/istio-system/istio-ca-issuer',
    issuedAt,
    ...overrides,
  };
}
