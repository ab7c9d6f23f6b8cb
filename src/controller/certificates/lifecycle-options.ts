import { randomInt, type KeyObject } from 'node:crypto';
import type { Resource, ResourceKey } from '../../api/resource.js';
import type { IssuerDependencies } from '../../issuers/create-issuer.js';
import { ParseCache, generatePrivateKeyAsync, type KeySpec } from '../../pki/index.js';
import type { CertManagerMetrics } from '../../telemetry/cert-manager-metrics.js';
import { EventRecorder } from '../events.js';
import type { CertificateObject } from './certificate-resources.js';
import { DEFAULT_BACKOFF_BASE_MS } from './decide-issuance.js';
import { CERTIFICATE, ANNOTATIONS, SECRET } from './resource-types.js';

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
  /** Makes a private key (injected in tests to save time); default off the event loop. */
  readonly generateKey?: (spec: KeySpec) => KeyObject | Promise<KeyObject>;
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
  readonly generateKey: (spec: KeySpec) => KeyObject | Promise<KeyObject>;
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
    generateKey: options.generateKey ?? generatePrivateKeyAsync,
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

/** The Secret a Certificate names in `spec.secretName`: what SecretNameIndex indexes by default. */
export const specSecretName = (certificate: CertificateObject): readonly string[] => [
  certificate.spec.secretName,
];

/**
 * The Secrets a Certificate's keystores read: `spec.secretName` and the Secrets
 * `spec.keystores.{pkcs12,jks}.passwordSecretRef` name when that format is asked for. The
 * issuing controller indexes these, so creating or fixing a password Secret wakes the
 * Certificates waiting for it.
 */
export function secretNameAndKeystorePasswords(certificate: CertificateObject): readonly string[] {
  const names = [certificate.spec.secretName];
  for (const format of ['pkcs12', 'jks'] as const) {
    const spec = certificate.spec.keystores?.[format];
    if (spec?.create === true && spec.password === undefined && spec.passwordSecretRef !== undefined)
      names.push(spec.passwordSecretRef.name);
  }
  return names;
}

/**
 * Which Certificates name a Secret (by default in `spec.secretName`; `namesOf` says which fields
 * count), as one controller last read them: so a Secret that lost its
 * cert-manager.io/certificate-name annotation (overwritten by `kubectl create secret tls … |
 * meshca apply`) still wakes its Certificate, as cert-manager's secretName index does, and a
 * keystore password Secret created or fixed later wakes the Certificates naming it in
 * passwordSecretRef, without a scan of every Certificate per Secret event. `mapToKeys` is
 * synchronous and sees no Certificate events, so the controller's reconcile feeds it: `observe`
 * right after reading the Certificate (undefined when it is gone), before reading its Secrets. One
 * index per controller, fed only by that controller's reconciles: a Certificate whose named
 * Secrets changed has a reconcile of that controller pending until the index knows, and that
 * reconcile reads the Secrets afterwards, so no Secret change falls between the two (a shared
 * index could be set back by another controller's reconcile that read an older Certificate).
 */
export class SecretNameIndex {
  readonly #namesOf: (certificate: CertificateObject) => readonly string[];
  /** `namespace/certificate` → the Secret names last seen (sorted, unique, non-empty). */
  readonly #secretsOf = new Map<string, readonly string[]>();
  /** `namespace/secret` → the names of the Certificates naming it. */
  readonly #certificatesOf = new Map<string, Set<string>>();

  constructor(namesOf: (certificate: CertificateObject) => readonly string[] = specSecretName) {
    this.#namesOf = namesOf;
  }

  /** Records what `certificate` (read for `key`; undefined = deleted) names now. */
  observe(key: ResourceKey, certificate: CertificateObject | undefined): void {
    const namespace = key.namespace ?? '';
    const id = `${namespace}/${key.name}`;
    const now =
      certificate === undefined
        ? []
        : [...new Set(this.#namesOf(certificate).filter((n) => typeof n === 'string' && n !== ''))].sort();
    const before = this.#secretsOf.get(id) ?? [];
    if (before.length === now.length && before.every((n, i) => n === now[i])) return;
    for (const secretName of before) {
      const names = this.#certificatesOf.get(`${namespace}/${secretName}`);
      names?.delete(key.name);
      if (names?.size === 0) this.#certificatesOf.delete(`${namespace}/${secretName}`);
    }
    this.#secretsOf.delete(id);
    if (now.length === 0) return;
    this.#secretsOf.set(id, now);
    for (const secretName of now) {
      const at = `${namespace}/${secretName}`;
      let names = this.#certificatesOf.get(at);
      if (names === undefined) this.#certificatesOf.set(at, (names = new Set()));
      names.add(key.name);
    }
  }

  /** The Certificates in the Secret's namespace that name it. */
  certificatesNaming(secret: Resource): ResourceKey[] {
    const namespace = secret.metadata.namespace;
    if (namespace === undefined || namespace === '') return [];
    const names = this.#certificatesOf.get(`${namespace}/${secret.metadata.name}`);
    return names === undefined ? [] : [...names].map((name) => ({ ...CERTIFICATE, namespace, name }));
  }

  /** How many Certificates it knows (for tests). */
  get size(): number {
    return this.#secretsOf.size;
  }
}

/**
 * The Certificates a changed Secret or CertificateRequest concerns: by the certificate-name
 * annotation and, for a Secret, by the Secret names `index` knows (spec.secretName, and the
 * keystore password Secrets for an index built with secretNameAndKeystorePasswords); each once.
 */
export function certificateKeysOfWatched(changed: Resource, index: SecretNameIndex): ResourceKey[] {
  const byAnnotation = certificateKeysOf(changed);
  if (changed.kind !== SECRET.kind || changed.apiVersion !== SECRET.apiVersion) return byAnnotation;
  const bySecretName = index.certificatesNaming(changed);
  if (bySecretName.length === 0) return byAnnotation;
  const named = new Set(bySecretName.map((k) => k.name));
  return [...bySecretName, ...byAnnotation.filter((k) => !named.has(k.name))];
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
