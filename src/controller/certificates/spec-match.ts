import type { KeyObject } from 'node:crypto';
import { parseGoDuration } from '../../api/go-duration.js';
import {
  parseCsr,
  publicKeysEqual,
  type Certificate,
  type CertificationRequest,
  type DistinguishedName,
  type KeySpec,
  type PkiParser,
  type SubjectAltNames,
} from '../../pki/index.js';
import type { CertificateObject, RequestObject } from './certificate-resources.js';
import { issuerRefOf } from './certificate-resources.js';
import { ANNOTATIONS } from './resource-types.js';
import { DEFAULT_DURATION_MS, type DesiredCertificate } from './desired-certificate.js';
import { mapUsages } from './usages.js';

const show = (values: readonly string[]): string => `[${values.join(', ')}]`;

function sameSet(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  const x = new Set(a ?? []);
  const y = new Set(b ?? []);
  return x.size === y.size && [...x].every((v) => y.has(v));
}

const NAME_FIELDS: readonly (keyof DistinguishedName)[] = [
  'commonName',
  'serialNumber',
  'organizations',
  'organizationalUnits',
  'countries',
  'provinces',
  'localities',
  'streetAddresses',
  'postalCodes',
];

const SAN_FIELDS: readonly Exclude<keyof SubjectAltNames, 'otherNames'>[] = [
  'dnsNames',
  'ipAddresses',
  'uris',
  'emailAddresses',
];

const asList = (v: string | string[] | undefined): string[] =>
  v === undefined ? [] : typeof v === 'string' ? [v] : v;

/** DNS names compare without regard to ASCII case (RFC 4343): ACME servers lowercase them. */
const asciiLower = (names: readonly string[] | undefined): string[] =>
  (names ?? []).map((n) => n.replace(/[A-Z]/g, (c) => c.toLowerCase()));

/**
 * How to compare. A CSR is compared exactly. An issued certificate is compared as cert-manager
 * does: issuers rewrite subjects (ACME servers such as Let's Encrypt and pebble put the first
 * DNS name in the CN and drop other attributes; Vault roles do their own), so with no
 * commonName in the spec a CN that is one of the certificate's DNS names or IP addresses is
 * accepted, the spec's commonName may appear among the DNS names, and the other subject
 * attributes are compared through the current request instead (`otherSubjectFields: false`).
 * Without this an ACME certificate never matched its spec and was issued again forever.
 */
interface Comparison {
  readonly issued: boolean;
  readonly otherSubjectFields: boolean;
}

/** Why a subject, SANs and key spec differ from what is desired; undefined when they match. */
function namesAndKeyMismatch(
  what: string,
  desired: DesiredCertificate,
  subject: DistinguishedName,
  sans: SubjectAltNames,
  keySpec: KeySpec,
  how: Comparison = { issued: false, otherSubjectFields: true },
): string | undefined {
  for (const field of NAME_FIELDS) {
    if (field !== 'commonName' && !how.otherSubjectFields) continue;
    const want = asList(desired.subject[field]);
    const have = asList(subject[field]);
    if (sameSet(want, have)) continue;
    if (
      how.issued &&
      field === 'commonName' &&
      want.length === 0 &&
      have.every(
        (cn) => asciiLower(sans.dnsNames).includes(asciiLower([cn])[0]!) || (sans.ipAddresses ?? []).includes(cn),
      )
    )
      continue;
    return `the ${what}'s subject ${field} ${show(have)} differs from the spec's ${show(want)}`;
  }
  for (const field of SAN_FIELDS) {
    if (sameSet(desired.sans[field], sans[field])) continue;
    const cn = asList(desired.subject.commonName);
    if (how.issued && field === 'dnsNames') {
      // An issuer may lowercase the names, and may add the spec's commonName among them.
      const issued = asciiLower(sans.dnsNames);
      if (sameSet(asciiLower(desired.sans.dnsNames), issued)) continue;
      if (sameSet(asciiLower([...(desired.sans.dnsNames ?? []), ...cn]), issued)) continue;
    }
    return `the ${what}'s ${field} ${show(sans[field])} differ from spec.${field} ${show(desired.sans[field])}`;
  }
  // otherNames compare as "oid:value" strings, order-free like the other SAN kinds.
  const otherText = (s: SubjectAltNames): string[] =>
    (s.otherNames ?? []).map((o) => `${o.oid}:${o.utf8Value}`);
  if (!sameSet(otherText(desired.sans), otherText(sans))) {
    return `the ${what}'s otherNames ${show(otherText(sans))} differ from spec.otherNames ${show(otherText(desired.sans))}`;
  }
  if (keySpec.algorithm !== desired.keySpec.algorithm || keySpec.size !== desired.keySpec.size) {
    return `the ${what}'s key is ${keyText(keySpec)}, the spec asks for ${keyText(desired.keySpec)}`;
  }
  return undefined;
}

/** "ECDSA 256", "Ed25519". */
export function keyText(spec: KeySpec): string {
  return spec.size === undefined ? spec.algorithm : `${spec.algorithm} ${spec.size}`;
}

