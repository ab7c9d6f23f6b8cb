import type { Resource, ResourceKey, ResourceType } from '../../api/resource.js';
import { toMeshcaError } from '../../errors/index.js';
import type { Controller, ReconcileContext, ReconcileResult } from '../runtime/controller.js';
import type { AcmeIssuerSource } from './acme-issuer-source.js';

/**
 * Makes the account-key Secret of an ACME Issuer or ClusterIssuer as soon as the issuer exists
 * (not only at its first Order), so the readiness controller can register the account.
 */
export function createAccountKeyController(kind: ResourceType, issuers: AcmeIssuerSource): Controller {
  return {
    name: `${kind.kind.toLowerCase()}s-acme-account-key`,
    kind,
    watches: [],
    mapToKeys: () => [],
    async reconcile(key: ResourceKey, ctx: ReconcileContext): Promise<ReconcileResult> {
      const resource = await ctx.store.tryGet<Resource>(key);
      if (resource === undefined || ((resource['spec'] ?? {}) as { acme?: unknown }).acme === undefined)
        return {};
      try {
        await issuers.issuer(ctx.store, resource, ctx.now);
      } catch (err) {
        // The readiness controller reports why on the issuer; nothing to retry here.
        ctx.log('debug', 'acme issuer not usable yet', {
          issuer: key.name,
          error: toMeshcaError(err).message,
        });
      }
      return {};
    },
  };
}
