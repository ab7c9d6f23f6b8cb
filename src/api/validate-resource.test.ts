import { describe, expect, it } from 'vitest';
import { isMeshcaError } from '../errors/index.js';
import { decode, issuesOf } from './testing/builders.js';
import { CA_ISSUER, SELF_SIGNED_CLUSTER_ISSUER } from './testing/manifests.js';
import { parseResource, validateResource } from './validate-resource.js';

const issuer = decode(CA_ISSUER);
const withMeta = (metadata: unknown): Record<string, unknown> => ({ ...issuer, metadata });

describe('validateResource', () => {
  it.each<[string, unknown, string]>([
    ['null', null, '<document>: a resource must be a mapping with apiVersion, kind and metadata, not null'],
    [
      'a number',
      7,
      '<document>: a resource must be a mapping with apiVersion, kind and metadata, not a number',
    ],
    [
      'a list',
      [issuer],
      '<document>: a resource must be a mapping with apiVersion, kind and metadata, not a list',
    ],
    [
      'no apiVersion',
      { kind: 'Issuer', metadata: { name: 'a' } },
      'apiVersion: is required (a string such as "cert-manager.io/v1")',
    ],
  ])('refuses %s as a resource', (_what, input, expected) => {
    expect(issuesOf(input)).toEqual([expected]);
  });

  it('accepts the metadata kubectl get -o yaml prints, dropping what the API server manages', () => {
    const result = validateResource(
      withMeta({
        name: 'istio-intermediate-ca',
        namespace: 'istio-system',
        uid: '3f1c',
        resourceVersion: '12345',
        generation: 2,
        creationTimestamp: '2025-01-01T00:00:00Z',
        labels: { 'app.kubernetes.io/name': 'istio' },
        annotations: {
          'kubectl.kubernetes.io/last-applied-configuration': '{"apiVersion":"cert-manager.io/v1"}',
        },
        ownerReferences: [
          { apiVersion: 'v1', kind: 'Namespace', name: 'istio-system', uid: 'u', controller: true },
        ],
        managedFields: [{ manager: 'kubectl', operation: 'Apply' }],
        selfLink: '/apis/cert-manager.io/v1/issuers/x',
        finalizers: ['x'],
      }),
    );
    expect(result.ok).toBe(true);
    if (result.ok) {
      expect(Object.keys(result.resource.metadata)).not.toContain('managedFields');
      expect(result.resource.metadata.resourceVersion).toBe('12345');
      expect(result.kind.plural).toBe('issuers');
    }
  });

  it.each<[string, unknown, string[]]>([
    ['no metadata', undefined, ['metadata: is required (a mapping)']],
    ['no name', { namespace: 'a' }, ['metadata.name: is required (a string)']],
    [
      'a name with capitals',
      { name: 'IstioCA' },
      [expect.stringMatching(/^metadata\.name: must be a lowercase RFC 1123 subdomain/)],
    ],
    [
      'a namespace with a dot',
      { name: 'a', namespace: 'istio.system' },
      [expect.stringMatching(/^metadata\.namespace: must be a lowercase RFC 1123 label/)],
    ],
    [
      'a label value with a space',
      { name: 'a', labels: { app: 'my app' } },
      [expect.stringMatching(/^metadata\.labels\.app: must be a label value/)],
    ],
    [
      'a misspelt labels',
      { name: 'a', lables: {} },
      ['metadata.lables: unknown field; did you mean "labels"?'],
    ],
    [
      'generateName, which meshca does not do',
      { generateName: 'a-' },
      ['metadata.name: is required (a string)', 'metadata.generateName: unknown field'],
    ],
    ['a negative generation', { name: 'a', generation: -1 }, ['metadata.generation: must be at least 0']],
  ])('rejects metadata with %s', (_what, metadata, expected) => {
    expect(issuesOf(withMeta(metadata))).toEqual(expected);
  });

  it('rejects annotations over 256 KiB in total', () => {
    expect(issuesOf(withMeta({ name: 'a', annotations: { big: 'x'.repeat(256 * 1024) } }))).toEqual([
      'metadata.annotations: annotations must total at most 256 KiB (they have 262147 bytes)',
    ]);
  });

  it('treats null fields as unset, like the API server', () => {
    expect(
      issuesOf({
        ...decode(SELF_SIGNED_CLUSTER_ISSUER),
        status: null,
        metadata: { name: 'selfsigned', labels: null },
      }),
    ).toEqual([]);
  });

  it('still reports a null required field as missing', () => {
    expect(issuesOf({ ...issuer, spec: { ca: { secretName: null } } })).toEqual([
      'spec.ca.secretName: is required (a string)',
    ]);
  });
});

describe('parseResource', () => {
  it('throws INVALID_RESOURCE naming the resource and listing each problem', () => {
    try {
      parseResource({ ...issuer, spec: { ca: {}, selfSigned: {} } });
      expect.unreachable('parseResource accepted an invalid Issuer');
    } catch (err) {
      expect(isMeshcaError(err, 'INVALID_RESOURCE')).toBe(true);
      expect((err as Error).message).toBe('Issuer "istio-intermediate-ca" is invalid: 2 problems');
      expect((err as { details: string[] }).details).toEqual([
        'spec.ca.secretName: is required (a string)',
        'spec: an issuer has one type: set exactly one of selfSigned, ca, vault, acme, not selfSigned and ca',
      ]);
    }
  });

  it('puts a single problem in the message itself', () => {
    expect(() => parseResource({ ...issuer, spec: {} })).toThrow(
      'Issuer "istio-intermediate-ca" is invalid: spec: an issuer has one type: set exactly one of selfSigned, ca, vault, acme',
    );
  });
});
