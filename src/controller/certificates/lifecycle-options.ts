import { randomInt, type KeyObject } from 'node:crypto';
import type { Resource, ResourceKey } from '../../api/resource.js';
import type { IssuerDependencies } from '../../issuers/create-issuer.js';
import { ParseCache, generatePrivateKey, type KeySpec } from '../../pki/index.js';
import type { CertManagerMetrics } from '../../telemetry/cert-manager-metrics.js';
import { EventRecorder } from '../events.js';
import { DEFAULT_BACKOFF_BASE_MS } from './decide-issuance.js';
import { CERTIFICATE, ANNOTATIONS } from './resource-types.js';

/** Options of the certificate controllers (createCertificateControllers). */
export interface CertificateControllerOptions {
  /** Whether the built-in approver approves CertificateRequests (`meshca serve --disable-auto-approval` turns it off). */
  readonly approval: boolean;
  /** Where a ClusterIssuer's Secrets live (cert-manager's --cluster-resource-namespace). */
  readonly clusterResourceNamespace: string;
  /** Base of the failed-issuance backoff, ms; 1h by default. */
  readonly backoffBase?: number;
  /** Base of the retry delay of a request waiting on its issuer, ms; 5s by default (at most 5 minutes). */
  readonly pendingRetryBase?: number;
  /** cert-manager's Certificate metrics, updated by the readiness controller. */
  readonly metrics?: CertManagerMetrics;
  /** Five characters of [a-z0-9] for the next-private-key Secret's name (injected in tests). */
  readonly random?: () => string;
  /** Makes a private key (injected in tests to save time). */
  readonly generateKey?: (spec: KeySpec) => KeyObject;
  /** How far issuers backdate notBefore. */
  readonly backdateMs?: number;
  /** What upstream issuers (vault, acme) need from outside: a token minter, a token cache … */
  readonly issuerDependencies?: IssuerDependencies;
  /** Parsed keys and certificate bundles remembered across reconciles (DEFAULT_PARSE_CACHE_ENTRIES; 0 = none). */
  readonly parseCacheEntries?: number;
}

/** The options with defaults filled in, shared by the controllers of one set. */
export interface LifecycleSettings {
  readonly approval: boolean;
  readonly clusterResourceNamespace: string;
  readonly backoffBaseMs: number;
  readonly pendingRetryBaseMs: number;
  readonly metrics: CertManagerMetrics | undefined;
  readonly random: () => string;
  readonly generateKey: (spec: KeySpec) => KeyObject;
  readonly backdateMs: number | undefined;
  readonly events: EventRecorder;
  readonly issuerDependencies: IssuerDependencies;
  /** Reads Secrets' keys and certificates; one cache shared by the set, so each is parsed once, not per reconcile. */
  readonly parser: ParseCache;
}

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** Five random characters of [a-z0-9], as Kubernetes' generateName adds. */
export function randomSuffix(): string {
  let out = '';
  for (let i = 0; i < 5; i++) out += ALPHABET[randomInt(ALPHABET.length)];
  return out;
}

/** Fills in the defaults. */
export function lifecycleSettings(options: CertificateControllerOptions): LifecycleSettings {
  return {
    approval: options.approval,
    clusterResourceNamespace: options.clusterResourceNamespace,
    backoffBaseMs: options.backoffBase ?? DEFAULT_BACKOFF_BASE_MS,
    pendingRetryBaseMs: options.pendingRetryBase ?? 5000,
    metrics: options.metrics,
    random: options.random ?? randomSuffix,
    generateKey: options.generateKey ?? generatePrivateKey,
    backdateMs: options.backdateMs,
    events: new EventRecorder(),
    issuerDependencies: options.issuerDependencies ?? {},
    parser: new ParseCache(options.parseCacheEntries),
  };
}

/** The Certificate a Secret or CertificateRequest belongs to, by cert-manager's certificate-name annotation. */
export function certificateKeysOf(changed: Resource): ResourceKey[] {
  const name = changed.metadata.annotations?.[ANNOTATIONS.certificateName];
  const namespace = changed.metadata.namespace;
  if (name === undefined || name === '' || namespace === undefined) return [];
  return [{ ...CERTIFICATE, namespace, name }];
}

/** The Certificate owning a resource (a next-private-key Secret, a CertificateRequest), by ownerReferences, else by annotation. */
export function ownerCertificateKeysOf(changed: Resource): ResourceKey[] {
  const namespace = changed.metadata.namespace;
  const owner = changed.metadata.ownerReferences?.find(
    (o) => o.kind === 'Certificate' && o.apiVersion === CERTIFICATE.apiVersion,
  );
  if (owner !== undefined && namespace !== undefined)
    return [{ ...CERTIFICATE, namespace, name: owner.name }];
  return certificateKeysOf(changed);
}
