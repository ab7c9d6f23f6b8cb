import type { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import {
  createCertManagerMetrics,
  type CertificateMetricInput,
  type ConditionStatus,
} from './cert-manager-metrics.js';
import { createMetricsRegistry } from './metrics-registry.js';

/** Every series of a metric as `{labels, value}`, sorted for stable comparison. */
async function seriesOf(
  registry: Registry,
  name: string,
): Promise<{ labels: Record<string, unknown>; value: number }[]> {
  const { values } = await registry.getSingleMetric(name)!.get();
  return values
    .map((v) => ({ labels: { ...v.labels }, value: v.value }))
    .sort((x, y) => JSON.stringify(x.labels).localeCompare(JSON.stringify(y.labels)));
}

/** A Certificate for the metrics, with the values a test does not care about filled in. */
function certificate(overrides: Partial<CertificateMetricInput> = {}): CertificateMetricInput {
  return {
    name: 'istio-ca',
    namespace: 'istio-system',
    issuerRef: { name: 'istio-intermediate-ca', kind: 'Issuer', group: 'cert-manager.io' },
    ready: 'True',
    notAfter: new Date('2030-01-31T00:00:00Z'),
    renewalTime: new Date('2030-01-21T00:00:00Z'),
    ...overrides,
  };
}

const LABELS = {
  name: 'istio-ca',
  namespace: 'istio-system',
  issuer_name: 'istio-intermediate-ca',
  issuer_kind: 'Issuer',
  issuer_group: 'cert-manager.io',
};

describe('createCertManagerMetrics', () => {
  it("exports a Certificate's expiry and renewal time with cert-manager's label set", async () => {
    const registry = createMetricsRegistry();
    createCertManagerMetrics(registry).updateCertificate(certificate());
    expect(await seriesOf(registry, 'certmanager_certificate_expiration_timestamp_seconds')).toEqual([
      { labels: LABELS, value: Date.UTC(2030, 0, 31) / 1000 },
    ]);
    expect(await seriesOf(registry, 'certmanager_certificate_renewal_timestamp_seconds')).toEqual([
      { labels: LABELS, value: Date.UTC(2030, 0, 21) / 1000 },
    ]);
  });

  it.each<ConditionStatus>(['True', 'False', 'Unknown'])(
    'writes one ready_status series per condition with 1 only for the current status %s',
    async (status) => {
      const registry = createMetricsRegistry();
      createCertManagerMetrics(registry).updateCertificate(certificate({ ready: status }));
      const series = await seriesOf(registry, 'certmanager_certificate_ready_status');
      expect(series).toHaveLength(3);
      for (const s of series) {
        expect(s.labels).toMatchObject(LABELS);
        expect(s.value).toBe(s.labels.condition === status ? 1 : 0);
      }
    },
  );

  it('exports 0 for the expiry and renewal time of a Certificate not issued yet, as cert-manager does', async () => {
    const registry = createMetricsRegistry();
    createCertManagerMetrics(registry).updateCertificate(
      certificate({ notAfter: undefined, renewalTime: undefined, ready: 'False' }),
    );
    expect((await seriesOf(registry, 'certmanager_certificate_expiration_timestamp_seconds'))[0]?.value).toBe(
      0,
    );
    expect((await seriesOf(registry, 'certmanager_certificate_renewal_timestamp_seconds'))[0]?.value).toBe(0);
  });

  it('exports empty issuer_kind and issuer_group when the issuerRef leaves them out', async () => {
    const registry = createMetricsRegistry();
    createCertManagerMetrics(registry).updateCertificate(certificate({ issuerRef: { name: 'ca' } }));
    const [series] = await seriesOf(registry, 'certmanager_certificate_expiration_timestamp_seconds');
    expect(series?.labels).toEqual({ ...LABELS, issuer_name: 'ca', issuer_kind: '', issuer_group: '' });
  });

  it('replaces the old series when a Certificate moves to another issuer, so no stale series lingers', async () => {
    const registry = createMetricsRegistry();
    const metrics = createCertManagerMetrics(registry);
    metrics.updateCertificate(certificate());
    metrics.updateCertificate(
      certificate({ issuerRef: { name: 'vault', kind: 'ClusterIssuer', group: 'cert-manager.io' } }),
    );
    for (const name of [
      'certmanager_certificate_expiration_timestamp_seconds',
      'certmanager_certificate_renewal_timestamp_seconds',
      'certmanager_certificate_ready_status',
    ]) {
      const series = await seriesOf(registry, name);
      expect(series.every((s) => s.labels.issuer_name === 'vault')).toBe(true);
    }
    expect(await seriesOf(registry, 'certmanager_certificate_ready_status')).toHaveLength(3);
  });

  it('removes every series of a deleted Certificate and keeps the others', async () => {
    const registry = createMetricsRegistry();
    const metrics = createCertManagerMetrics(registry);
    metrics.updateCertificate(certificate());
    metrics.updateCertificate(certificate({ name: 'other' }));
    metrics.removeCertificate('istio-system', 'istio-ca');
    metrics.removeCertificate('istio-system', 'never-existed');
    expect(
      (await seriesOf(registry, 'certmanager_certificate_ready_status')).map((s) => s.labels.name),
    ).toEqual(['other', 'other', 'other']);
    expect(await seriesOf(registry, 'certmanager_certificate_expiration_timestamp_seconds')).toHaveLength(1);
    expect(await seriesOf(registry, 'certmanager_certificate_renewal_timestamp_seconds')).toHaveLength(1);
  });

  it('exports Issuer ready status with name, namespace and condition, and removes it on delete', async () => {
    const registry = createMetricsRegistry();
    const metrics = createCertManagerMetrics(registry);
    metrics.updateIssuer({ name: 'istio-ca-issuer', namespace: 'istio-system', ready: 'False' });
    expect(await seriesOf(registry, 'certmanager_issuer_ready_status')).toEqual([
      { labels: { condition: 'False', name: 'istio-ca-issuer', namespace: 'istio-system' }, value: 1 },
      { labels: { condition: 'True', name: 'istio-ca-issuer', namespace: 'istio-system' }, value: 0 },
      { labels: { condition: 'Unknown', name: 'istio-ca-issuer', namespace: 'istio-system' }, value: 0 },
    ]);
    metrics.removeIssuer('istio-system', 'istio-ca-issuer');
    expect(await seriesOf(registry, 'certmanager_issuer_ready_status')).toEqual([]);
  });

  it('exports ClusterIssuer ready status with name and condition only, and removes it on delete', async () => {
    const registry = createMetricsRegistry();
    const metrics = createCertManagerMetrics(registry);
    metrics.updateClusterIssuer({ name: 'root', ready: 'True' });
    expect(await seriesOf(registry, 'certmanager_clusterissuer_ready_status')).toEqual([
      { labels: { condition: 'False', name: 'root' }, value: 0 },
      { labels: { condition: 'True', name: 'root' }, value: 1 },
      { labels: { condition: 'Unknown', name: 'root' }, value: 0 },
    ]);
    metrics.removeClusterIssuer('root');
    expect(await seriesOf(registry, 'certmanager_clusterissuer_ready_status')).toEqual([]);
  });

  it.each([
    ['a lowercase status', () => certificate({ ready: 'true' as ConditionStatus }), '"true"'],
    ['an empty status', () => certificate({ ready: '' as ConditionStatus }), '""'],
  ])('refuses %s with a message naming the resource and the statuses allowed', (_name, make, shown) => {
    const metrics = createCertManagerMetrics(createMetricsRegistry());
    expect(() => metrics.updateCertificate(make())).toThrow(
      `the Ready status of Certificate istio-system/istio-ca is ${shown}: pass True, False or Unknown`,
    );
  });

  it('refuses an invalid notAfter date instead of exporting NaN', () => {
    const metrics = createCertManagerMetrics(createMetricsRegistry());
    expect(() => metrics.updateCertificate(certificate({ notAfter: new Date(Number.NaN) }))).toThrow(
      'a certificate time is an invalid Date: pass a valid one',
    );
  });
});
