import type { KeyObject } from 'node:crypto';
import {
  issueCertificate,
  type CertificateTemplate,
  type SigningOptions,
} from '../certificate/issue-certificate.js';
import type { Certificate } from '../certificate/certificate.js';
import { generatePrivateKey } from '../keys/generate-private-key.js';
import type { KeySpec } from '../keys/key-spec.js';

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
