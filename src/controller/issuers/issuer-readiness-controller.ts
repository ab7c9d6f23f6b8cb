import { getCondition, setCondition } from '../../api/conditions.js';
import type { Condition } from '../../api/common-schemas.js';
import type { Resource, ResourceKey, ResourceType } from '../../api/resource.js';
import { MeshcaError, toMeshcaError } from '../../errors/index.js';
import { CaIssuer } from '../../issuers/ca/ca-issuer.js';
import { createIssuer, type IssuerDependencies } from '../../issuers/create-issuer.js';
import type { Issuer } from '../../issuers/issuer.js';
import type { CertManagerMetrics } from '../../telemetry/cert-manager-metrics.js';
import type { Controller, ReconcileContext, ReconcileResult } from '../runtime/controller.js';
import { CLUSTER_ISSUER, SECRET, keyOf } from '../certificates/resource-types.js';

/** Options of the issuer readiness controllers. */
export interface IssuerReadinessOptions {
  /** Where a ClusterIssuer's Secrets live (cert-manager's --cluster-resource-namespace). */
  readonly clusterResourceNamespace: string;
  /** `certmanager_issuer_ready_status` and `certmanager_clusterissuer_ready_status`. */
  readonly metrics?: CertManagerMetrics;
  /** What upstream issuers need (token minter, token cache, timeout); the same as the signer's. */
  readonly issuerDependencies?: IssuerDependencies;
  /** How often a ready upstream issuer (vault, acme) is checked again; 5 minutes by default. */
  readonly recheckMs?: number;
  /** First retry delay of an issuer that is not ready; doubles up to recheckMs. 10 s by default. */
  readonly retryBaseMs?: number;
}

/** What the check of one issuer found: the Ready condition to write, and when to look again. */
export interface IssuerReadiness {
  readonly condition: Omit<Condition, 'lastTransitionTime'>;
  /** Milliseconds from now to check again; undefined = only when it or a Secret it names changes. */
  readonly recheckInMs: number | undefined;
}

/** The issuer types that depend on a server elsewhere, and so are checked periodically. */
const UPSTREAM_TYPES = new Set(['vault', 'acme']);

// cert-manager's reasons and messages, so tooling that reads them works unchanged.
const READY_MESSAGE: Record<string, string> = {
  selfSigned: '',
  ca: 'Signing CA verified',
  vault: 'Vault verified',
  acme: 'The ACME account was registered with the ACME server',
};
const FAILED_REASON: Record<string, string> = {
  ca: 'ErrInvalidKeyPair',
  vault: 'VaultError',
  acme: 'ErrRegisterACMEAccount',
};

/** The issuer type a spec sets (the first of selfSigned, ca, vault, acme), or undefined. */
export function issuerTypeOf(resource: Resource): string | undefined {
  const spec = (resource['spec'] ?? {}) as Record<string, unknown>;
  return ['selfSigned', 'ca', 'vault', 'acme'].find((t) => spec[t] !== undefined && spec[t] !== null);
}

/**
 * The Secrets an issuer spec names, wherever they are: `secretName` strings and `secretRef` /
 * `…SecretRef` objects, so a change to any of them wakes the issuer.
 */
export function secretNamesOf(spec: unknown): string[] {
  const names = new Set<string>();
  const walk = (value: unknown, depth: number): void => {
    if (depth > 8 || typeof value !== 'object' || value === null) return;
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (k === 'secretName' && typeof v === 'string' && v !== '') names.add(v);
      else if ((k === 'secretRef' || k.endsWith('SecretRef')) && typeof v === 'object' && v !== null) {
        const name = (v as { name?: unknown }).name;
        if (typeof name === 'string' && name !== '') names.add(name);
      } else walk(v, depth + 1);
    }
  };
  walk(spec, 0);
  return [...names];
}

/**
 * The wait before checking a not-ready issuer again: as long as it has been not ready (so waits
 * double: base, base, 2·base, 4·base …), at least `baseMs`, at most `maxMs`. It depends only on the
 * condition's transition time, so a reconcile run again for any reason computes the same instant.
 */
export function notReadyRetryDelay(notReadyForMs: number, baseMs: number, maxMs: number): number {
  return Math.min(Math.max(notReadyForMs, baseMs), maxMs);
}

