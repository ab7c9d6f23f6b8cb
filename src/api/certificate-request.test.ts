import { describe, expect, it } from 'vitest';
import { checkEncodedCsr, type CertificateRequest } from './certificate-request.js';
import { decode, issuesOf, withSpec } from './testing/builders.js';
import { CERTIFICATE_REQUEST } from './testing/manifests.js';
import { parseResource } from './validate-resource.js';

describe('CertificateRequest', () => {
  it('accepts a request holding a CSR openssl made, with the requester fields cert-manager sets', () => {
    expect(issuesOf(decode(CERTIFICATE_REQUEST))).toEqual([]);
  });

  it('accepts the status cert-manager writes when it has issued', () => {
    const doc = {
      ...decode(CERTIFICATE_REQUEST),
      status: {
        conditions: [
          {
            type: 'Approved',
            status: 'True',
            reason: 'cert-manager.io',
            message: 'Certificate request has been approved by cert-manager.io',
          },
          {
            type: 'Ready',
            status: 'True',
            reason: 'Issued',
            message: 'Certificate fetched from issuer successfully',
          },
        ],
        certificate: 'LS0tLQ==',
        ca: 'LS0tLQ==',
      },
    };
    const parsed = parseResource(doc) as CertificateRequest;
    expect(parsed.status?.conditions?.map((c) => c.type)).toEqual(['Approved', 'Ready']);
  });

  it.each<[string, Record<string, unknown>, string[]]>([
    [
      'a request that is PEM instead of base64',
      { request: '-----BEGIN CERTIFICATE REQUEST-----' },
      ['spec.request: must be standard base64 with padding (encode with `base64 -w0`)'],
    ],
    [
      'a request that is base64 of something else',
      { request: Buffer.from('hello').toString('base64') },
      ['spec.request: must be the base64 of a PEM "CERTIFICATE REQUEST" block (base64 -w0 < request.csr)'],
    ],
    [
      'an empty request',
      { request: '' },
      ['spec.request: must hold the base64 of a PEM certificate signing request'],
    ],
    ['no request', { request: undefined }, ['spec.request: is required (a string)']],
    [
      'an oversized request',
      { request: 'A'.repeat(70_000) },
      ['spec.request: must be at most 65536 characters; a CSR is a few KiB'],
    ],
    [
      'extra values that are not lists',
      { extra: { scopes: 'a' } },
      ['spec.extra.scopes: must be a list, not the string "a"'],
    ],
    [
      'a duration in days',
      { duration: '1d' },
      [expect.stringContaining('spec.duration: must be a Go duration')],
    ],
  ])('rejects %s', (_what, patch, expected) => {
    expect(issuesOf(withSpec(CERTIFICATE_REQUEST, patch))).toEqual(expected);
  });

  it('rejects a status condition with a status other than True, False or Unknown', () => {
    const doc = {
      ...decode(CERTIFICATE_REQUEST),
      status: { conditions: [{ type: 'Ready', status: 'true' }] },
    };
    expect(issuesOf(doc)).toEqual([
      'status.conditions[0].status: must be one of "True", "False", "Unknown"; did you mean "True"?',
    ]);
  });

  it('accepts the legacy NEW CERTIFICATE REQUEST PEM label', () => {
    const pem = '-----BEGIN NEW CERTIFICATE REQUEST-----\nMIIB\n-----END NEW CERTIFICATE REQUEST-----\n';
    expect(checkEncodedCsr(Buffer.from(pem).toString('base64'))).toBeUndefined();
  });
});
