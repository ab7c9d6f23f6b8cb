import { generateKeyPairSync } from 'node:crypto';
import type { Resource, ResourceKey } from '../../api/resource.js';
import { MeshcaError, isMeshcaError } from '../../errors/index.js';
import type { AcmeIssuer } from '../../issuers/acme/acme-issuer.js';
import {
  ACCOUNT_KEY_DEFAULT_KEY,
  createAcmeIssuer,
  issuerSecretNamespace,
} from '../../issuers/acme/create-acme-issuer.js';
import type { Store } from '../../store/store.js';
import { CLUSTER_ISSUER, ISSUER, SECRET, keyOf } from '../certificates/resource-types.js';

/** An issuer reference as Orders and Challenges carry it. */
export interface AcmeIssuerRef {
  readonly name: string;
  readonly kind?: string | undefined;
}

/** Options of the ACME issuer source. */
export interface AcmeIssuerSourceOptions {
  readonly clusterResourceNamespace: string;
  /** Makes an account key PEM (injected in tests); RSA 2048 like cert-manager by default. */
  readonly generateAccountKey?: () => string;
  readonly timeoutMs?: number;
}

/** Makes an RSA 2048 account key, PKCS#8 PEM. */
export function generateAccountKey(): string {
  return generateKeyPairSync('rsa', { modulusLength: 2048 })
    .privateKey.export({ type: 'pkcs8', format: 'pem' })
    .toString();
}

/**
 * Finds the ACME issuer an Order or Challenge names, creating its account-key Secret when
 * missing (unless disableAccountKeyGeneration), and keeps one session per issuer generation so
 * the account is registered once.
 */
export class AcmeIssuerSource {
  private readonly cache = new Map<string, { version: string; issuer: AcmeIssuer }>();

  constructor(private readonly options: AcmeIssuerSourceOptions) {}

  /** The issuer resource's key for a reference in `namespace`. */
  keyOf(ref: AcmeIssuerRef, namespace: string | undefined): ResourceKey {
    return ref.kind === 'ClusterIssuer'
      ? keyOf(CLUSTER_ISSUER, undefined, ref.name)
      : keyOf(ISSUER, namespace, ref.name);
  }

  /** The ACME issuer resource for a reference, or undefined when it is not an ACME issuer. */
  async resource(
    store: Store,
    ref: AcmeIssuerRef,
    namespace: string | undefined,
  ): Promise<Resource | undefined> {
    const issuer = await store.tryGet<Resource>(this.keyOf(ref, namespace));
    if (issuer === undefined) {
      throw new MeshcaError('ISSUER_NOT_FOUND', `${ref.kind ?? 'Issuer'} ${ref.name} does not exist`, {
        hint: 'create it with meshca apply; the request waits for it',
      });
    }
    return ((issuer['spec'] ?? {}) as { acme?: unknown }).acme === undefined ? undefined : issuer;
  }

  /** A usable ACME issuer (account key present) for an issuer resource. */
  async issuer(store: Store, resource: Resource, now: () => Date): Promise<AcmeIssuer> {
    const namespace = issuerSecretNamespace(resource, this.options.clusterResourceNamespace);
    const acme = (
      (resource['spec'] ?? {}) as {
        acme?: {
          privateKeySecretRef?: { name?: string; key?: string };
          disableAccountKeyGeneration?: boolean;
        };
      }
    ).acme;
    const keyName = acme?.privateKeySecretRef?.name;
    const keySecret =
      keyName === undefined ? undefined : await store.tryGet<Resource>(keyOf(SECRET, namespace, keyName));
    const cacheKey = `${resource.kind}/${resource.metadata.namespace ?? ''}/${resource.metadata.name}`;
    const version = `${resource.metadata.resourceVersion ?? ''}/${keySecret?.metadata.resourceVersion ?? ''}`;
    const cached = this.cache.get(cacheKey);
    if (cached !== undefined && cached.version === version) return cached.issuer;
    if (keyName !== undefined && keySecret === undefined && acme?.disableAccountKeyGeneration !== true) {
      const key = acme?.privateKeySecretRef?.key ?? ACCOUNT_KEY_DEFAULT_KEY;
      const pem = (this.options.generateAccountKey ?? generateAccountKey)();
      try {
        await store.create({
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: keyName, namespace },
          type: 'Opaque',
          data: { [key]: Buffer.from(pem, 'utf8').toString('base64') },
        });
      } catch (err) {
        // Another replica made it first: use theirs.
        if (!isMeshcaError(err, 'ALREADY_EXISTS')) throw err;
      }
    }
    const issuer = await createAcmeIssuer(resource, {
      getSecret: (ns, name) => store.tryGet<Resource>(keyOf(SECRET, ns, name)),
      clusterResourceNamespace: this.options.clusterResourceNamespace,
      now,
      ...(this.options.timeoutMs !== undefined && { timeoutMs: this.options.timeoutMs }),
    });
    const after = await store.tryGet<Resource>(keyOf(SECRET, namespace, keyName ?? ''));
    this.cache.set(cacheKey, {
      version: `${resource.metadata.resourceVersion ?? ''}/${after?.metadata.resourceVersion ?? ''}`,
      issuer,
    });
    return issuer;
  }
}
