import { findKind } from '../../api/kinds.js';
import type { OwnerReference, Resource, ResourceKey } from '../../api/resource.js';
import { isMeshcaError } from '../../errors/index.js';
import type { ReconcileContext } from '../runtime/controller.js';

/** The key of the object an owner reference names, in the dependent's namespace unless the kind is cluster-scoped. */
function ownerKey(dependent: Resource, ref: OwnerReference): ResourceKey {
  const namespaced = findKind(ref.apiVersion, ref.kind)?.namespaced ?? true;
  return {
    apiVersion: ref.apiVersion,
    kind: ref.kind,
    name: ref.name,
    ...(namespaced && dependent.metadata.namespace !== undefined && { namespace: dependent.metadata.namespace }),
  };
}

/**
 * Whether a dependent is garbage, as the Kubernetes garbage collector decides it: it has owner
 * references, and none of them names an object that exists with that uid. An object of the same
 * name but another uid is a new object, not the owner (a request deleted and created again under
 * its name does not keep the old one's Order). An object without owner references is never
 * garbage.
 */
export async function ownersGone(ctx: ReconcileContext, dependent: Resource): Promise<boolean> {
  const refs = dependent.metadata.ownerReferences ?? [];
  if (refs.length === 0) return false;
  for (const ref of refs) {
    const owner = await ctx.store.tryGet<Resource>(ownerKey(dependent, ref));
    if (owner !== undefined && owner.metadata.uid === ref.uid) return false;
  }
  return true;
}

/** Whether `dependent` names an owner of this kind and name (any uid). */
export function refersTo(dependent: Resource, kind: string, name: string): boolean {
  return (dependent.metadata.ownerReferences ?? []).some((o) => o.kind === kind && o.name === name);
}

/**
 * Deletes an object as it was read: CONFLICT when it changed since (the caller reads it again and
 * decides again), nothing when it is already gone.
 */
export async function deleteAsRead(ctx: ReconcileContext, r: Resource): Promise<void> {
  await ctx.store
    .delete({
      apiVersion: r.apiVersion,
      kind: r.kind,
      name: r.metadata.name,
      ...(r.metadata.namespace !== undefined && { namespace: r.metadata.namespace }),
      ...(r.metadata.resourceVersion !== undefined && { resourceVersion: r.metadata.resourceVersion }),
    })
    .catch((err: unknown) => {
      if (!isMeshcaError(err, 'NOT_FOUND')) throw err;
    });
}
