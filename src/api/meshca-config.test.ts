import { describe, expect, it } from 'vitest';
import { issuesOf } from './testing/builders.js';
import { parseResource } from './validate-resource.js';
import type { MeshcaConfig } from './meshca-config.js';

const config = (spec: unknown): Record<string, unknown> => ({
  apiVersion: 'meshca.io/v1alpha1',
  kind: 'MeshcaConfig',
  metadata: { name: 'default' },
  spec,
});

describe('MeshcaConfig', () => {
  it('names the issuer that signs workload CSRs, with cert-manager defaults', () => {
    const parsed = parseResource(config({ issuerRef: { name: 'istio-ca-issuer' } })) as MeshcaConfig;
    expect(parsed.spec.issuerRef).toEqual({
      name: 'istio-ca-issuer',
      kind: 'Issuer',
      group: 'cert-manager.io',
    });
  });

  it.each<[string, unknown, string[]]>([
    ['no issuerRef', {}, ['spec.issuerRef: is required (a mapping)']],
    [
      'a misspelt issuerRef',
      { issuerref: { name: 'x' } },
      ['spec.issuerRef: is required (a mapping)', 'spec.issuerref: unknown field; did you mean "issuerRef"?'],
    ],
    ['no spec', undefined, ['spec: is required (a mapping)']],
  ])('rejects %s', (_what, spec, expected) => {
    expect(issuesOf(config(spec))).toEqual(expected);
  });
});
