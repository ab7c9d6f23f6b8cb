import { setCondition } from '../../api/conditions.js';
import type { Resource, ResourceKey } from '../../api/resource.js';
import { secretData } from '../../api/secret-data.js';
import type { PkiParser } from '../../pki/index.js';
import type { Controller, ReconcileContext, ReconcileResult } from '../runtime/controller.js';
import { failedAttempts, nextRevision, requestName, type RequestObject } from './certificate-resources.js';
import { decideIssuance } from './decide-issuance.js';
import { desiredCertificate } from './desired-certificate.js';
import { loadCertificateState } from './certificate-state.js';
import { SecretNameIndex, certificateKeysOfWatched, type LifecycleSettings } from './lifecycle-options.js';
import { CERTIFICATE, CERTIFICATE_REQUEST, SECRET, formatTime, keyOf } from './resource-types.js';
import { requestMismatch } from './spec-match.js';

/**
 * Whether the Secret holds exactly the certificate the issuer returned for `request` (the leaf of
 * its status.certificate): then a mismatch with the spec is the issuer's answer, not a spec change
 * or someone else's write to the Secret.
 */
function holdsIssuedCertificate(secret: Resource | undefined, request: RequestObject, parser: PkiParser): boolean {
  const stored = secret === undefined ? undefined : secretData(secret, 'tls.crt');
  const issued = request.status?.certificate;
  if (stored === undefined || issued === undefined) return false;
  try {
    const [a] = parser.parseCertificates(stored.toString('latin1'));
    const [b] = parser.parseCertificates(Buffer.from(issued, 'base64').toString('latin1'));
    return a !== undefined && b !== undefined && a.der.equals(b.der);
  } catch {
    return false;
  }
}

/**
 * The trigger (cert-manager's trigger controller): decides when a Certificate needs a new
 * certificate and says so by setting `Issuing=True` with the reason; requeues at the renewal
 * time or the end of a backoff, so nothing scans periodically.
 */
export function createTriggerController(settings: LifecycleSettings): Controller {
  const secrets = new SecretNameIndex();
  return {
    name: 'certificates-trigger',
    kind: CERTIFICATE,
    watches: [SECRET, CERTIFICATE_REQUEST],
    mapToKeys: (changed: Resource): ResourceKey[] => certificateKeysOfWatched(changed, secrets),
    async reconcile(key: ResourceKey, ctx: ReconcileContext): Promise<ReconcileResult> {
      const { store } = ctx;
      const state = await loadCertificateState(store, key, secrets);
      if (state === undefined) return {};
      const { certificate, secret, currentRequest } = state;
      const ns = certificate.metadata.namespace;
      const now = ctx.now();
      let decision;
      try {
        let specChangedSinceFailure = false;
        if (failedAttempts(certificate) > 0) {
          // The request that failed: the next revision's, or, for an issued certificate that did
          // not match the spec (below), the current one.
          const failed =
            (await store.tryGet<RequestObject>(
              keyOf(CERTIFICATE_REQUEST, ns, requestName(certificate.metadata.name, nextRevision(certificate))),
            )) ?? currentRequest;
          specChangedSinceFailure =
            failed !== undefined &&
            requestMismatch(
              certificate,
              desiredCertificate(certificate.spec),
              failed,
              undefined,
              settings.parser,
            ) !== undefined;
        }
        decision = decideIssuance({
          certificate,
          secret,
          currentRequest,
          specChangedSinceFailure,
          now,
          backoffBaseMs: settings.backoffBaseMs,
          parser: settings.parser,
        });
      } catch (err) {
        // A spec meshca cannot issue: the readiness controller reports it; nothing to trigger.
        ctx.log('warn', 'certificate spec cannot be issued', {
          certificate: `${ns}/${certificate.metadata.name}`,
          error: (err as Error).message,
        });
        return {};
      }
      if ('busy' in decision) return {};
      if ('wait' in decision) return { requeueAt: decision.wait };
      // The issuer answered the current request, which matches the spec, with a certificate that
      // does not: issuing again at once would most likely bring the same answer, again and again
      // (cert-manager's re-issuance loop, cert-manager#8380 and #6714). The first time after an
      // issuance this counts as a failed issuance, and the next attempt waits out the backoff.
      // (Failures are cleared by a successful issuance, so each revision is held back once.)
      if (
        decision.issue.reason === 'SecretMismatch' &&
        failedAttempts(certificate) === 0 &&
        currentRequest !== undefined &&
        holdsIssuedCertificate(secret, currentRequest, settings.parser) &&
        requestMismatch(certificate, desiredCertificate(certificate.spec), currentRequest, undefined, settings.parser) ===
          undefined
      ) {
        const message = `The issuer's certificate for request ${currentRequest.metadata.name} does not match the spec (${decision.issue.message}); issuing again would likely repeat it, so the next attempt waits out the backoff`;
        const status = {
          ...certificate.status,
          failedIssuanceAttempts: 1,
          lastFailureTime: formatTime(now),
          conditions: setCondition(
            certificate.status?.conditions,
            { type: 'Issuing', status: 'False', reason: 'Failed', message },
            now,
          ),
        };
        const event = await settings.events.ops(store, certificate, { type: 'Warning', reason: 'Failed', message }, now);
        await store.transaction([{ op: 'updateStatus', resource: { ...certificate, status } }, ...event]);
        ctx.log('warn', 'issued certificate does not match its spec', {
          certificate: `${ns}/${certificate.metadata.name}`,
          error: decision.issue.message,
        });
        return {};
      }
      const status = {
        ...certificate.status,
        conditions: setCondition(
          certificate.status?.conditions,
          {
            type: 'Issuing',
            status: 'True',
            reason: decision.issue.reason,
            message: decision.issue.message,
            ...(certificate.metadata.generation !== undefined && {
              observedGeneration: certificate.metadata.generation,
            }),
          },
          now,
        ),
      };
      const event = await settings.events.ops(
        store,
        certificate,
        { type: 'Normal', reason: 'Issuing', message: decision.issue.message },
        now,
      );
      await store.transaction([{ op: 'updateStatus', resource: { ...certificate, status } }, ...event]);
      ctx.log('info', 'certificate issuance triggered', {
        certificate: `${ns}/${certificate.metadata.name}`,
        reason: decision.issue.reason,
      });
      return {};
    },
  };
}