/**
 * Why an issued certificate no longer matches the spec (names, key, CA flag and, when
 * `checkLifetime` — no current request to compare with — usages and a lifetime longer than
 * asked); undefined when it matches. A lifetime shorter
 * than asked is not a mismatch: issuers clamp to their own notAfter.
 */
export function certificateMismatch(
  desired: DesiredCertificate,
  certificate: Certificate,
  checkLifetime: boolean,
): string | undefined {
  // Subject attributes besides the CN are compared through the current request when there is
  // one (requestMismatch); only without one (checkLifetime) are they read off the certificate.
  const names = namesAndKeyMismatch(
    'certificate',
    desired,
    certificate.subject,
    certificate.sans,
    certificate.keySpec,
    { issued: true, otherSubjectFields: checkLifetime },
  );
  if (names !== undefined) return names;
  if (certificate.isCA !== desired.isCA)
    return `the certificate has isCA ${certificate.isCA}, the spec asks for ${desired.isCA}`;
  // Upstream issuers choose usages themselves (Vault's sign-intermediate writes CertSign and
  // CRLSign, its roles add their own EKUs): while the current request exists, usages are compared
  // through it (requestMismatch), so such a certificate does not re-trigger issuance forever.
  if (
    checkLifetime &&
    certificate.keyUsages !== undefined &&
    !sameSet(certificate.keyUsages, desired.keyUsages)
  ) {
    return `the certificate's key usages ${show(certificate.keyUsages)} differ from the spec's ${show(desired.keyUsages)}`;
  }
  if (checkLifetime && !sameSet(certificate.extKeyUsages ?? [], desired.extKeyUsages)) {
    return `the certificate's extended key usages ${show(certificate.extKeyUsages ?? [])} differ from the spec's ${show(desired.extKeyUsages)}`;
  }
  if (checkLifetime) {
    const lifetime = certificate.notAfter.getTime() - certificate.notBefore.getTime();
    // A minute of slack covers an issuer's backdating of notBefore.
    if (lifetime > desired.durationMs + 60_000) {
      return `the certificate lives ${Math.round(lifetime / 1000)}s, longer than spec.duration (${Math.round(desired.durationMs / 1000)}s)`;
    }
  }
  return undefined;
}

/** The CSR of a CertificateRequest, or undefined when it cannot be read. */
export function requestCsr(
  request: RequestObject,
  parser: Pick<PkiParser, 'parseCsr'> = { parseCsr },
): CertificationRequest | undefined {
  try {
    return parser.parseCsr(Buffer.from(request.spec.request, 'base64').toString('latin1'));
  } catch {
    return undefined;
  }
}

/**
 * Why a CertificateRequest does not serve the Certificate as it is now (cert-manager's
 * RequestMatchesSpec): issuer, duration, CA flag, usages, names and key of its CSR, and, when
 * given, the public key it must carry. Undefined when it matches.
 */
export function requestMismatch(
  certificate: CertificateObject,
  desired: DesiredCertificate,
  request: RequestObject,
  key?: KeyObject,
  parser?: Pick<PkiParser, 'parseCsr'>,
): string | undefined {
  const want = issuerRefOf(certificate.spec);
  const have = issuerRefOf(request.spec);
  if (want.name !== have.name || want.kind !== have.kind || want.group !== have.group) {
    return `the request names issuer ${have.kind}/${have.name}, the spec ${want.kind}/${want.name}`;
  }
  let duration: number;
  try {
    duration =
      request.spec.duration === undefined ? DEFAULT_DURATION_MS : parseGoDuration(request.spec.duration);
  } catch {
    return `the request's duration ${JSON.stringify(request.spec.duration)} cannot be read`;
  }
  if (duration !== desired.durationMs)
    return `the request asks for duration ${request.spec.duration ?? '2160h'}, the spec for ${certificate.spec.duration ?? '2160h'}`;
  if ((request.spec.isCA ?? false) !== desired.isCA)
    return `the request has isCA ${request.spec.isCA ?? false}, the spec ${desired.isCA}`;
  const usages = mapUsages(request.spec.usages, request.spec.isCA ?? false);
  if (!sameSet(usages.keyUsages, desired.keyUsages) || !sameSet(usages.extKeyUsages, desired.extKeyUsages)) {
    return 'the request asks for other usages than the spec';
  }
  const constraints = request.metadata.annotations?.[ANNOTATIONS.nameConstraints];
  const wantConstraints =
    desired.nameConstraints === undefined ? undefined : JSON.stringify(desired.nameConstraints);
  if (constraints !== wantConstraints) return 'the request carries other name constraints than the spec';
  const csr = requestCsr(request, parser);
  if (csr === undefined) return 'the request holds no readable CSR';
  const names = namesAndKeyMismatch('request', desired, csr.subject, csr.sans, csr.keySpec);
  if (names !== undefined) return names;
  if (key !== undefined && !publicKeysEqual(key, csr.publicKey))
    return 'the request was made for another private key';
  return undefined;
}
