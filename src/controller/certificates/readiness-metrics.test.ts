import { afterEach, describe, expect, it } from 'vitest';
import type { Resource } from '../../api/resource.js';
import { parseResource } from '../../api/validate-resource.js';
import { LifecycleHarness, NS, certificate, issuer } from '../testing/lifecycle-harness.js';

let h: LifecycleHarness;
afterEach(async () => {
  await h.close();
});

const readySeries = async (name: string): Promise<Partial<Record<string, string | number>> | undefined> => {
  const metric = await h.registry.getSingleMetric('certmanager_certificate_ready_status')?.get();
  return metric?.values.find((v) => v.labels['name'] === name && v.labels['condition'] === 'True')?.labels;
};

describe("the readiness controller's issuer_kind and issuer_group labels", () => {
  it('exports spec.issuerRef as stored: "" where the stored spec has no kind or group, the values where it has them', async () => {
    h = new LifecycleHarness();
    await h.apply(
      issuer('selfsigned', { selfSigned: {} }),
      certificate('raw', { commonName: 'raw', issuerRef: { name: 'selfsigned' } }),
      certificate('explicit', {
        commonName: 'explicit',
        issuerRef: { name: 'selfsigned', kind: 'Issuer', group: 'cert-manager.io' },
      }),
    );
    await h.settle();
    expect(await readySeries('raw')).toMatchObject({
      issuer_name: 'selfsigned',
      issuer_kind: '',
      issuer_group: '',
    });
    expect(await readySeries('explicit')).toMatchObject({
      issuer_kind: 'Issuer',
      issuer_group: 'cert-manager.io',
    });
  });

  it('exports the API defaults for a Certificate stored as `meshca apply` stores it: its spec was defaulted and the written one is not kept (the documented deviation)', async () => {
    h = new LifecycleHarness();
    // What `meshca apply` writes: the resource validated, with the schema's defaults.
    const applied = parseResource(
      certificate('applied', { commonName: 'applied', issuerRef: { name: 'selfsigned' } }),
    ) as Resource;
    expect(applied['spec']).toMatchObject({
      issuerRef: { name: 'selfsigned', kind: 'Issuer', group: 'cert-manager.io' },
    });
    await h.apply(issuer('selfsigned', { selfSigned: {} }), applied);
    await h.settle();
    expect(await readySeries('applied')).toMatchObject({
      namespace: NS,
      issuer_kind: 'Issuer',
      issuer_group: 'cert-manager.io',
    });
  });
});
