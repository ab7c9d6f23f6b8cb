import { MESHCA_API_VERSION } from '../../api/meshca-config.js';
import type { Resource, ResourceType } from '../../api/resource.js';
import { toMeshcaError, type MeshcaError } from '../../errors/index.js';
import { CaIssuer, createIssuer, secretText, type CaKeyPair } from '../../issuers/index.js';
import type { Store } from '../../store/store.js';
import { watchTypes, type TypeWatcher } from '../../store/watch-types.js';
import { backoffDelay, nodeSetTimer, type SetTimer } from '../set-timer.js';
import type { SigningAuthority } from './workload-signer.js';

const CM = 'cert-manager.io/v1';

/** Which issuer signs workload CSRs: a cert-manager issuerRef. */
export interface IssuerRef {
  readonly name: string;
  readonly kind: 'Issuer' | 'ClusterIssuer';
}

/** Options of the signing authority source. */
export interface SigningAuthoritySourceOptions {
  readonly store: Store;
  /** The issuer from flags (`--issuer-name`, `--issuer-kind`). */
  readonly issuerRef: IssuerRef;
  /** Where a namespaced Issuer lives (`--certificate-namespace`). */
  readonly namespace: string;
  /** Where a ClusterIssuer's Secrets live. */
  readonly clusterResourceNamespace: string;
  /** The cluster-scoped MeshcaConfig whose spec.issuerRef overrides the flags at run time. */
  readonly runtimeConfigName?: string;
  readonly now: () => Date;
  /** Schedules retries and re-checks on the clock `now` (default: Node's timers). */
  readonly setTimer?: SetTimer;
  /** Backoff of the retries after a transient store error: first delay, doubled up to the max (1 s, 30 s). */
  readonly retryInitialMs?: number;
  readonly retryMaxMs?: number;
  /** Called after every change of the authority (a new CA, or readiness lost or gained). */
  readonly onChange?: (authority: SigningAuthority) => void;
  /** A failed watch or a transient failure to read the CA (both retried). */
  readonly onError?: (err: unknown) => void;
}

/** One pass: the authority read, or the transient error that stopped it; when to look again. */
type Resolution =
  | { readonly authority: SigningAuthority; readonly recheckAt?: Date }
  | { readonly transient: MeshcaError; readonly authority: SigningAuthority };

/**
 * A failure to read the store that says nothing about the CA: the next read may succeed. Such a
 * failure keeps the CA already loaded. (ISSUER_NOT_READY, "the Secret does not exist", is retryable
 * in the catalog too, but it is an answer about the CA, not a failed read: it unloads it.)
 */
function isTransient(err: MeshcaError): boolean {
  return err.retryable && err.code === 'STORE_UNAVAILABLE';
}

/**
 * Keeps the signing CA resolved from the store: it reads the issuer (the runtime MeshcaConfig's,
 * else the configured one) and its Secret, and swaps the in-process CA whenever any of them
 * changes, with no restart. A request reads `current()` once, so a swap never affects it.
 *
 * A transient store error (STORE_UNAVAILABLE, e.g. SQLITE_BUSY) never unloads a CA that works: the
 * last one loaded keeps signing and the read is retried with backoff (also on first load, when
 * there is none yet). A CA whose notBefore is still ahead (minted on a host whose clock is ahead)
 * is refused until then and looked at again at its notBefore.
 */
export class SigningAuthoritySource {
  readonly #o: SigningAuthoritySourceOptions;
  #current: SigningAuthority = { ready: false, reason: 'the signing CA has not been loaded yet' };
  #watcher: TypeWatcher | undefined;
  #resolving: Promise<void> | undefined;
  #dirty = false;
  #closed = false;
  readonly #setTimer: SetTimer;
  /** The pending retry or re-check, if any. */
  #cancelTimer: (() => void) | undefined;
  /** Transient failures in a row (for the backoff). */
  #failures = 0;

  constructor(options: SigningAuthoritySourceOptions) {
    this.#o = options;
    this.#setTimer = options.setTimer ?? nodeSetTimer(options.now);
  }

  /** The signing CA now. */
  current(): SigningAuthority {
    return this.#current;
  }

