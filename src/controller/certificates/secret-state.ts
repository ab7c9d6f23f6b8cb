import type { KeyObject } from 'node:crypto';
import type { Resource } from '../../api/resource.js';
import { secretData } from '../../api/secret-data.js';
import {
  parseCertificates,
  parseCsr,
  parsePrivateKey,
  publicKeysEqual,
  renewalTime,
  type Certificate,
  type PkiParser,
} from '../../pki/index.js';
import { issuerRefOf, type CertificateObject, type RequestObject } from './certificate-resources.js';
import { desiredCertificate, type DesiredCertificate } from './desired-certificate.js';
import { ANNOTATIONS } from './resource-types.js';
import { certificateMismatch, requestMismatch } from './spec-match.js';

/** Why a Certificate's Secret does not hold what its spec asks for: cert-manager's trigger reasons. */
export type SecretTroubleReason =
  'DoesNotExist' | 'MissingData' | 'InvalidKeyPair' | 'IncorrectIssuer' | 'SecretMismatch';

/** One reason with a message naming what is wrong. */
export interface SecretTrouble {
  readonly reason: SecretTroubleReason;
  readonly message: string;
}

/** A readable key pair from a Secret: the leaf, its chain, its key. */
export interface SecretKeyPair {
  readonly certificate: Certificate;
  /** Everything in tls.crt after the leaf. */
  readonly chain: readonly Certificate[];
  readonly key: KeyObject;
}

/** The plain parsers: what decisions use when no cache is given (tests, `meshca init`). */
export const PLAIN_PARSER: PkiParser = { parsePrivateKey, parseCertificates, parseCsr };

/** What a Secret says about its Certificate. */
export type SecretState =
  | { readonly ok: false; readonly trouble: SecretTrouble }
  | {
      readonly ok: true;
      readonly pair: SecretKeyPair;
      readonly desired: DesiredCertificate;
      /** From the certificate and the spec's renewBefore / renewBeforePercentage (DESIGN §4). */
      readonly renewalTime: Date;
    };

/** Reads tls.crt and tls.key; a trouble when either is missing, unreadable, or they do not belong together. */
export function readKeyPair(
  secret: Resource,
  parser: PkiParser = PLAIN_PARSER,
): SecretKeyPair | SecretTrouble {
  const name = `Secret ${secret.metadata.namespace ?? ''}/${secret.metadata.name}`;
  const certBytes = secretData(secret, 'tls.crt');
  const keyBytes = secretData(secret, 'tls.key');
  if (certBytes === undefined || certBytes.length === 0 || keyBytes === undefined || keyBytes.length === 0) {
    const missing = [
      certBytes?.length ? undefined : 'tls.crt',
      keyBytes?.length ? undefined : 'tls.key',
    ].filter(Boolean);
    return {
      reason: 'MissingData',
      message: `Issuing certificate as ${name} lacks ${missing.join(' and ')}`,
    };
  }
  let certs: Certificate[];
  try {
    certs = parser.parseCertificates(certBytes.toString('latin1'));
  } catch (err) {
    return {
      reason: 'InvalidKeyPair',
      message: `Issuing certificate as tls.crt of ${name} cannot be read: ${(err as Error).message}`,
    };
  }
  let key: KeyObject;
  try {
    key = parser.parsePrivateKey(keyBytes);
  } catch (err) {
    return {
      reason: 'InvalidKeyPair',
      message: `Issuing certificate as tls.key of ${name} cannot be read: ${(err as Error).message}`,
    };
  }
  const [leaf, ...chain] = certs;
  if (leaf === undefined)
    return {
      reason: 'MissingData',
      message: `Issuing certificate as tls.crt of ${name} holds no certificate`,
    };
  if (!publicKeysEqual(key, leaf.publicKey)) {
    return {
      reason: 'InvalidKeyPair',
      message: `Issuing certificate as tls.key of ${name} is not the key of its certificate`,
    };
  }
  return { certificate: leaf, chain, key };
}

/**
 * Checks a Certificate's Secret against its spec, in cert-manager's order: missing, missing data,
 * unreadable or mismatched key pair, issuer annotations, then the certificate against the spec
 * (against `currentRequest`, the request of the current revision, for what the certificate cannot
 * show: duration and usages as asked). `parser` may remember parses; the answer is the same.
 */
export function inspectSecret(
  certificate: CertificateObject,
  secret: Resource | undefined,
  currentRequest: RequestObject | undefined,
  parser: PkiParser = PLAIN_PARSER,
): SecretState {
  const secretName = certificate.spec.secretName;
  if (secret === undefined) {
    return {
      ok: false,
      trouble: { reason: 'DoesNotExist', message: `Issuing certificate as Secret does not exist` },
    };
  }
  const pair = readKeyPair(secret, parser);
  if (!('certificate' in pair)) return { ok: false, trouble: pair };
  const ref = issuerRefOf(certificate.spec);
  const annotations = secret.metadata.annotations ?? {};
  const seen = {
    name: annotations[ANNOTATIONS.issuerName] ?? '',
    kind: annotations[ANNOTATIONS.issuerKind] ?? '',
    group: annotations[ANNOTATIONS.issuerGroup] ?? '',
  };
  if (seen.name !== ref.name || seen.kind !== ref.kind || (seen.group !== ref.group && seen.group !== '')) {
    return {
      ok: false,
      trouble: {
        reason: 'IncorrectIssuer',
        message: `Issuing certificate as Secret ${secretName} was issued by ${seen.kind || '(no kind)'} "${seen.name}", the spec names ${ref.kind} "${ref.name}"`,
      },
    };
  }
  const desired = desiredCertificate(certificate.spec);
  const why =
    certificateMismatch(desired, pair.certificate, currentRequest === undefined) ??
    (currentRequest === undefined
      ? undefined
      : requestMismatch(certificate, desired, currentRequest, undefined, parser));
  if (why !== undefined) {
    return {
      ok: false,
      trouble: {
        reason: 'SecretMismatch',
        message: `Issuing certificate as Secret ${secretName} is out of date: ${why}`,
      },
    };
  }
  return {
    ok: true,
    pair,
    desired,
    renewalTime: renewalTime({
      notBefore: pair.certificate.notBefore,
      notAfter: pair.certificate.notAfter,
      ...(desired.renewBeforeMs !== undefined && { renewBeforeMs: desired.renewBeforeMs }),
      ...(desired.renewBeforePercentage !== undefined && {
        renewBeforePercentage: desired.renewBeforePercentage,
      }),
    }),
  };
}
