import { describe, expect, it } from 'vitest';
import { decode, issuesOf, withSpec } from './testing/builders.js';
import {
  ACME_ISSUER,
  CA_ISSUER,
  SELF_SIGNED_CLUSTER_ISSUER,
  VAULT_APPROLE_CLUSTER_ISSUER,
} from './testing/manifests.js';
import { issuerSpecIssues } from './issuer-rules.js';
import { parseResource } from './validate-resource.js';
import { formatPath } from './validation-issue.js';
import type { ClusterIssuer } from './issuer.js';

const vault = (patch: Record<string, unknown>): Record<string, unknown> => {
  const spec = decode(VAULT_APPROLE_CLUSTER_ISSUER).spec as { vault: Record<string, unknown> };
  return withSpec(VAULT_APPROLE_CLUSTER_ISSUER, { vault: { ...spec.vault, ...patch } });
};
const acme = (patch: Record<string, unknown>): Record<string, unknown> => {
  const spec = decode(ACME_ISSUER).spec as { acme: Record<string, unknown> };
  return withSpec(ACME_ISSUER, { acme: { ...spec.acme, ...patch } });
};

describe('Issuer and ClusterIssuer', () => {
  it.each([
    ['a selfSigned ClusterIssuer', SELF_SIGNED_CLUSTER_ISSUER],
    ['a CA Issuer with CRL, OCSP and AIA URLs', CA_ISSUER],
    ['a Vault ClusterIssuer logging in with AppRole', VAULT_APPROLE_CLUSTER_ISSUER],
    ['an ACME Issuer with http01, dns01 rfc2136, route53 and selectors', ACME_ISSUER],
  ])('accepts %s unchanged', (_what, yamlText) => {
    expect(issuesOf(decode(yamlText))).toEqual([]);
  });

  it.each<[string, Record<string, unknown>]>([
    ['token', { auth: { tokenSecretRef: { name: 'vault-token', key: 'token' } } }],
    [
      'Kubernetes service account',
      {
        auth: {
          kubernetes: {
            role: 'cert-manager',
            mountPath: '/v1/auth/kubernetes',
            serviceAccountRef: { name: 'meshca', audiences: ['vault'] },
          },
        },
      },
    ],
    [
      'client certificate',
      {
        auth: {
          clientCertificate: { mountPath: '/v1/auth/cert', name: 'meshca', secretName: 'vault-client' },
        },
      },
    ],
    [
      'client certificate with TLS client keys and a CA bundle',
      {
        caBundle: 'aGVsbG8=',
        caBundleSecretRef: undefined,
        serverName: 'vault.internal',
        clientCertSecretRef: { name: 'c', key: 'tls.crt' },
        clientKeySecretRef: { name: 'c', key: 'tls.key' },
      },
    ],
  ])('accepts Vault logging in with a %s', (_what, patch) => {
    expect(issuesOf(vault(patch))).toEqual([]);
  });

  it('accepts ACME with external account binding, a preferred chain and an ingress solver', () => {
    const doc = acme({
      externalAccountBinding: {
        keyID: 'kid-1',
        keySecretRef: { name: 'eab', key: 'secret' },
        keyAlgorithm: 'HS256',
      },
      preferredChain: 'ISRG Root X1',
      skipTLSVerify: false,
      disableAccountKeyGeneration: false,
      enableDurationFeature: true,
      solvers: [
        {
          http01: {
            ingress: {
              ingressClassName: 'istio',
              serviceType: 'ClusterIP',
              podTemplate: { spec: { nodeSelector: { a: 'b' } } },
            },
          },
        },
      ],
    });
    expect(issuesOf(doc)).toEqual([]);
  });

  it('drops a namespace given to a ClusterIssuer, as the API server does', () => {
    const doc = decode(SELF_SIGNED_CLUSTER_ISSUER);
    const issuer = parseResource({
      ...doc,
      metadata: { name: 'selfsigned', namespace: 'default' },
    }) as ClusterIssuer;
    expect(issuer.metadata).toEqual({ name: 'selfsigned' });
  });

  it.each<[string, Record<string, unknown>, string[]]>([
    [
      'no issuer type',
      withSpec(CA_ISSUER, { ca: undefined }),
      ['spec: an issuer has one type: set exactly one of selfSigned, ca, vault, acme'],
    ],
    [
      'two issuer types',
      withSpec(CA_ISSUER, { selfSigned: {} }),
      ['spec: an issuer has one type: set exactly one of selfSigned, ca, vault, acme, not selfSigned and ca'],
    ],
    [
      'an issuer type meshca does not have',
      withSpec(CA_ISSUER, { ca: undefined, venafi: { zone: 'x' } }),
      [
        'spec.venafi: unknown field',
        'spec: an issuer has one type: set exactly one of selfSigned, ca, vault, acme',
      ],
    ],
    [
      'a CA issuer without a secretName',
      withSpec(CA_ISSUER, { ca: {} }),
      ['spec.ca.secretName: is required (a string)'],
    ],
    [
      'a misspelt CA field',
      withSpec(CA_ISSUER, { ca: { secretName: 'root', ocspServer: ['http://o'] } }),
      ['spec.ca.ocspServer: unknown field; did you mean "ocspServers"?'],
    ],
    [
      'a relative CRL URL',
      withSpec(CA_ISSUER, { ca: { secretName: 'root', crlDistributionPoints: ['root.crl'] } }),
      [
        'spec.ca.crlDistributionPoints[0]: must be an absolute URI with a scheme (e.g. "spiffe://cluster.local/ns/default/sa/web")',
      ],
    ],
    ['Vault without a path', vault({ path: undefined }), ['spec.vault.path: is required (a string)']],
    [
      'Vault at a non-HTTP address',
      vault({ server: 'vault:8200' }),
      ['spec.vault.server: must be an http or https URL, not vault'],
    ],
    [
      'Vault with two login methods',
      vault({
        auth: {
          tokenSecretRef: { name: 't' },
          appRole: { path: 'approle', roleId: 'r', secretRef: { name: 's' } },
        },
      }),
      [
        'spec.vault.auth: vault needs one way to log in: set exactly one of tokenSecretRef, appRole, kubernetes, clientCertificate, not tokenSecretRef and appRole',
      ],
    ],
    [
      'Vault with no login method',
      vault({ auth: {} }),
      [
        'spec.vault.auth: vault needs one way to log in: set exactly one of tokenSecretRef, appRole, kubernetes, clientCertificate',
      ],
    ],
    [
      'AppRole without a roleId',
      vault({ auth: { appRole: { path: 'approle', roleID: 'r', secretRef: { name: 's' } } } }),
      [
        'spec.vault.auth.appRole.roleId: is required (a string)',
        'spec.vault.auth.appRole.roleID: unknown field; did you mean "roleId"?',
      ],
    ],
    [
      'ACME without an account key Secret',
      acme({ privateKeySecretRef: undefined }),
      ['spec.acme.privateKeySecretRef: is required (a mapping)'],
    ],
    [
      'ACME with a bad e-mail',
      acme({ email: 'platform' }),
      ['spec.acme.email: must be an e-mail address (e.g. "security@example.com")'],
    ],
    [
      'a solver with both challenge types',
      acme({ solvers: [{ http01: { ingress: {} }, dns01: { rfc2136: { nameserver: '1.1.1.1' } } }] }),
      [
        'spec.acme.solvers[0]: a solver answers one challenge type: set exactly one of http01, dns01, not http01 and dns01',
      ],
    ],
    [
      'a solver with no challenge type',
      acme({ solvers: [{ selector: { dnsNames: ['a.example.com'] } }] }),
      ['spec.acme.solvers[0]: a solver answers one challenge type: set exactly one of http01, dns01'],
    ],
    [
      'dns01 with two providers',
      acme({ solvers: [{ dns01: { cloudflare: {}, route53: {} } }] }),
      [
        'spec.acme.solvers[0].dns01: dns01 uses one DNS provider: set exactly one of acmeDNS, akamai, azureDNS, cloudDNS, cloudflare, digitalocean, rfc2136, route53, webhook, not cloudflare and route53',
      ],
    ],
    [
      'an unknown DNS provider',
      acme({ solvers: [{ dns01: { route54: {} } }] }),
      [
        'spec.acme.solvers[0].dns01.route54: unknown field; did you mean "route53"?',
        'spec.acme.solvers[0].dns01: dns01 uses one DNS provider: set exactly one of acmeDNS, akamai, azureDNS, cloudDNS, cloudflare, digitalocean, rfc2136, route53, webhook',
      ],
    ],
    [
      'an RFC 2136 solver with a bad TSIG algorithm',
      acme({ solvers: [{ dns01: { rfc2136: { nameserver: '10.0.0.53', tsigAlgorithm: 'hmacsha256' } } }] }),
      [
        'spec.acme.solvers[0].dns01.rfc2136.tsigAlgorithm: must be one of "HMACMD5", "HMACSHA1", "HMACSHA256", "HMACSHA512"; did you mean "HMACSHA256"?',
      ],
    ],
    [
      'http01 with both an ingress and a gateway route',
      acme({ solvers: [{ http01: { ingress: {}, gatewayHTTPRoute: {} } }] }),
      [
        'spec.acme.solvers[0].http01: http01 serves through one route: set exactly one of ingress, gatewayHTTPRoute, not ingress and gatewayHTTPRoute',
      ],
    ],
    [
      'a wildcard in a selector zone',
      acme({ solvers: [{ selector: { dnsZones: ['ex*.com'] }, dns01: { cloudflare: {} } }] }),
      [
        'spec.acme.solvers[0].selector.dnsZones[0]: may hold a wildcard only as the whole leftmost label (e.g. "*.example.com")',
      ],
    ],
  ])('rejects %s', (_what, doc, expected) => {
    expect(issuesOf(doc)).toEqual(expected);
  });

  it('ignores a spec that is not a mapping, which the schema reports', () => {
    expect(issuerSpecIssues('ca')).toEqual([]);
    expect(issuesOf({ ...decode(CA_ISSUER), spec: 'ca' }).map((l) => l)).toEqual([
      'spec: must be a mapping, not the string "ca"',
    ]);
  });

  it('reports rule issues with full paths', () => {
    const issues = issuerSpecIssues({ acme: { solvers: [{}, { dns01: {} }] } }).map((i) =>
      formatPath(i.path),
    );
    expect(issues).toEqual(['spec.acme.solvers[0]', 'spec.acme.solvers[1].dns01']);
  });
});
