import { setCondition } from '../../api/conditions.js';
import type { Resource, ResourceKey } from '../../api/resource.js';
import type { Controller, ReconcileContext, ReconcileResult } from '../runtime/controller.js';
import { failedAttempts, nextRevision, requestName, type RequestObject } from './certificate-resources.js';
import { decideIssuance } from './decide-issuance.js';
import { desiredCertificate } from './desired-certificate.js';
import { loadCertificateState } from './certificate-state.js';
import type { LifecycleSettings } from './lifecycle-options.js';
import { certificateKeysOf } from './lifecycle-options.js';
import { CERTIFICATE, CERTIFICATE_REQUEST, SECRET, keyOf } from './resource-types.js';
import { requestMismatch } from './spec-match.js';

/**
 * The trigger (cert-manager's trigger controller): decides when a Certificate needs a new
 * certificate and says so by setting `Issuing=True` with the reason; requeues at the renewal
 * time or the end of a backoff, so nothing scans periodically.
 */
export function createTriggerController(settings: LifecycleSettings): Controller {
  return {
    name: 'certificates-trigger',
    kind: CERTIFICATE,
    watches: [SECRET, CERTIFICATE_REQUEST],
    mapToKeys: (changed: Resource): ResourceKey[] => certificateKeysOf(changed),
    async reconcile(key: ResourceKey, ctx: ReconcileContext): Promise<ReconcileResult> {
      const { store } = ctx;
      const state = await loadCertificateState(store, key);
      if (state === undefined) return {};
      const { certificate, secret, currentRequest } = state;
      const ns = certificate.metadata.namespace;
      const now = ctx.now();
      let decision;
      try {
        let specChangedSinceFailure = false;
        if (failedAttempts(certificate) > 0) {
          const failed = await store.tryGet<RequestObject>(
            keyOf(CERTIFICATE_REQUEST, ns, requestName(certificate.metadata.name, nextRevision(certificate))),
          );
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