/**
 * Decides an issuer's Ready condition from the outcome of building and checking it: True with
 * cert-manager's message, or False with the reason of its type and the error's message and hint.
 */
export function decideIssuerReadiness(
  type: string | undefined,
  outcome: { ok: true } | { ok: false; error: MeshcaError },
): Omit<Condition, 'lastTransitionTime'> {
  if (outcome.ok) {
    return { type: 'Ready', status: 'True', reason: 'IsReady', message: READY_MESSAGE[type ?? ''] ?? '' };
  }
  const { error } = outcome;
  // cert-manager tells a Secret it cannot get (ErrGetKeyPair) from one that holds no valid pair.
  const missing = / does not exist$| lacks tls\.(crt|key)$/.test(error.message);
  const reason = type === 'ca' && missing ? 'ErrGetKeyPair' : (FAILED_REASON[type ?? ''] ?? 'ErrInitIssuer');
  return {
    type: 'Ready',
    status: 'False',
    reason,
    message: `${error.message}${error.hint === undefined ? '' : ` (${error.hint})`}`,
  };
}

const keyText = (k: ResourceKey): string => `${k.kind}/${k.namespace ?? ''}/${k.name}`;

/**
 * cert-manager's issuer controllers: keeps `Ready` on every Issuer (or ClusterIssuer) and the
 * ready-status metric. selfSigned is ready; ca when its Secret holds a valid CA key pair (checked
 * again when the Secret changes and when the CA expires); vault and acme when their server
 * answers and meshca is logged in or registered (the Issuer's checkReady), checked every
 * `recheckMs` and, while not ready, with backoff.
 */
