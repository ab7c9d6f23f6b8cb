import { parseGoDuration } from '../../api/go-duration.js';
import type { CertificateSpec } from '../../api/certificate.js';
import { MeshcaError } from '../../errors/index.js';
import type {
  DistinguishedName,
  ExtKeyUsage,
  KeySpec,
  KeyUsage,
  NameConstraints,
  SubjectAltNames,
} from '../../pki/index.js';
import { mapUsages } from './usages.js';

/** cert-manager's default lifetime of a certificate: 90 days. */
export const DEFAULT_DURATION_MS = 2160 * 3_600_000;

/** What a Certificate's spec asks to be issued, with cert-manager's defaults applied. */
export interface DesiredCertificate {
  readonly subject: DistinguishedName;
  readonly sans: SubjectAltNames;
  readonly keySpec: KeySpec;
  readonly encoding: 'PKCS1' | 'PKCS8';
  readonly rotationPolicy: 'Always' | 'Never';
  readonly durationMs: number;
  readonly renewBeforeMs: number | undefined;
  readonly renewBeforePercentage: number | undefined;
  readonly isCA: boolean;
  readonly keyUsages: KeyUsage[];
  readonly extKeyUsages: ExtKeyUsage[];
  readonly nameConstraints: NameConstraints | undefined;
}

const invalid = (message: string, hint?: string): MeshcaError =>
  new MeshcaError('INVALID_RESOURCE', message, hint === undefined ? {} : { hint });

/**
 * The certificate a spec describes. Throws INVALID_RESOURCE for a spec meshca cannot issue
 * (a literalSubject it cannot read, a bad duration): a final failure, recorded in status.
 */
export function desiredCertificate(spec: CertificateSpec): DesiredCertificate {
  const subject: DistinguishedName =
    spec.literalSubject !== undefined
      ? parseLiteralSubject(spec.literalSubject)
      : {
          ...(spec.commonName !== undefined && spec.commonName !== '' && { commonName: spec.commonName }),
          ...pickLists(spec.subject),
          ...(spec.subject?.serialNumber !== undefined && { serialNumber: spec.subject.serialNumber }),
        };
  const algorithm = spec.privateKey?.algorithm ?? 'RSA';
  const keySpec: KeySpec =
    algorithm === 'Ed25519'
      ? { algorithm }
      : { algorithm, size: spec.privateKey?.size ?? (algorithm === 'RSA' ? 2048 : 256) };
  const isCA = spec.isCA ?? false;
  const { keyUsages, extKeyUsages } = mapUsages(spec.usages, isCA);
  return {
    subject,
    sans: {
      dnsNames: [...(spec.dnsNames ?? [])],
      ipAddresses: [...(spec.ipAddresses ?? [])],
      uris: [...(spec.uris ?? [])],
      emailAddresses: [...(spec.emailAddresses ?? [])],
      ...(spec.otherNames !== undefined &&
        spec.otherNames.length > 0 && {
          otherNames: spec.otherNames.map((o) => ({ oid: o.oid, utf8Value: o.utf8Value })),
        }),
    },
    keySpec,
    encoding: spec.privateKey?.encoding ?? 'PKCS1',
    rotationPolicy: spec.privateKey?.rotationPolicy ?? 'Always',
    durationMs: duration(spec.duration, 'duration') ?? DEFAULT_DURATION_MS,
    renewBeforeMs: duration(spec.renewBefore, 'renewBefore'),
    renewBeforePercentage: spec.renewBeforePercentage,
    isCA,
    keyUsages,
    extKeyUsages,
    nameConstraints: flattenNameConstraints(spec.nameConstraints),
  };
}

function duration(text: string | undefined, field: string): number | undefined {
  if (text === undefined) return undefined;
  try {
    return parseGoDuration(text);
  } catch (err) {
    throw new MeshcaError('INVALID_RESOURCE', `spec.${field}: ${(err as Error).message}`, { cause: err });
  }
}

const LIST_FIELDS = [
  'organizations',
  'organizationalUnits',
  'countries',
  'provinces',
  'localities',
  'streetAddresses',
  'postalCodes',
] as const;

function pickLists(subject: CertificateSpec['subject']): DistinguishedName {
  const out: DistinguishedName = {};
  for (const field of LIST_FIELDS) {
    const values = subject?.[field];
    if (values !== undefined && values.length > 0) out[field] = [...values];
  }
  return out;
}

const LITERAL_ATTRIBUTES: Readonly<Record<string, keyof DistinguishedName>> = {
  CN: 'commonName',
  O: 'organizations',
  OU: 'organizationalUnits',
  C: 'countries',
  ST: 'provinces',
  L: 'localities',
  STREET: 'streetAddresses',
  POSTALCODE: 'postalCodes',
  SERIALNUMBER: 'serialNumber',
};

/**
 * Reads an RFC 4514 string ("CN=a,O=b\, inc") into a name. Only the attribute types meshca can
 * encode are accepted; multi-valued RDNs ("+") and hex values ("#…") are refused.
 */
export function parseLiteralSubject(text: string): DistinguishedName {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\\' && i + 1 < text.length) {
      current += text[++i];
    } else if (c === ',') {
      parts.push(current);
      current = '';
    } else if (c === '+') {
      throw invalid(
        'spec.literalSubject: multi-valued RDNs ("+") are not supported',
        'use one attribute per RDN',
      );
    } else current += c;
  }
  parts.push(current);
  const name: DistinguishedName = {};
  // RFC 4514 §2.1 writes the most specific RDN first; keep the order of each list as written.
  for (const part of parts) {
    const eq = part.indexOf('=');
    const type = part.slice(0, eq).trim().toUpperCase();
    const value = part.slice(eq + 1).trim();
    const field = LITERAL_ATTRIBUTES[type];
    if (eq < 0 || field === undefined || value.startsWith('#')) {
      throw invalid(
        `spec.literalSubject: cannot read ${JSON.stringify(part.slice(0, 60))}`,
        `write TYPE=value pairs with TYPE one of ${Object.keys(LITERAL_ATTRIBUTES).join(', ')}`,
      );
    }
    if (field === 'commonName' || field === 'serialNumber') name[field] = value;
    else (name[field] ??= []).push(value);
  }
  return name;
}

/** cert-manager's nameConstraints shape flattened to the PKI's. */
export function flattenNameConstraints(nc: CertificateSpec['nameConstraints']): NameConstraints | undefined {
  if (nc === undefined) return undefined;
  const out: NameConstraints = {};
  const set = (field: keyof Omit<NameConstraints, 'critical'>, values: string[] | undefined): void => {
    if (values !== undefined && values.length > 0) out[field] = [...values];
  };
  set('permittedDnsDomains', nc.permitted?.dnsDomains);
  set('permittedIpRanges', nc.permitted?.ipRanges);
  set('permittedEmailAddresses', nc.permitted?.emailAddresses);
  set('permittedUriDomains', nc.permitted?.uriDomains);
  set('excludedDnsDomains', nc.excluded?.dnsDomains);
  set('excludedIpRanges', nc.excluded?.ipRanges);
  set('excludedEmailAddresses', nc.excluded?.emailAddresses);
  set('excludedUriDomains', nc.excluded?.uriDomains);
  if (nc.critical !== undefined) out.critical = nc.critical;
  return Object.keys(out).length === 0 ? undefined : out;
}
