import { MeshcaError } from '../errors/index.js';
import { buildCsr, encodePrivateKey, generatePrivateKey, parseCsr, renewalTime } from '../pki/index.js';
import type { SigningAuthority } from './signing/workload-signer.js';

/** The TLS material of the server: key, certificate chain, and the roots it trusts for clients. */
export interface ServingMaterial {
  readonly keyPem: string;
  /** The serving certificate then its intermediates. */
  readonly certChainPem: string;
  /** The roots: client certificates are verified against them. */
  readonly caPem: string;
  readonly notAfter: Date;
  /** When to make the next one: 2/3 of the way through its life. */
  readonly renewAt: Date;
  /** Fingerprint of the signing CA, to notice a new CA. */
  readonly signedBy: string;
}

/** Options of issueServingCertificate. */
export interface ServingCertificateOptions {
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
  readonly lifetimeMs: number;
}

/**
 * Issues the gRPC server's own certificate from the signing CA (serverAuth, the configured DNS
 * names and IPs), with a fresh key each time. Renewed at 2/3 of its life by the caller.
 */
export function issueServingCertificate(
  authority: SigningAuthority,
  options: ServingCertificateOptions,
  now: Date,
): ServingMaterial {
  if (!authority.ready) {
    throw new MeshcaError('ISSUER_NOT_READY', `cannot issue the serving certificate: ${authority.reason}`);
  }
  const key = generatePrivateKey({ algorithm: 'ECDSA', size: 256 });
  const csr = parseCsr(
    buildCsr({
      key,
      subject: { commonName: options.dnsNames[0] ?? 'meshca' },
      sans: { dnsNames: [...options.dnsNames], ipAddresses: [...options.ipAddresses] },
    }),
  );
  const { certificate, chain, ca } = authority.issuer.signSync({
    csr,
    durationMs: options.lifetimeMs,
    isCA: false,
    keyUsages: ['digitalSignature'],
    extKeyUsages: ['serverAuth'],
    now,
  });
  return {
    keyPem: encodePrivateKey(key, 'PKCS8'),
    certChainPem: [certificate, ...chain].map((c) => c.pem).join(''),
    caPem: ca.map((c) => c.pem).join(''),
    notAfter: certificate.notAfter,
    renewAt: renewalTime({ notBefore: certificate.notBefore, notAfter: certificate.notAfter }),
    signedBy: authority.issuer.certificate.fingerprintSha256,
  };
}
