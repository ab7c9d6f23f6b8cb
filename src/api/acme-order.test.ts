import { describe, expect, it } from 'vitest';
import { decode, issuesOf } from './testing/builders.js';
import { CERTIFICATE_REQUEST } from './testing/manifests.js';

const request = (decode(CERTIFICATE_REQUEST).spec as { request: string }).request;
const meta = { name: 'gateway-tls-1-2345', namespace: 'istio-ingress' };

const order = (patch: Record<string, unknown> = {}): Record<string, unknown> => ({
  apiVersion: 'acme.cert-manager.io/v1',
  kind: 'Order',
  metadata: meta,
  spec: {
    request,
    issuerRef: { name: 'letsencrypt' },
    commonName: 'example.com',
    dnsNames: ['example.com', '*.example.com'],
    duration: '2160h',
    ...patch,
  },
  status: {
    url: 'https://acme.example/order/1',
    finalizeURL: 'https://acme.example/order/1/finalize',
    state: 'pending',
    authorizations: [{ url: 'https://acme.example/authz/1', identifier: 'example.com', wildcard: false }],
  },
});

const challenge = (patch: Record<string, unknown> = {}): Record<string, unknown> => ({
  apiVersion: 'acme.cert-manager.io/v1',
  kind: 'Challenge',
  metadata: meta,
  spec: {
    url: 'https://acme.example/chall/1',
    authorizationURL: 'https://acme.example/authz/1',
    dnsName: 'example.com',
    wildcard: true,
    type: 'DNS-01',
    token: 'tok',
    key: 'keyauth',
    solver: { dns01: { rfc2136: { nameserver: '10.0.0.53' } } },
    issuerRef: { name: 'letsencrypt' },
    ...patch,
  },
  status: { processing: true, presented: false, state: 'pending' },
});

describe('Order and Challenge', () => {
  it('accept an Order and a Challenge as the ACME issuer writes them', () => {
    expect(issuesOf(order())).toEqual([]);
    expect(issuesOf(challenge())).toEqual([]);
  });

  it.each<[string, Record<string, unknown>, string[]]>([
    [
      'an Order with a bad DNS name',
      order({ dnsNames: ['exa mple.com'] }),
      [expect.stringMatching(/^spec\.dnsNames\[0\]: label "exa mple" must hold only/)],
    ],
    ['an Order without a request', order({ request: undefined }), ['spec.request: is required (a string)']],
    [
      'a Challenge of an unknown type',
      challenge({ type: 'dns-01' }),
      ['spec.type: must be one of "HTTP-01", "DNS-01"; did you mean "DNS-01"?'],
    ],
    [
      'a Challenge with a misspelt solver field',
      challenge({ solver: { dns01: { rfc2136: { nameServer: 'x' } } } }),
      [
        'spec.solver.dns01.rfc2136.nameserver: is required (a string)',
        'spec.solver.dns01.rfc2136.nameServer: unknown field; did you mean "nameserver"?',
      ],
    ],
  ])('reject %s', (_what, doc, expected) => {
    expect(issuesOf(doc)).toEqual(expected);
  });

  it('reject an Order state outside RFC 8555 §7.1.6', () => {
    const doc = { ...order(), status: { state: 'done' } };
    expect(issuesOf(doc)).toEqual([
      'status.state: must be one of "valid", "ready", "pending", "processing", "invalid", "expired", "errored"',
    ]);
  });
});
