import type { KeyObject } from 'node:crypto';
import {
  buildCsr,
  encodePrivateKey,
  generatePrivateKey,
  issueCertificate,
  parseCsr,
  type Certificate,
  type CertificationRequest,
  type KeySpec,
} from '../../pki/index.js';

const HOUR = 3_600_000;

/** A certificate with its key, for building test hierarchies. */
export interface KeyedCertificate {
  certificate: Certificate;
  key: KeyObject;
  keyPem: string;
}

/** A self-signed root CA valid for `lifetimeMs` from `now`. */
export function makeRoot(now: Date, lifetimeMs = 10 * 8760 * HOUR, commonName = 'Test Root'): KeyedCertificate {
  const key = generatePrivateKey();
  const certificate = issueCertificate(
    { publicKey: key, subject: { commonName }, isCA: true, keyUsages: ['keyCertSign', 'cRLSign', 'digitalSignature'], lifetimeMs },
    { selfSigned: key },
    { now },
  );
  return { certificate, key, keyPem: encodePrivateKey(key, 'PKCS8') };
}

/** An intermediate CA signed by `parent`. */
export function makeIntermediate(
  parent: KeyedCertificate,
  now: Date,
  lifetimeMs = 720 * HOUR,
  options: { isCA?: boolean; commonName?: string } = {},
): KeyedCertificate {
  const key = generatePrivateKey();
  const isCA = options.isCA ?? true;
  const certificate = issueCertificate(
    {
      publicKey: key,
      subject: { commonName: options.commonName ?? 'Test Intermediate' },
      isCA,
      keyUsages: isCA ? ['keyCertSign', 'cRLSign', 'digitalSignature'] : ['digitalSignature'],
      lifetimeMs,
    },
    { certificate: parent.certificate, key: parent.key },
    { now },
  );
  return { certificate, key, keyPem: encodePrivateKey(key, 'PKCS8') };
}

/** A parsed workload CSR for a SPIFFE ID, with its key. */
export function workloadCsr(uri = 'spiffe://cluster.local/ns/default/sa/web', spec?: KeySpec): { csr: CertificationRequest; key: KeyObject } {
  const key = generatePrivateKey(spec);
  return { csr: parseCsr(buildCsr({ key, sans: { uris: [uri] } })), key };
}