export function createIssuerReadinessController(
  kind: ResourceType,
  options: IssuerReadinessOptions,
): Controller {
  const cluster = kind.kind === CLUSTER_ISSUER.kind;
  const recheckMs = options.recheckMs ?? 300_000;
  const retryBaseMs = options.retryBaseMs ?? 10_000;
  // Issuers by the Secrets they name, so a Secret change wakes them without a scan.
  const bySecret = new Map<string, Map<string, ResourceKey>>();
  const index = (key: ResourceKey, secretKeys: string[]): void => {
    for (const [s, set] of bySecret) {
      set.delete(keyText(key));
      if (set.size === 0) bySecret.delete(s);
    }
    for (const s of secretKeys) {
      let set = bySecret.get(s);
      if (set === undefined) bySecret.set(s, (set = new Map<string, ResourceKey>()));
      set.set(keyText(key), key);
    }
  };
  // What each issuer's last check saw: its resourceVersion (after the controller's own status
  // write), the resourceVersions of the Secrets it names, and when it is due again. A reconcile
  // that finds all of these unchanged before that time was woken by the controller's own write
  // (or a no-op event) and does not call the upstream again; a change to the issuer or to one of
  // its Secrets still checks it at once.
  const lastCheck = new Map<string, { version: string; secrets: string; requeueAt: Date | undefined }>();
  const secretVersions = async (
    ctx: { store: ReconcileContext['store'] },
    keys: ResourceKey[],
  ): Promise<string> => {
    const versions: string[] = [];
    for (const k of keys)
      versions.push(`${keyText(k)}=${(await ctx.store.tryGet<Resource>(k))?.metadata.resourceVersion ?? ''}`);
    return versions.join(',');
  };
  const setMetric = (
    resource: { name: string; namespace: string | undefined },
    ready: 'True' | 'False' | 'Unknown',
  ): void => {
    if (cluster) options.metrics?.updateClusterIssuer({ name: resource.name, ready });
    else options.metrics?.updateIssuer({ name: resource.name, namespace: resource.namespace ?? '', ready });
  };

  /** When to check again after a check: upstreams periodically, a ca issuer when its CA expires. */
  const nextCheck = (
    type: string | undefined,
    ok: boolean,
    expiresAt: Date | undefined,
    conditions: Condition[],
    now: Date,
  ): Date | undefined => {
    const upstream = UPSTREAM_TYPES.has(type ?? '');
    if (ok) return upstream ? new Date(now.getTime() + recheckMs) : expiresAt;
    // A ca or selfSigned issuer changes only through its Secret or spec, which wake it; an
    // upstream may come back by itself.
    if (!upstream) return undefined;
    const since = Date.parse(getCondition(conditions, 'Ready')?.lastTransitionTime ?? '');
    const notReadyFor = Number.isFinite(since) ? Math.max(0, now.getTime() - since) : 0;
    return new Date(now.getTime() + notReadyRetryDelay(notReadyFor, retryBaseMs, recheckMs));
  };

  return {
    name: cluster ? 'clusterissuers-readiness' : 'issuers-readiness',
    kind,
    watches: [SECRET],
    mapToKeys(changed: Resource): ResourceKey[] {
      return [
        ...(bySecret
          .get(keyText(keyOf(SECRET, changed.metadata.namespace, changed.metadata.name)))
          ?.values() ?? []),
      ];
    },
    async reconcile(key: ResourceKey, ctx): Promise<ReconcileResult> {
      const resource = await ctx.store.tryGet<Resource>(key);
      if (resource === undefined) {
        index(key, []);
        lastCheck.delete(keyText(key));
        if (cluster) options.metrics?.removeClusterIssuer(key.name);
        else options.metrics?.removeIssuer(key.namespace ?? '', key.name);
        return {};
      }
      const now = ctx.now();
      const type = issuerTypeOf(resource);
      const secretNamespace = cluster ? options.clusterResourceNamespace : resource.metadata.namespace;
      const secretKeys = secretNamesOf(resource['spec']).map((n) => keyOf(SECRET, secretNamespace, n));
      index(key, secretKeys.map(keyText));
      const secrets = await secretVersions(ctx, secretKeys);
      const last = lastCheck.get(keyText(key));
      if (
        last !== undefined &&
        last.version === resource.metadata.resourceVersion &&
        last.secrets === secrets &&
        (last.requeueAt === undefined || now.getTime() < last.requeueAt.getTime())
      ) {
        return last.requeueAt === undefined ? {} : { requeueAt: last.requeueAt };
      }
      let outcome: { ok: true } | { ok: false; error: MeshcaError };
      let expiresAt: Date | undefined;
      try {
        const issuer: Issuer = await createIssuer(resource, {
          ...options.issuerDependencies,
          getSecret: (namespace, name) => ctx.store.tryGet<Resource>(keyOf(SECRET, namespace, name)),
          clusterResourceNamespace: options.clusterResourceNamespace,
        });
        await issuer.checkReady?.(now);
        if (issuer instanceof CaIssuer) {
          if (issuer.certificate.notAfter.getTime() <= now.getTime()) {
            throw new MeshcaError(
              'ISSUER_NOT_READY',
              `the CA certificate "${issuer.certificate.subjectString}" expired at ${issuer.certificate.notAfter.toISOString()}`,
              { hint: 'renew it (meshca renew) or import a new one' },
            );
          }
          expiresAt = issuer.certificate.notAfter;
        }
        outcome = { ok: true };
      } catch (err) {
        outcome = { ok: false, error: toMeshcaError(err) };
      }
      const condition = decideIssuerReadiness(type, outcome);
      const status = (resource['status'] ?? {}) as { conditions?: Condition[] };
      const current = getCondition(status.conditions, 'Ready');
      const generation = resource.metadata.generation;
      const next = generation === undefined ? condition : { ...condition, observedGeneration: generation };
      const conditions = setCondition(status.conditions, next, now);
      let version = resource.metadata.resourceVersion;
      if (
        current?.status !== next.status ||
        current.reason !== next.reason ||
        current.message !== next.message ||
        current.observedGeneration !== next.observedGeneration
      ) {
        const written = await ctx.store.updateStatus({
          ...resource,
          status: { ...status, conditions },
        });
        version = written.metadata.resourceVersion;
        ctx.log(outcome.ok ? 'info' : 'warn', outcome.ok ? 'issuer is ready' : 'issuer is not ready', {
          issuer: `${resource.kind} ${resource.metadata.namespace ?? ''}/${resource.metadata.name}`.replace(
            ' /',
            ' ',
          ),
          ...(!outcome.ok && { code: outcome.error.code, error: outcome.error.message }),
        });
      }
      setMetric({ name: resource.metadata.name, namespace: resource.metadata.namespace }, condition.status);

      const requeueAt = nextCheck(type, outcome.ok, expiresAt, conditions, now);
      if (version !== undefined) lastCheck.set(keyText(key), { version, secrets, requeueAt });
      return requeueAt === undefined ? {} : { requeueAt };
    },
  };
}
