import { describe, expect, it } from 'vitest';
import type { Resource } from '../api/resource.js';
import { ParseCache } from '../pki/index.js';
import { CaIssuer } from './ca/ca-issuer.js';
import { createIssuer, type SecretLookup } from './create-issuer.js';
import { SelfSignedIssuer } from './self-signed/self-signed-issuer.js';
import { makeRoot } from './testing/fixtures.js';

const now = new Date('2026-11-22T12:00:00Z');
const b64 = (s: string): string => Buffer.from(s).toString('base64');

function issuer(kind: 'Issuer' | 'ClusterIssuer', spec: Record<string, unknown>): Resource {
  return {
    apiVersion: 'cert-manager.io/v1',
    kind,
    metadata: kind === 'Issuer' ? { name: 'ca', namespace: 'team' } : { name: 'ca' },
    spec,
  };
}

function lookupOf(secrets: Record<string, Resource>): SecretLookup & { asked: string[] } {
  const asked: string[] = [];
  const fn = (namespace: string, name: string): Promise<Resource | undefined> => {
    asked.push(`${namespace}/${name}`);
    return Promise.resolve(secrets[`${namespace}/${name}`]);
  };
  return Object.assign(fn, { asked });
}

function caSecret(namespace: string, data: Record<string, string>): Resource {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'root', namespace }, data };
}

describe('building an issuer from its resource', () => {
  it('builds a selfSigned issuer', async () => {
    const got = await createIssuer(issuer('Issuer', { selfSigned: {} }), {
      getSecret: lookupOf({}),
      clusterResourceNamespace: 'cert-manager',
    });
    expect(got).toBeInstanceOf(SelfSignedIssuer);
  });

  it("builds a ca issuer from the Secret in the Issuer's own namespace", async () => {
    const root = makeRoot(now);
    const lookup = lookupOf({
      'team/root': caSecret('team', { 'tls.crt': b64(root.certificate.pem), 'tls.key': b64(root.keyPem) }),
    });
    const got = await createIssuer(issuer('Issuer', { ca: { secretName: 'root' } }), {
      getSecret: lookup,
      clusterResourceNamespace: 'cert-manager',
    });
    expect(got).toBeInstanceOf(CaIssuer);
    expect(lookup.asked).toEqual(['team/root']);
  });

  it('reads the CA Secret through the parser it is given, so a ParseCache parses the key and chain once', async () => {
    const root = makeRoot(now);
    const lookup = lookupOf({
      'team/root': caSecret('team', {
        'tls.crt': b64(root.certificate.pem),
        'tls.key': b64(root.keyPem),
        'ca.crt': b64(root.certificate.pem),
      }),
    });
    const parser = new ParseCache();
    const build = (): Promise<unknown> =>
      createIssuer(issuer('Issuer', { ca: { secretName: 'root' } }), {
        getSecret: lookup,
        clusterResourceNamespace: 'cert-manager',
        parser,
      });
    await build();
    expect(parser.stats).toEqual({ hits: 1, misses: 2 }); // tls.crt and tls.key read; ca.crt is the same PEM as tls.crt
    await build();
    expect(parser.stats).toEqual({ hits: 4, misses: 2 });
  });

  it("looks a ClusterIssuer's Secret up in the cluster resource namespace, as cert-manager does", async () => {
    const root = makeRoot(now);
    const lookup = lookupOf({
      'cert-manager/root': caSecret('cert-manager', {
        'tls.crt': b64(root.certificate.pem),
        'tls.key': b64(root.keyPem),
      }),
    });
    await createIssuer(issuer('ClusterIssuer', { ca: { secretName: 'root' } }), {
      getSecret: lookup,
      clusterResourceNamespace: 'cert-manager',
    });
    expect(lookup.asked).toEqual(['cert-manager/root']);
  });

  it.each([
    [
      { ca: { secretName: 'missing' } },
      {},
      'ISSUER_NOT_READY',
      'secret team/missing of Issuer team/ca does not exist',
    ],
    [
      { ca: { secretName: 'root' } },
      { 'team/root': caSecret('team', { 'tls.crt': b64('x') }) },
      'ISSUER_NOT_READY',
      'secret team/root of Issuer team/ca lacks tls.key',
    ],
    [{ ca: {} }, {}, 'ISSUER_INVALID', 'Issuer team/ca: spec.ca.secretName is required'],
    [
      { vault: { server: 'https://vault', path: 'pki/sign/x' } },
      {},
      'ISSUER_INVALID',
      'Issuer team/ca: spec.vault.auth names no login method',
    ],
    [
      {
        vault: {
          server: 'https://vault',
          path: 'pki/issue/x',
          auth: { tokenSecretRef: { name: 'vault-token' } },
        },
      },
      {},
      'ISSUER_INVALID',
      'spec.vault.path "pki/issue/x" is not a Vault PKI signing path',
    ],
    [{}, {}, 'ISSUER_INVALID', 'spec names no issuer type'],
  ])('refuses %j with %s', async (spec, secrets, code, message) => {
    await expect(
      createIssuer(issuer('Issuer', spec), {
        getSecret: lookupOf(secrets as Record<string, Resource>),
        clusterResourceNamespace: 'cert-manager',
      }),
    ).rejects.toMatchObject({ code, message: expect.stringContaining(message) as unknown });
  });
});
