import { describe, expect, it } from 'vitest';
import { MeshcaError, ERROR_CODES } from '../errors/index.js';
import { createCaServerMetrics, type CaServerEventName } from './ca-server-metrics.js';
import { createMetricsRegistry } from './metrics-registry.js';
import type { Registry } from 'prom-client';

/** The value of one series, or undefined when the series does not exist. */
async function valueOf(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number | undefined> {
  const metric = registry.getSingleMetric(name);
  if (metric === undefined) throw new Error(`${name} is not registered`);
  const { values } = await metric.get();
  const found = values.find(
    (v) =>
      Object.keys(labels).length === Object.keys(v.labels).length &&
      Object.entries(labels).every(([k, l]) => v.labels[k] === l),
  );
  return found?.value;
}

const STAGE_COUNTERS = [
  'citadel_server_authentication_failure_count',
  'citadel_server_id_extraction_err_count',
  'citadel_server_csr_parsing_err_count',
  'citadel_server_csr_sign_err_count',
  'citadel_server_success_cert_issuance_count',
  'meshca_csr_rate_limited_total',
];

describe('createCaServerMetrics', () => {
  it.each<[CaServerEventName, string]>([
    ['authentication_failure', 'citadel_server_authentication_failure_count'],
    ['id_extraction_error', 'citadel_server_id_extraction_err_count'],
    ['csr_parsing_error', 'citadel_server_csr_parsing_err_count'],
    ['csr_sign_error', 'citadel_server_csr_sign_err_count'],
    ['success_cert_issuance', 'citadel_server_success_cert_issuance_count'],
    ['rate_limited', 'meshca_csr_rate_limited_total'],
  ])('counts the event %s in %s and in no other counter', async (event, counter) => {
    const registry = createMetricsRegistry();
    const metrics = createCaServerMetrics(registry);
    metrics.recordEvent(event);
    metrics.recordEvent(event);
    for (const name of STAGE_COUNTERS) expect(await valueOf(registry, name)).toBe(name === counter ? 2 : 0);
  });

  it('leaves citadel_server_csr_count alone on the csr event, since only the outcome gives its error label', async () => {
    const registry = createMetricsRegistry();
    const metrics = createCaServerMetrics(registry);
    metrics.recordEvent('csr');
    expect(await valueOf(registry, 'citadel_server_csr_count', { error: '' })).toBe(0);
  });

  it('starts citadel_server_csr_count at 0 for success and for every catalog code, so increase() sees the first failure', async () => {
    const registry = createMetricsRegistry();
    createCaServerMetrics(registry);
    const metric = registry.getSingleMetric('citadel_server_csr_count');
    const { values } = await metric!.get();
    expect(values.map((v) => v.labels.error).sort()).toEqual(['', ...Object.keys(ERROR_CODES)].sort());
    expect(values.every((v) => v.value === 0)).toBe(true);
  });

  it.each<[string, unknown, string]>([
    ['a success', undefined, ''],
    ['a MeshcaError', new MeshcaError('UNAUTHENTICATED', 'no token'), 'UNAUTHENTICATED'],
    ['a rate limit', new MeshcaError('RATE_LIMITED', 'slow down'), 'RATE_LIMITED'],
    ['a foreign error', new TypeError('boom'), 'INTERNAL'],
    ['a thrown string', 'weird', 'INTERNAL'],
  ])('labels %s with error=%j in citadel_server_csr_count', async (_name, error, label) => {
    const registry = createMetricsRegistry();
    const metrics = createCaServerMetrics(registry);
    metrics.recordCsrResult(error);
    expect(await valueOf(registry, 'citadel_server_csr_count', { error: label })).toBe(1);
  });

  it('times a successful CSR with the injected clock and counts it with an empty error label', async () => {
    const registry = createMetricsRegistry();
    let now = 1000;
    const metrics = createCaServerMetrics(registry, { clock: () => now });
    const answer = await metrics.observeCsr(async () => {
      now += 2.5;
      return 'chain';
    });
    expect(answer).toBe('chain');
    expect(await valueOf(registry, 'citadel_server_csr_count', { error: '' })).toBe(1);
    const { values } = await metrics.csrSignDurationSeconds.get();
    expect(values.find((v) => v.metricName === 'meshca_csr_sign_duration_seconds_sum')?.value).toBeCloseTo(
      0.0025,
      9,
    );
    expect(
      values.find((v) => v.metricName === 'meshca_csr_sign_duration_seconds_bucket' && v.labels.le === 0.001)
        ?.value,
    ).toBe(0);
    expect(
      values.find((v) => v.metricName === 'meshca_csr_sign_duration_seconds_bucket' && v.labels.le === 0.005)
        ?.value,
    ).toBe(1);
  });

  it('rethrows a failed CSR unchanged after counting it under its code and timing it', async () => {
    const registry = createMetricsRegistry();
    let now = 0;
    const metrics = createCaServerMetrics(registry, { clock: () => now });
    const failure = new MeshcaError('CSR_INVALID', 'bad csr');
    await expect(
      metrics.observeCsr(async () => {
        now += 1;
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect(await valueOf(registry, 'citadel_server_csr_count', { error: 'CSR_INVALID' })).toBe(1);
    expect(await valueOf(registry, 'citadel_server_csr_count', { error: '' })).toBe(0);
    const { values } = await metrics.csrSignDurationSeconds.get();
    expect(values.find((v) => v.metricName === 'meshca_csr_sign_duration_seconds_count')?.value).toBe(1);
  });

  it('never records a negative duration when the clock steps back', async () => {
    const registry = createMetricsRegistry();
    let now = 100;
    const metrics = createCaServerMetrics(registry, { clock: () => now });
    await metrics.observeCsr(async () => {
      now -= 50;
    });
    const { values } = await metrics.csrSignDurationSeconds.get();
    expect(values.find((v) => v.metricName === 'meshca_csr_sign_duration_seconds_sum')?.value).toBe(0);
  });

  it('exports the root and chain expiry as whole unix seconds', async () => {
    const registry = createMetricsRegistry();
    const metrics = createCaServerMetrics(registry);
    metrics.setRootCertExpiry(new Date('2055-01-01T00:00:00.900Z'));
    metrics.setCertChainExpiry(new Date('2030-06-01T12:00:00Z'));
    expect(await valueOf(registry, 'citadel_server_root_cert_expiry_timestamp')).toBe(
      Date.UTC(2055, 0, 1) / 1000,
    );
    expect(await valueOf(registry, 'citadel_server_cert_chain_expiry_timestamp')).toBe(
      Date.UTC(2030, 5, 1, 12) / 1000,
    );
  });

  it('refuses an invalid expiry date instead of exporting NaN', () => {
    const metrics = createCaServerMetrics(createMetricsRegistry());
    expect(() => metrics.setRootCertExpiry(new Date('nonsense'))).toThrow(
      'the expiry date is invalid: pass a valid Date',
    );
  });

  it('keeps two registries apart: no global state is shared between two servers in one process', async () => {
    const a = createMetricsRegistry();
    const b = createMetricsRegistry();
    createCaServerMetrics(a).recordEvent('csr_sign_error');
    createCaServerMetrics(b);
    expect(await valueOf(a, 'citadel_server_csr_sign_err_count')).toBe(1);
    expect(await valueOf(b, 'citadel_server_csr_sign_err_count')).toBe(0);
  });

  it('writes istiod metric names with HELP and TYPE lines in the text exposition format', async () => {
    const registry = createMetricsRegistry();
    createCaServerMetrics(registry).recordCsrResult(new MeshcaError('PERMISSION_DENIED', 'no'));
    const text = await registry.metrics();
    expect(text).toContain('# TYPE citadel_server_csr_count counter');
    expect(text).toContain('citadel_server_csr_count{error="PERMISSION_DENIED"} 1');
    expect(text).toContain('# TYPE meshca_csr_sign_duration_seconds histogram');
    expect(text).toContain('# TYPE citadel_server_root_cert_expiry_timestamp gauge');
  });
});
