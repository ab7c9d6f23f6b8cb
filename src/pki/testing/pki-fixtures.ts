import type { KeyObject } from 'node:crypto';
import {
  issueCertificate,
  type CertificateTemplate,
  type SigningOptions,
} from '../certificate/issue-certificate.js';
import { certificateFromDer, type Certificate } from '../certificate/certificate.js';
import { bitString, contextConstructed, integer, sequence, time } from '../der/der-writer.js';
import { OID } from '../der/oids.js';
import { encodeBasicConstraints, encodeKeyUsage, extension } from '../extensions/extensions.js';
import { generatePrivateKey } from '../keys/generate-private-key.js';
import { subjectPublicKeyInfo, type KeySpec } from '../keys/key-spec.js';
import { encodeName, type DistinguishedName } from '../names/distinguished-name.js';
import { signWith, signatureAlgorithmFor } from '../signature/signature-algorithm.js';

/** A fixed instant for tests: nothing in the PKI core reads a clock. */
export const T0 = new Date('2030-01-01T00:00:00Z');
/** One hour and one day in milliseconds. */
export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;

/** A certificate with its private key. */
export interface Issued {
  certificate: Certificate;
  key: KeyObject;
}

/** A self-signed root CA. */
export function makeRoot(
  opts: { name?: string; spec?: KeySpec; lifetimeMs?: number; now?: Date; pathLen?: number } = {},
): Issued {
  const key = generatePrivateKey(opts.spec);
  const template: CertificateTemplate = {
    publicKey: key,
    subject: { commonName: opts.name ?? 'test root', organizations: ['meshca tests'] },
    isCA: true,
    lifetimeMs: opts.lifetimeMs ?? 3650 * DAY,
  };
  if (opts.pathLen !== undefined) template.pathLen = opts.pathLen;
  return { certificate: issueCertificate(template, { selfSigned: key }, { now: opts.now ?? T0 }), key };
}

/** A certificate signed by `issuer` (a CA when template.isCA). */
export function makeIssued(
  issuer: Issued,
  template: Partial<CertificateTemplate> & { spec?: KeySpec } = {},
  options: Partial<SigningOptions> = {},
): Issued {
  const { spec, ...rest } = template;
  const key = generatePrivateKey(spec);
  const full: CertificateTemplate = { publicKey: key, lifetimeMs: DAY, ...rest };
  if (full.subject === undefined && full.sans === undefined)
    full.subject = { commonName: full.isCA ? 'test intermediate' : 'leaf.example.com' };
  return {
    certificate: issueCertificate(
      full,
      { certificate: issuer.certificate, key: issuer.key },
      { now: T0, ...options },
    ),
    key,
  };
}

/**
 * A CA certificate signed by `issuer` with exactly the extensions given (encoded with
 * `extension(...)`) besides BasicConstraints (cA) and KeyUsage (keyCertSign): for shapes
 * issueCertificate refuses to write, such as directoryName name constraints.
 */
export function makeRawCa(
  issuer: Issued,
  opts: { subject: DistinguishedName; extensions: Buffer[]; key?: KeyObject; lifetimeMs?: number },
): Issued {
  const key = opts.key ?? generatePrivateKey();
  const algorithm = signatureAlgorithmFor(issuer.key);
  const tbs = sequence(
    contextConstructed(0, integer(2)),
    integer(Math.floor(Math.random() * 2 ** 40) + 1),
    algorithm.identifier,
    issuer.certificate.subjectDer,
    sequence(time(new Date(T0.getTime() - HOUR)), time(new Date(T0.getTime() + (opts.lifetimeMs ?? DAY)))),
    encodeName(opts.subject),
    subjectPublicKeyInfo(key),
    contextConstructed(
      3,
      sequence(
        extension(OID.basicConstraints, true, encodeBasicConstraints(true)),
        extension(OID.keyUsage, true, encodeKeyUsage(['keyCertSign', 'cRLSign', 'digitalSignature'])),
        ...opts.extensions,
      ),
    ),
  );
  const der = sequence(tbs, algorithm.identifier, bitString(signWith(algorithm, issuer.key, tbs)));
  return { certificate: certificateFromDer(der), key };
}
