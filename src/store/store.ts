import type { AuditRecord } from '../api/audit-record.js';
import type { Resource, ResourceKey, ResourceType } from '../api/resource.js';

/** Options for list. */
export interface ListOptions {
  /** Only this namespace; omitted = all namespaces. */
  namespace?: string;
  /** Kubernetes label selector: `a=b,c!=d,e in (f,g),h notin (i),j,!k`. */
  labelSelector?: string;
  /** Paging: at most this many items, continue with `continue` from the last result. */
  limit?: number;
  continue?: string;
}

/** A list result: items plus the store's resourceVersion at the moment of the read. */
export interface ResourceList<T extends Resource = Resource> {
  items: T[];
  /** Start a watch from here to see every change after this list. */
  resourceVersion: string;
  /** Present when more items remain (see ListOptions.limit). */
  continue?: string;
}

/** One change seen by a watch. */
export interface WatchEvent<T extends Resource = Resource> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  /** The object after the change; for DELETED, the last state with the deletion's resourceVersion. */
  object: T;
}

/** Options for watch. */
export interface WatchOptions {
  namespace?: string;
  labelSelector?: string;
  /**
   * Deliver every event strictly after this resourceVersion. Omitted = from now.
   * Too old (compacted away) = the watch fails with a GONE MeshcaError; list again and re-watch.
   */
  resourceVersion?: string;
}

/** A running watch: an async iterable of events; close() ends it. */
export interface Watch<T extends Resource = Resource> extends AsyncIterable<WatchEvent<T>> {
  close(): void;
}

/** A lease for leader election (coordination.k8s.io/v1 Lease semantics). */
export interface Lease {
  name: string;
  namespace: string;
  /** Empty after the holder released it. */
  holderIdentity: string;
  /** ms since the epoch. */
  acquireTime: number;
  /** ms since the epoch. */
  renewTime: number;
  leaseDurationMs: number;
  /** Incremented each time the holder changes. */
  leaseTransitions: number;
}

/** A request to acquire or renew a lease at an instant (time is injected). */
export interface LeaseRequest {
  name: string;
  namespace: string;
  holderIdentity: string;
  leaseDurationMs: number;
  /** ms since the epoch, from the caller's clock. */
  now: number;
}

/**
 * The hub of meshca: resources with Kubernetes semantics. Every backend (SQLite, PostgreSQL,
 * the Kubernetes API) implements this and passes the conformance suite in
 * src/store/testing/conformance.ts.
 *
 * Errors are MeshcaErrors: NOT_FOUND, ALREADY_EXISTS, CONFLICT (stale resourceVersion),
 * GONE (watch from a compacted resourceVersion), INVALID_RESOURCE, STORE_UNAVAILABLE.
 */
export interface Store {
  /**
   * Creates; fails with ALREADY_EXISTS. Sets uid, resourceVersion, generation 1, creationTimestamp.
   * `status` is dropped, as on the Kubernetes API: write it with updateStatus. A resourceVersion
   * on the input is INVALID_RESOURCE.
   */
  create<T extends Resource>(resource: T): Promise<T>;
  /** Reads one; fails with NOT_FOUND. */
  get<T extends Resource>(key: ResourceKey): Promise<T>;
  /** Reads one, or undefined when absent. */
  tryGet<T extends Resource>(key: ResourceKey): Promise<T | undefined>;
  /** Lists one type. */
  list<T extends Resource>(type: ResourceType, options?: ListOptions): Promise<ResourceList<T>>;
  /**
   * Replaces everything but `status`. When `metadata.resourceVersion` is set it must match the
   * stored one, else CONFLICT; when unset the update is unconditional.
   */
  update<T extends Resource>(resource: T): Promise<T>;
  /** Replaces only `status`, with the same resourceVersion rule as update. */
  updateStatus<T extends Resource>(resource: T): Promise<T>;
  /** Deletes; fails with NOT_FOUND; with `resourceVersion` set, CONFLICT when stale. */
  delete(key: ResourceKey & { resourceVersion?: string }): Promise<void>;
  /** Watches one type; see WatchOptions. */
  watch<T extends Resource>(type: ResourceType, options?: WatchOptions): Watch<T>;
  /**
   * Several writes in one atomic step: all apply or none. Each op follows the rules of its
   * single-write counterpart (CONFLICT on a stale resourceVersion, ALREADY_EXISTS …).
   */
  transaction(ops: readonly WriteOp[]): Promise<Resource[]>;
  /**
   * Acquires or renews a lease. Returns the lease when `holderIdentity` holds it afterwards
   * (it was free, expired at `now`, or already ours), else undefined.
   */
  acquireLease(request: LeaseRequest): Promise<Lease | undefined>;
  /**
   * Gives a lease up if `holderIdentity` holds it: the holder becomes empty, so the next
   * acquireLease by anyone succeeds at once (and counts as a transition).
   */
  releaseLease(name: string, namespace: string, holderIdentity: string): Promise<void>;
  /** The lease record, if one was ever acquired (holderIdentity empty when released). */
  getLease(name: string, namespace: string): Promise<Lease | undefined>;
  /** Appends issuance records to the audit log, all in one transaction. */
  appendAudit(records: readonly AuditRecord[]): Promise<void>;
  /** Audit records, newest first (by issuedAt). */
  listAudit(query?: AuditQuery): Promise<AuditRecord[]>;
  /** Deletes audit records issued before `before`; returns how many went. */
  pruneAudit(before: Date): Promise<number>;
  /** Releases files, timers and watches. */
  close(): Promise<void>;
}

/** Which audit records listAudit returns. */
export interface AuditQuery {
  /** Only this SPIFFE ID. */
  identity?: string;
  /** Only records with issuedAt ≥ since. */
  since?: Date;
  /** Only records with issuedAt < until. */
  until?: Date;
  /** At most this many (default 1000, at most 10,000). */
  limit?: number;
}

/** One write inside a transaction. */
export type WriteOp =
  | { op: 'create'; resource: Resource }
  | { op: 'update'; resource: Resource }
  | { op: 'updateStatus'; resource: Resource }
  | { op: 'delete'; key: ResourceKey & { resourceVersion?: string } };
