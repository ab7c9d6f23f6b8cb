import { createHash } from 'node:crypto';
import type { Certificate as CertificateResource, CertificateSpec } from '../../api/certificate.js';
import type { CertificateRequest } from '../../api/certificate-request.js';
import type { Condition } from '../../api/common-schemas.js';
import { getCondition } from '../../api/conditions.js';
import type { Resource } from '../../api/resource.js';
import { ANNOTATIONS } from './resource-types.js';

/** A Certificate as the store holds it. */
export type CertificateObject = CertificateResource & Resource;
/** A CertificateRequest as the store holds it. */
export type RequestObject = CertificateRequest & Resource;

/** An issuerRef with cert-manager's defaults applied (kind Issuer, group cert-manager.io). */
export interface ResolvedIssuerRef {
  readonly name: string;
  readonly kind: 'Issuer' | 'ClusterIssuer';
  readonly group: string;
}

/** The issuerRef of a spec with defaults; a stored object may lack what validation would have filled in. */
export function issuerRefOf(spec: Pick<CertificateSpec, 'issuerRef'>): ResolvedIssuerRef {
  const ref = spec.issuerRef as { name: string; kind?: string; group?: string };
  return {
    name: ref.name,
    kind: ref.kind === 'ClusterIssuer' ? 'ClusterIssuer' : 'Issuer',
    group: ref.group === undefined || ref.group === '' ? 'cert-manager.io' : ref.group,
  };
}

/** True when the condition of this type has status True. */
export function isTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return getCondition(conditions, type)?.status === 'True';
}

/** The conditions without the one of this type. */
export function withoutCondition(conditions: readonly Condition[] | undefined, type: string): Condition[] {
  return (conditions ?? []).filter((c) => c.type !== type);
}

/** The longest name of a resource (a DNS-1123 subdomain). */
export const MAX_NAME_LENGTH = 253;
/** How much of a long Certificate name a shortened generated name keeps, as cert-manager does. */
export const SHORT_NAME_PREFIX_LENGTH = 52;

/** The first 52 characters of a name, cut back to end in a letter or digit so "-" may follow. */
function shortPrefix(name: string): string {
  return name.slice(0, SHORT_NAME_PREFIX_LENGTH).replace(/[-.]+$/, '');
}

/**
 * `<base>-<suffix>` when that is a name of at most 253 characters; else a short prefix of `base`,
 * "-" and `suffix`. `base` is a resource name and `suffix` letters and digits, so the result is
 * always a valid name; telling two results apart is up to the suffix.
 */
export function suffixedName(base: string, suffix: string): string {
  const full = `${base}-${suffix}`;
  return full.length <= MAX_NAME_LENGTH ? full : `${shortPrefix(base)}-${suffix}`;
}

/**
 * The name of the CertificateRequest of one revision of a Certificate: `<certificate>-<revision>`
 * while that fits in 253 characters (the names stores already hold). A longer one is shortened
 * like cert-manager does: the Certificate name's first 52 characters, "-" and 16 hex digits of
 * the SHA-256 of the full name, unique per Certificate and revision. It cannot be mistaken for
 * the plain name of another Certificate, which ends in "-" and a revision number: that would
 * take a revision of some fifteen digits.
 */
export function requestName(certificateName: string, revision: number): string {
  const full = `${certificateName}-${revision}`;
  if (full.length <= MAX_NAME_LENGTH) return full;
  return `${shortPrefix(certificateName)}-${createHash('sha256').update(full).digest('hex').slice(0, 16)}`;
}

/** The revision the next issuance will produce. */
export function nextRevision(certificate: CertificateObject): number {
  return (certificate.status?.revision ?? 0) + 1;
}

/** How many issuances have failed since the last success. */
export function failedAttempts(certificate: CertificateObject): number {
  return certificate.status?.failedIssuanceAttempts ?? 0;
}

/**
 * True when `request` was made for the current issuance attempt (its `meshca.io/issuance-attempt`
 * is the Certificate's failedIssuanceAttempts). A request of an earlier attempt, whatever its
 * outcome, is no news for the issuing controller and is replaced by the request manager: the one
 * rule both follow, so such a request can never block an issuance.
 */
export function isOfCurrentAttempt(certificate: CertificateObject, request: RequestObject): boolean {
  return request.metadata.annotations?.[ANNOTATIONS.issuanceAttempt] === String(failedAttempts(certificate));
}

/** How a CertificateRequest ended, if it has: issued, failed or denied. */
export function requestOutcome(
  request: RequestObject,
): { state: 'issued' } | { state: 'failed' | 'denied'; message: string } | { state: 'pending' } {
  const conditions = request.status?.conditions;
  const denied = getCondition(conditions, 'Denied');
  if (denied?.status === 'True')
    return { state: 'denied', message: denied.message ?? 'the request was denied' };
  const ready = getCondition(conditions, 'Ready');
  if (ready?.status === 'True' && request.status?.certificate !== undefined) return { state: 'issued' };
  if (ready?.status === 'False' && (ready.reason === 'Failed' || ready.reason === 'Denied')) {
    return {
      state: ready.reason === 'Denied' ? 'denied' : 'failed',
      message: ready.message ?? 'issuance failed',
    };
  }
  return { state: 'pending' };
}
