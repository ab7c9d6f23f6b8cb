import type { Resource, ResourceKey, ResourceType } from '../../api/resource.js';
import type { Store } from '../../store/store.js';

/** What a reconcile asks for next. */
export interface ReconcileResult {
  /** Reconcile this key again at this instant (a renewal time, a backoff end); omitted = only on change. */
  requeueAt?: Date;
}

/** Everything a reconcile may use: the store, the injected clock, a logger. */
export interface ReconcileContext {
  readonly store: Store;
  readonly now: () => Date;
  readonly log: (
    level: 'debug' | 'info' | 'warn' | 'error',
    message: string,
    fields?: Record<string, unknown>,
  ) => void;
}

/** One small controller: which kinds it watches, which of its own keys a change concerns, and how it reconciles one key. */
export interface Controller {
  readonly name: string;
  /** The kind it reconciles (keys are of this kind). */
  readonly kind: ResourceType;
  /**
   * Other kinds whose changes concern it; `mapToKeys` says which keys of `kind` to reconcile for a
   * changed object (e.g. a Secret → the Certificates whose spec.secretName names it, and the one
   * its cert-manager.io/certificate-name annotation names; a CertificateRequest → its owner
   * Certificate).
   */
  readonly watches: readonly ResourceType[];
  /** The keys of `kind` that a change to `changed` (of a watched kind) concerns. */
  mapToKeys(changed: Resource): ResourceKey[];
  /**
   * Brings one key toward its desired state. Throwing = retry with the runtime's backoff (fast,
   * for conflicts/store errors, not for issuance failures, which are recorded in status). Must be
   * idempotent: it may run again after a crash at any point.
   */
  reconcile(key: ResourceKey, ctx: ReconcileContext): Promise<ReconcileResult>;
}
