import type { Condition } from '../../api/common-schemas.js';
import { getCondition, setCondition, type ConditionUpdate } from '../../api/conditions.js';
import type { Resource, ResourceKey } from '../../api/resource.js';
import { isMeshcaError } from '../../errors/index.js';
import type { ConditionStatus } from '../../telemetry/cert-manager-metrics.js';
import type { Controller, ReconcileContext, ReconcileResult } from '../runtime/controller.js';
import { requestName } from './certificate-resources.js';
import { decideReadiness } from './readiness.js';
import { SecretNameIndex, certificateKeysOfWatched, type LifecycleSettings } from './lifecycle-options.js';
import { CERTIFICATE, CERTIFICATE_REQUEST, SECRET, formatTime, keyOf, parseTime } from './resource-types.js';
import { loadCertificateState } from './certificate-state.js';

/** cert-manager's default revisionHistoryLimit since v1.18: keep only the current request. */
export const DEFAULT_REVISION_HISTORY_LIMIT = 1;

/** The revisions of CertificateRequests to delete so at most `limit` remain: every existing one at or below revision − limit. */
export function prunableRevisions(revision: number, limit: number): number[] {
  const out: number[] = [];
  for (let r = revision - limit; r >= 1; r--) out.push(r);
  return out;
}

const sameCondition = (a: Condition | undefined, b: ConditionUpdate): boolean =>
  a !== undefined &&
  a.status === b.status &&
  a.reason === b.reason &&
  a.message === b.message &&
  a.observedGeneration === b.observedGeneration;

/**
 * The readiness controller: keeps `Ready`, notBefore, notAfter and renewalTime true to the
 * Secret; prunes CertificateRequests beyond `revisionHistoryLimit` (default 1, as cert-manager
 * 1.18+); exports cert-manager's Certificate metrics.
 */
export function createReadinessController(settings: LifecycleSettings): Controller {
  const secrets = new SecretNameIndex();
  return {
    name: 'certificates-readiness',
    kind: CERTIFICATE,
    watches: [SECRET, CERTIFICATE_REQUEST],
    mapToKeys: (changed: Resource): ResourceKey[] => certificateKeysOfWatched(changed, secrets),
    async reconcile(key: ResourceKey, ctx: ReconcileContext): Promise<ReconcileResult> {
      const { store } = ctx;
      const state = await loadCertificateState(store, key, secrets);
      if (state === undefined) {
        settings.metrics?.removeCertificate(key.namespace ?? '', key.name);
        return {};
      }
      const { certificate, secret, currentRequest } = state;
      const ns = certificate.metadata.namespace;
      const revision = certificate.status?.revision;
      const now = ctx.now();
      const readiness = decideReadiness(certificate, secret, currentRequest, now, settings.parser);
      const condition: ConditionUpdate = {
        ...readiness.condition,
        ...(certificate.metadata.generation !== undefined && {
          observedGeneration: certificate.metadata.generation,
        }),
      };
      const status = { ...certificate.status };
      let changed = !sameCondition(getCondition(status.conditions, 'Ready'), condition);
      status.conditions = setCondition(status.conditions, condition, now);
      for (const field of ['notBefore', 'notAfter', 'renewalTime'] as const) {
        const at = readiness[field];
        if (at !== undefined && status[field] !== formatTime(at)) {
          status[field] = formatTime(at);
          changed = true;
        }
      }
      let written = certificate;
      if (changed) written = await store.updateStatus({ ...certificate, status });

      if (revision !== undefined) {
        const limit = certificate.spec.revisionHistoryLimit ?? DEFAULT_REVISION_HISTORY_LIMIT;
        // Requests are made in revision order, so the first missing one ends the walk down.
        for (const r of prunableRevisions(revision, limit)) {
          try {
            await store.delete(keyOf(CERTIFICATE_REQUEST, ns, requestName(certificate.metadata.name, r)));
          } catch (err) {
            if (isMeshcaError(err, 'NOT_FOUND')) break;
            throw err;
          }
        }
      }

      if (settings.metrics !== undefined) {
        const ready: ConditionStatus = getCondition(written.status?.conditions, 'Ready')?.status ?? 'Unknown';
        // The spec as stored, not issuerRefOf's defaults: cert-manager exports the raw spec. A
        // Certificate validated on the way in (`meshca apply`) was stored with kind and group
        // defaulted, and what was written is not kept: those export the defaults (documented).
        const ref: { name: string; kind?: string; group?: string } = certificate.spec.issuerRef;
        const notAfter = parseTime(written.status?.notAfter);
        const renewal = parseTime(written.status?.renewalTime);
        settings.metrics.updateCertificate({
          name: certificate.metadata.name,
          namespace: ns ?? '',
          issuerRef: {
            name: ref.name,
            ...(ref.kind !== undefined && { kind: ref.kind }),
            ...(ref.group !== undefined && { group: ref.group }),
          },
          ready,
          ...(notAfter !== undefined && { notAfter }),
          ...(renewal !== undefined && { renewalTime: renewal }),
        });
      }
      // Wake up when the certificate expires, to report it; before that, changes wake us.
      const notAfter = readiness.notAfter;
      if (notAfter !== undefined && now.getTime() < notAfter.getTime()) return { requeueAt: notAfter };
      return {};
    },
  };
}
