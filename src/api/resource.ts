/** Kubernetes object metadata, the subset meshca keeps. */
export interface ObjectMeta {
  name: string;
  /** Empty for cluster-scoped kinds (ClusterIssuer). */
  namespace?: string;
  uid?: string;
  /** Opaque; set by the store on every write, compared on update (optimistic concurrency). */
  resourceVersion?: string;
  /** Incremented by the store when `spec` (or `data` for Secrets) changes, never on a status update. */
  generation?: number;
  /** RFC 3339, set by the store on create. */
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
}

/** A reference from a dependent resource to its owner. */
export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/**
 * Any resource: apiVersion, kind, metadata, and the rest (spec, status, data …) kind-specific.
 * The store treats everything beyond metadata as opaque JSON, except `status`, which it updates
 * on its own through `updateStatus`.
 */
export interface Resource {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

/** Identifies a resource type: group/version and kind, e.g. cert-manager.io/v1 Certificate. */
export interface ResourceType {
  apiVersion: string;
  kind: string;
}

/** Identifies one resource. `namespace` is omitted for cluster-scoped kinds. */
export interface ResourceKey extends ResourceType {
  namespace?: string;
  name: string;
}