  /** Loads the CA and starts watching for changes. */
  async start(): Promise<void> {
    const types: ResourceType[] = [
      { apiVersion: CM, kind: 'Issuer' },
      { apiVersion: CM, kind: 'ClusterIssuer' },
      { apiVersion: 'v1', kind: 'Secret' },
      { apiVersion: MESHCA_API_VERSION, kind: 'MeshcaConfig' },
    ];
    this.#watcher = watchTypes(this.#o.store, types, () => void this.refresh(), {
      ...(this.#o.onError !== undefined && { onError: this.#o.onError }),
      schedule: (delayMs, fn) => this.#setTimer(new Date(this.#o.now().getTime() + delayMs), fn),
    });
    await this.#watcher.ready;
    await this.refresh();
  }

  /** Resolves again now; concurrent calls coalesce into at most one more pass. */
  refresh(): Promise<void> {
    if (this.#resolving !== undefined) {
      this.#dirty = true;
      return this.#resolving;
    }
    this.#resolving = (async () => {
      let last: Resolution;
      do {
        this.#dirty = false;
        last = await this.#resolve();
        // A transient failure keeps a loaded CA; with none loaded yet, it says why there is none.
        const next = 'transient' in last && this.#current.ready ? this.#current : last.authority;
        if (!sameAuthority(this.#current, next)) {
          this.#current = next;
          this.#o.onChange?.(next);
        }
      } while (this.#dirty);
      this.#schedule(last);
    })().finally(() => {
      this.#resolving = undefined;
    });
    return this.#resolving;
  }

  /** Stops watching, retrying and re-checking. */
  close(): void {
    this.#closed = true;
    this.#watcher?.close();
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
  }

  /** After a pass: a retry with backoff after a transient failure, a re-check at a future notBefore, or nothing. */
  #schedule(last: Resolution): void {
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
    if (this.#closed) return;
    let at: Date | undefined;
    if ('transient' in last) {
      this.#failures++;
      const delay = backoffDelay(
        this.#failures,
        this.#o.retryInitialMs ?? 1000,
        this.#o.retryMaxMs ?? 30_000,
      );
      at = new Date(this.#o.now().getTime() + delay);
      this.#o.onError?.(last.transient);
    } else {
      this.#failures = 0;
      at = last.recheckAt;
    }
    if (at === undefined) return;
    this.#cancelTimer = this.#setTimer(at, () => {
      this.#cancelTimer = undefined;
      void this.refresh();
    });
  }

  /** The issuerRef in force: the runtime configuration's, else the flags'. */
  async #issuerRef(): Promise<IssuerRef> {
    const name = this.#o.runtimeConfigName ?? 'default';
    const config = await this.#o.store.tryGet<Resource>({
      apiVersion: MESHCA_API_VERSION,
      kind: 'MeshcaConfig',
      name,
    });
    const ref = (config?.['spec'] as { issuerRef?: { name?: string; kind?: string } } | undefined)?.issuerRef;
    if (ref?.name !== undefined)
      return { name: ref.name, kind: ref.kind === 'ClusterIssuer' ? 'ClusterIssuer' : 'Issuer' };
    return this.#o.issuerRef;
  }

  async #resolve(): Promise<Resolution> {
    let label = `${this.#o.issuerRef.kind} ${this.#o.issuerRef.name}`;
    try {
      const ref = await this.#issuerRef();
      const namespaced = ref.kind === 'Issuer';
      label = namespaced ? `Issuer ${this.#o.namespace}/${ref.name}` : `ClusterIssuer ${ref.name}`;
      const resource = await this.#o.store.tryGet<Resource>({
        apiVersion: CM,
        kind: ref.kind,
        name: ref.name,
        ...(namespaced && { namespace: this.#o.namespace }),
      });
      if (resource === undefined) return { authority: { ready: false, reason: `${label} does not exist` } };
      const spec = (resource['spec'] ?? {}) as Record<string, unknown>;
      if (spec['acme'] !== undefined) {
        return {
          authority: {
            ready: false,
            reason: `${label} is an ACME issuer; a public CA will not put SPIFFE IDs into a certificate, so it cannot sign workloads`,
          },
        };
      }
      if (spec['selfSigned'] !== undefined) {
        return {
          authority: {
            ready: false,
            reason: `${label} is a selfSigned issuer; workload CSRs need a CA issuer`,
          },
        };
      }
      let secret: Resource | undefined;
      const issuer = await createIssuer(resource, {
        getSecret: async (namespace, name) => {
          secret = await this.#o.store.tryGet<Resource>({
            apiVersion: 'v1',
            kind: 'Secret',
            namespace,
            name,
          });
          return secret;
        },
        clusterResourceNamespace: this.#o.clusterResourceNamespace,
      });
      if (!(issuer instanceof CaIssuer))
        return { authority: { ready: false, reason: `${label} cannot sign workload CSRs in process` } };
      const now = this.#o.now();
      if (issuer.certificate.notAfter.getTime() <= now.getTime()) {
        return {
          authority: {
            ready: false,
            reason: `${label}: its CA certificate expired at ${issuer.certificate.notAfter.toISOString()}`,
          },
        };
      }
      if (issuer.certificate.notBefore.getTime() > now.getTime()) {
        // Minted by a host whose clock is ahead: valid soon, so look again then.
        return {
          authority: {
            ready: false,
            reason: `${label}: its CA certificate is not valid before ${issuer.certificate.notBefore.toISOString()}`,
          },
          recheckAt: issuer.certificate.notBefore,
        };
      }
      const keyPair = secret === undefined ? undefined : keyPairOf(secret);
      return {
        authority: {
          ready: true,
          issuer,
          name: label.replace(' ', '/'),
          ...(keyPair !== undefined && { keyPair }),
        },
      };
    } catch (err) {
      const e = toMeshcaError(err);
      const authority: SigningAuthority = {
        ready: false,
        reason: e.message.startsWith(label) ? e.message : `${label}: ${e.message}`,
      };
      return isTransient(e) ? { transient: e, authority } : { authority };
    }
  }
}

/** The PEMs a CA issuer was loaded from, for signing workers to load the same CA. */
function keyPairOf(secret: Resource): CaKeyPair | undefined {
  const certChainPem = secretText(secret, 'tls.crt');
  const keyPem = secretText(secret, 'tls.key');
  if (certChainPem === undefined || keyPem === undefined) return undefined;
  const caPem = secretText(secret, 'ca.crt');
  return { certChainPem, keyPem, ...(caPem !== undefined && { caPem }) };
}

function sameAuthority(a: SigningAuthority, b: SigningAuthority): boolean {
  if (a.ready !== b.ready) return false;
  if (a.ready && b.ready) {
    return (
      a.name === b.name &&
      a.issuer.certificate.fingerprintSha256 === b.issuer.certificate.fingerprintSha256 &&
      a.issuer.ca.map((c) => c.fingerprintSha256).join() ===
        b.issuer.ca.map((c) => c.fingerprintSha256).join() &&
      a.issuer.chain.map((c) => c.fingerprintSha256).join() ===
        b.issuer.chain.map((c) => c.fingerprintSha256).join()
    );
  }
  return !a.ready && !b.ready && a.reason === b.reason;
}
