import type { OwnerReference, Resource } from '../api/resource.js';

/**
 * `{ ownerReferences: [controller reference to owner] }` to spread into a dependent's metadata, or
 * nothing when the owner has no uid yet (the store sets one on every create).
 */
export function controlledBy(owner: Resource): { ownerReferences?: OwnerReference[] } {
  const uid = owner.metadata.uid;
  if (uid === undefined) return {};
  return {
    ownerReferences: [
      { apiVersion: owner.apiVersion, kind: owner.kind, name: owner.metadata.name, uid, controller: true, blockOwnerDeletion: true },
    ],
  };
}
