import type { ConditionUpdate } from '../../api/conditions.js';
import type { Resource } from '../../api/resource.js';
import type { PkiParser } from '../../pki/index.js';
import type { CertificateObject, RequestObject } from './certificate-resources.js';
import { formatTime } from './resource-types.js';
import { inspectSecret } from './secret-state.js';

/** cert-manager's message of a Ready certificate. */
export const READY_MESSAGE = 'Certificate is up to date and has not expired';

/** What the readiness decision finds: the Ready condition and the validity to show in status. */
export interface Readiness {
  readonly condition: ConditionUpdate;
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  readonly renewalTime?: Date;
}

/**
 * The Ready condition of a Certificate from its spec, Secret and the time (cert-manager's
 * readiness controller): True when the Secret holds a key pair matching the spec that is valid
 * now; else False with the reason (DoesNotExist, MissingData, InvalidKeyPair, IncorrectIssuer,
 * SecretMismatch, Expired, Failed for a spec that cannot be issued) and a message naming it.
 * `parser` may remember parses (the answer is the same); the plain parsers when omitted.
 */
export function decideReadiness(
  certificate: CertificateObject,
  secret: Resource | undefined,
  currentRequest: RequestObject | undefined,
  now: Date,
  parser?: PkiParser,
): Readiness {
  let state;
  try {
    state = inspectSecret(certificate, secret, currentRequest, parser);
  } catch (err) {
    return {
      condition: {
        type: 'Ready',
        status: 'False',
        reason: 'Failed',
        message: `The spec cannot be issued: ${(err as Error).message}`,
      },
    };
  }
  if (!state.ok)
    return {
      condition: {
        type: 'Ready',
        status: 'False',
        reason: state.trouble.reason,
        message: state.trouble.message,
      },
    };
  const { notBefore, notAfter } = state.pair.certificate;
  const times = { notBefore, notAfter, renewalTime: state.renewalTime };
  if (now.getTime() >= notAfter.getTime()) {
    return {
      ...times,
      condition: {
        type: 'Ready',
        status: 'False',
        reason: 'Expired',
        message: `Certificate expired on ${formatTime(notAfter)}`,
      },
    };
  }
  if (now.getTime() < notBefore.getTime()) {
    return {
      ...times,
      condition: {
        type: 'Ready',
        status: 'False',
        reason: 'NotYetValid',
        message: `Certificate is not valid before ${formatTime(notBefore)}`,
      },
    };
  }
  return { ...times, condition: { type: 'Ready', status: 'True', reason: 'Ready', message: READY_MESSAGE } };
}

