import { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { beforeAll, describe, expect, it } from 'vitest';
import { isMeshcaError } from '../../errors/index.js';
import { makeTestTls, type TestTls } from '../testing/test-tls.js';
import { IDENTITY_EXTRACTION_FAILED } from './authenticator.js';
import { createClientCertificateAuthenticator } from './client-certificate-authenticator.js';

let tls: TestTls;
beforeAll(() => {
  tls = makeTestTls();
});

/** A stand-in for a TLS socket: the two things the authenticator reads from one. */
const socketWith = (pem: string | undefined, authorized: boolean, authorizationError?: Error): TLSSocket =>
  ({
    authorized,
    authorizationError,
    getPeerCertificate: () => (pem === undefined ? {} : { raw: new X509Certificate(pem).raw }),
  }) as unknown as TLSSocket;

describe('the client-certificate authenticator', () => {
  it('names the workload of a verified certificate', async () => {
    const auth = createClientCertificateAuthenticator({ trustDomains: ['cluster.local'] });
    await expect(auth({ headers: {}, socket: socketWith(tls.clientCert, true) })).resolves.toEqual({
      trustDomain: 'cluster.local',
      namespace: 'default',
      serviceAccount: 'workload',
      method: 'client-certificate',
      subject: 'spiffe://cluster.local/ns/default/sa/workload',
    });
  });

  it.each<[string, () => TLSSocket | undefined, string[], string, boolean]>([
    ['no TLS socket', () => undefined, ['cluster.local'], 'no TLS connection', false],
    [
      'no certificate',
      () => socketWith(undefined, false),
      ['cluster.local'],
      'presented no certificate',
      false,
    ],
    [
      'an unverified chain',
      () => socketWith(tls.untrustedCert, false, new Error('self-signed certificate')),
      ['cluster.local'],
      'chain is not trusted: self-signed certificate',
      false,
    ],
    [
      'a certificate with no URI SAN',
      () => socketWith(tls.serverCert, true),
      ['cluster.local'],
      'carries 0 URI SANs',
      true,
    ],
    [
      'another trust domain',
      () => socketWith(tls.clientCert, true),
      ['other.example'],
      'trust domain "cluster.local" is not accepted (other.example)',
      true,
    ],
  ])('refuses %s with UNAUTHENTICATED', async (_name, socket, trustDomains, message, identityStage) => {
    const s = socket();
    const err = await createClientCertificateAuthenticator({ trustDomains })({
      headers: {},
      ...(s ? { socket: s } : {}),
    }).catch((e: unknown) => e);
    expect(isMeshcaError(err, 'UNAUTHENTICATED')).toBe(true);
    expect((err as Error).message).toContain(message);
    expect(isMeshcaError(err) && err.details.includes(IDENTITY_EXTRACTION_FAILED)).toBe(identityStage);
  });

  it('turns a SPIFFE ID the parser refuses into UNAUTHENTICATED naming the problem', async () => {
    const auth = createClientCertificateAuthenticator({
      trustDomains: ['cluster.local'],
      parseWorkloadSpiffeId: () => {
        throw new Error('path must be /ns/<ns>/sa/<sa>');
      },
    });
    await expect(auth({ headers: {}, socket: socketWith(tls.clientCert, true) })).rejects.toThrow(
      'client certificate SPIFFE ID is invalid: path must be /ns/<ns>/sa/<sa>',
    );
  });
});
