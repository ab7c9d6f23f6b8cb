import { getCondition, setCondition } from '../../api/conditions.js';
import type { ResourceKey } from '../../api/resource.js';
import type { Controller, ReconcileContext, ReconcileResult } from '../runtime/controller.js';
import { issuerRefOf, type RequestObject } from './certificate-resources.js';
import type { LifecycleSettings } from './lifecycle-options.js';
import { CERTIFICATE_REQUEST } from './resource-types.js';

/** The approval the built-in approver writes. */
export const APPROVED_MESSAGE = 'Certificate request has been approved by meshca';

/**
 * Whether the built-in approver approves this request now: approval is on, the request names a
 * cert-manager.io issuer, and it is neither Approved nor Denied yet (both are final).
 */
export function shouldApprove(request: RequestObject, approval: boolean): boolean {
  if (!approval) return false;
  const conditions = request.status?.conditions;
  if (getCondition(conditions, 'Approved') !== undefined || getCondition(conditions, 'Denied') !== undefined)
    return false;
  return issuerRefOf(request.spec).group === 'cert-manager.io';
}

/** The built-in approver (cert-manager's approver): sets `Approved=True` with reason cert-manager.io. */
export function createApproverController(settings: LifecycleSettings): Controller {
  return {
    name: 'certificaterequests-approver',
    kind: CERTIFICATE_REQUEST,
    watches: [],
    mapToKeys: () => [],
    async reconcile(key: ResourceKey, ctx: ReconcileContext): Promise<ReconcileResult> {
      const request = await ctx.store.tryGet<RequestObject>(key);
      if (request === undefined || !shouldApprove(request, settings.approval)) return {};
      const conditions = setCondition(
        request.status?.conditions,
        { type: 'Approved', status: 'True', reason: 'cert-manager.io', message: APPROVED_MESSAGE },
        ctx.now(),
      );
      await ctx.store.updateStatus({ ...request, status: { ...request.status, conditions } });
      return {};
    },
  };
}
