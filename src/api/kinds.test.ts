import { describe, expect, it } from 'vitest';
import { isMeshcaError } from '../errors/index.js';
import { findKind, KINDS, resolveKind } from './kinds.js';

describe('resolveKind', () => {
  it.each([
    ['certificate', 'Certificate'],
    ['certificates', 'Certificate'],
    ['cert', 'Certificate'],
    ['certs', 'Certificate'],
    ['Certificate', 'Certificate'],
    ['certificates.cert-manager.io', 'Certificate'],
    ['issuer', 'Issuer'],
    ['clusterissuer', 'ClusterIssuer'],
    ['ClusterIssuers', 'ClusterIssuer'],
    ['certificaterequest', 'CertificateRequest'],
    ['cr', 'CertificateRequest'],
    ['secret', 'Secret'],
    ['configmap', 'ConfigMap'],
    ['cm', 'ConfigMap'],
    ['order', 'Order'],
    ['orders.acme.cert-manager.io', 'Order'],
    ['challenge', 'Challenge'],
    ['meshcaconfig', 'MeshcaConfig'],
    [' certs ', 'Certificate'],
  ])('resolves %j to %s', (name, kind) => {
    expect(resolveKind(name).kind).toBe(kind);
  });

  it('knows which kinds are cluster-scoped', () => {
    expect(KINDS.filter((k) => !k.namespaced).map((k) => k.kind)).toEqual(['ClusterIssuer', 'MeshcaConfig']);
  });

  it('gives every kind distinct names', () => {
    const names = KINDS.flatMap((k) => [k.singular, k.plural, ...k.shortNames]);
    expect(new Set(names).size).toBe(names.length);
  });

  it.each([
    ['certz', 'unknown resource type "certz"; did you mean "cert"?'],
    ['isuer', 'unknown resource type "isuer"; did you mean "issuer"?'],
    ['deployment', 'unknown resource type "deployment"'],
    ['', 'unknown resource type ""'],
  ])('refuses %j with a usage error that names the closest kind', (name, message) => {
    try {
      resolveKind(name);
      expect.unreachable('resolveKind accepted an unknown name');
    } catch (err) {
      expect(isMeshcaError(err, 'USAGE')).toBe(true);
      expect((err as Error).message).toBe(message);
      expect((err as { hint: string }).hint).toContain('certificates|cert|certs');
    }
  });
});

describe('findKind', () => {
  it('finds a kind by apiVersion and kind, and nothing for a wrong apiVersion', () => {
    expect(findKind('cert-manager.io/v1', 'Issuer')?.plural).toBe('issuers');
    expect(findKind('cert-manager.io/v1alpha2', 'Issuer')).toBeUndefined();
  });
});
