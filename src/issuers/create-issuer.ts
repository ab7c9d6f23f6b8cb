import type { Resource } from '../api/resource.js';
import { MeshcaError } from '../errors/index.js';
import { CaIssuer } from './ca/ca-issuer.js';
import type { Issuer } from './issuer.js';
import type { UpstreamTokenCache } from './upstream-token-cache.js';
import type { PkiParser } from '../pki/index.js';
import { SelfSignedIssuer } from './self-signed/self-signed-issuer.js';
import { createAcmeIssuer } from './acme/create-acme-issuer.js';
import { createVaultIssuer } from './vault/create-vault-issuer.js';

/** Looks a Secret up by namespace and name (the store, in production). */
export type SecretLookup = (namespace: string, name: string) => Promise<Resource | undefined>;

/** What an upstream issuer kind needs from outside beyond Secrets: injected by the composition root. */
export interface IssuerDependencies {
  /**
   * Mints a service-account token (Vault's kubernetes auth with serviceAccountRef); meshca's own
   * token signer in `meshca serve`. Without it, serviceAccountRef is refused with a message.
   */
  readonly tokenMinter?: ServiceAccountTokenMinter;
  /** Keeps upstream login tokens between signings (one per issuer); without it each build logs in again. */
  readonly upstreamTokens?: UpstreamTokenCache;
  /** Timeout of one upstream HTTP request, ms (default 10 s). */
  readonly upstreamTimeoutMs?: number;
  /** Reads a CA issuer's PEMs; a ParseCache keeps the parsed key and chain between signings. */
  readonly parser?: PkiParser;
}

/** Asks for a service-account token: `aud` = audiences, valid for ttlMs. */
export type ServiceAccountTokenMinter = (request: {
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly audiences: readonly string[];
  readonly ttlMs: number;
}) => Promise<string>;

/** How issuers are built from resources. */
export interface CreateIssuerOptions extends IssuerDependencies {
  readonly getSecret: SecretLookup;
  /** Where a ClusterIssuer's Secrets live (cert-manager's --cluster-resource-namespace). */
  readonly clusterResourceNamespace: string;
  readonly backdateMs?: number;
  /** The clock of upstream issuers that schedule retries (ACME Retry-After). */
  readonly now?: () => Date;
}

/** The PEM text of one key of a Secret's base64 `data`, or undefined. */
export function secretText(secret: Resource, key: string): string | undefined {
  const data = secret['data'] as Record<string, unknown> | undefined;
  const value = data?.[key];
  return typeof value === 'string' ? Buffer.from(value, 'base64').toString('utf8') : undefined;
}

/**
 * Builds the signing implementation of an Issuer or ClusterIssuer resource. Throws
 * ISSUER_NOT_READY (its Secret is missing or unusable) or ISSUER_INVALID (cannot work as written).
 */
export async function createIssuer(resource: Resource, options: CreateIssuerOptions): Promise<Issuer> {
  const spec = (resource['spec'] ?? {}) as Record<string, unknown>;
  const name = `${resource.kind} ${resource.metadata.namespace === undefined ? '' : `${resource.metadata.namespace}/`}${resource.metadata.name}`;
  const backdate = options.backdateMs === undefined ? {} : { backdateMs: options.backdateMs };
  if (spec['selfSigned'] !== undefined) return new SelfSignedIssuer(backdate);
  const ca = spec['ca'] as { secretName?: unknown } | undefined;
  if (ca !== undefined) {
    if (typeof ca.secretName !== 'string' || ca.secretName === '') {
      throw new MeshcaError('ISSUER_INVALID', `${name}: spec.ca.secretName is required`);
    }
    const namespace =
      resource.kind === 'ClusterIssuer'
        ? options.clusterResourceNamespace
        : (resource.metadata.namespace ?? '');
    const secret = await options.getSecret(namespace, ca.secretName);
    const source = `secret ${namespace}/${ca.secretName} of ${name}`;
    if (secret === undefined) {
      throw new MeshcaError('ISSUER_NOT_READY', `${source} does not exist`, {
        hint: 'create it (meshca init, or meshca apply a Secret with tls.crt and tls.key)',
      });
    }
    const certChainPem = secretText(secret, 'tls.crt');
    const keyPem = secretText(secret, 'tls.key');
    if (certChainPem === undefined || keyPem === undefined) {
      throw new MeshcaError(
        'ISSUER_NOT_READY',
        `${source} lacks ${certChainPem === undefined ? 'tls.crt' : 'tls.key'}`,
      );
    }
    const caPem = secretText(secret, 'ca.crt');
    return CaIssuer.fromKeyPair(
      { certChainPem, keyPem, ...(caPem !== undefined && { caPem }) },
      { source, ...backdate, ...(options.parser !== undefined && { parser: options.parser }) },
    );
  }
  if (spec['vault'] !== undefined) return createVaultIssuer(resource, options);
  if (spec['acme'] !== undefined) return createAcmeIssuer(resource, options);
  throw new MeshcaError(
    'ISSUER_INVALID',
    `${name}: spec names no issuer type (selfSigned, ca, vault or acme)`,
  );
}
