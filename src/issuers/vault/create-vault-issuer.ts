import { createHash } from 'node:crypto';
import type { Resource } from '../../api/resource.js';
import { secretData } from '../../api/secret-data.js';
import { MeshcaError } from '../../errors/index.js';
import type { UpstreamTokenCache } from '../upstream-token-cache.js';
import type { VaultAuthMethod } from './vault-auth.js';
import { VaultHttpClient } from './vault-http-client.js';
import { VaultIssuer } from './vault-issuer.js';
import { parseVaultSignPath } from './vault-sign-request.js';

/** A `{name, key}` reference to a Secret in the issuer's Secret namespace. */
interface SecretKeyRef {
  readonly name?: unknown;
  readonly key?: unknown;
}

/** cert-manager's `spec.vault`, as read from a validated resource. */
interface VaultSpec {
  readonly server?: unknown;
  readonly path?: unknown;
  readonly namespace?: unknown;
  readonly caBundle?: unknown;
  readonly caBundleSecretRef?: SecretKeyRef;
  readonly serverName?: unknown;
  readonly clientCertSecretRef?: SecretKeyRef;
  readonly clientKeySecretRef?: SecretKeyRef;
  readonly auth?: {
    readonly tokenSecretRef?: SecretKeyRef;
    readonly appRole?: {
      readonly path?: unknown;
      readonly roleId?: unknown;
      readonly secretRef?: SecretKeyRef;
    };
    readonly kubernetes?: {
      readonly role?: unknown;
      readonly mountPath?: unknown;
      readonly secretRef?: SecretKeyRef;
      readonly serviceAccountRef?: { readonly name?: unknown; readonly audiences?: unknown };
    };
    readonly clientCertificate?: {
      readonly mountPath?: unknown;
      readonly name?: unknown;
      readonly secretName?: unknown;
    };
  };
}

/** What building a Vault issuer needs (a subset of CreateIssuerOptions, declared here to keep imports one-way). */
export interface VaultIssuerDependencies {
  readonly getSecret: (namespace: string, name: string) => Promise<Resource | undefined>;
  readonly clusterResourceNamespace: string;
  readonly tokenMinter?: (request: {
    readonly namespace: string;
    readonly serviceAccount: string;
    readonly audiences: readonly string[];
    readonly ttlMs: number;
  }) => Promise<string>;
  readonly upstreamTokens?: UpstreamTokenCache;
  readonly upstreamTimeoutMs?: number;
}

/** How long a minted service-account token for Vault's kubernetes login lives (cert-manager asks for 10 minutes). */
export const MINTED_TOKEN_TTL_MS = 600_000;

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/**
 * Builds a VaultIssuer from an Issuer or ClusterIssuer with `spec.vault`: reads the CA bundle,
 * the mTLS client pair and the auth credentials from Secrets (in the issuer's namespace, or the
 * cluster resource namespace for a ClusterIssuer). Throws ISSUER_NOT_READY for a missing Secret
 * or key, ISSUER_INVALID for a spec that cannot work.
 */
export async function createVaultIssuer(
  resource: Resource,
  deps: VaultIssuerDependencies,
): Promise<VaultIssuer> {
  const spec = ((resource['spec'] ?? {}) as { vault?: VaultSpec }).vault ?? {};
  const cluster = resource.kind === 'ClusterIssuer';
  const namespace = cluster ? deps.clusterResourceNamespace : (resource.metadata.namespace ?? '');
  const name = `${resource.kind} ${cluster ? '' : `${namespace}/`}${resource.metadata.name}`;
  const invalid = (message: string, hint?: string): MeshcaError =>
    new MeshcaError('ISSUER_INVALID', `${name}: ${message}`, hint === undefined ? {} : { hint });

  const server = str(spec.server);
  if (server === undefined) throw invalid('spec.vault.server is required');
  const pathText = str(spec.path);
  if (pathText === undefined) throw invalid('spec.vault.path is required');
  const path = parseVaultSignPath(pathText);

  const read = async (field: string, ref: SecretKeyRef | undefined, defaultKey: string): Promise<string> => {
    const secretName = str(ref?.name);
    if (secretName === undefined) throw invalid(`${field}.name is required`);
    const key = str(ref?.key) ?? defaultKey;
    const secret = await deps.getSecret(namespace, secretName);
    if (secret === undefined) {
      throw new MeshcaError(
        'ISSUER_NOT_READY',
        `${name}: secret ${namespace}/${secretName} (${field}) does not exist`,
        {
          hint: 'create it with meshca apply; the issuer waits for it',
        },
      );
    }
    const bytes = secretData(secret, key);
    if (bytes === undefined || bytes.length === 0) {
      throw new MeshcaError(
        'ISSUER_NOT_READY',
        `${name}: secret ${namespace}/${secretName} (${field}) has no key "${key}"`,
        {
          hint: `add "${key}" to the Secret, or name the right key in ${field}.key`,
        },
      );
    }
    return bytes.toString('utf8').trim();
  };

  let caPem: string | undefined;
  if (str(spec.caBundle) !== undefined) {
    caPem = Buffer.from(spec.caBundle as string, 'base64').toString('utf8');
    if (!caPem.includes('-----BEGIN CERTIFICATE-----'))
      throw invalid('spec.vault.caBundle does not hold PEM certificates');
  } else if (spec.caBundleSecretRef !== undefined) {
    caPem = await read('spec.vault.caBundleSecretRef', spec.caBundleSecretRef, 'ca.crt');
  }

  const auth = spec.auth ?? {};
  let clientCertPem: string | undefined;
  let clientKeyPem: string | undefined;
  const certAuthSecret = str(auth.clientCertificate?.secretName);
  if (certAuthSecret !== undefined) {
    clientCertPem = await read(
      'spec.vault.auth.clientCertificate.secretName',
      { name: certAuthSecret },
      'tls.crt',
    );
    clientKeyPem = await read(
      'spec.vault.auth.clientCertificate.secretName',
      { name: certAuthSecret },
      'tls.key',
    );
  } else if (spec.clientCertSecretRef !== undefined || spec.clientKeySecretRef !== undefined) {
    if (spec.clientCertSecretRef === undefined || spec.clientKeySecretRef === undefined) {
      throw invalid('spec.vault.clientCertSecretRef and clientKeySecretRef go together: set both or neither');
    }
    clientCertPem = await read('spec.vault.clientCertSecretRef', spec.clientCertSecretRef, 'tls.crt');
    clientKeyPem = await read('spec.vault.clientKeySecretRef', spec.clientKeySecretRef, 'tls.key');
  }

  let method: VaultAuthMethod;
  if (auth.tokenSecretRef !== undefined) {
    const ref = auth.tokenSecretRef;
    method = { kind: 'token', readToken: () => read('spec.vault.auth.tokenSecretRef', ref, 'token') };
  } else if (auth.appRole !== undefined) {
    const appRole = auth.appRole;
    const roleId = str(appRole.roleId);
    if (roleId === undefined) throw invalid('spec.vault.auth.appRole.roleId is required');
    method = {
      kind: 'appRole',
      path: str(appRole.path) ?? 'approle',
      roleId,
      readSecretId: () => read('spec.vault.auth.appRole.secretRef', appRole.secretRef, 'secretId'),
    };
  } else if (auth.kubernetes !== undefined) {
    const k8s = auth.kubernetes;
    const role = str(k8s.role);
    if (role === undefined) throw invalid('spec.vault.auth.kubernetes.role is required');
    let readJwt: () => Promise<string>;
    const serviceAccount = str(k8s.serviceAccountRef?.name);
    if (k8s.secretRef !== undefined) {
      const ref = k8s.secretRef;
      readJwt = () => read('spec.vault.auth.kubernetes.secretRef', ref, 'token');
    } else if (serviceAccount !== undefined) {
      const minter = deps.tokenMinter;
      if (minter === undefined) {
        throw invalid(
          'spec.vault.auth.kubernetes.serviceAccountRef needs meshca to mint tokens, and this process cannot',
          'run the controllers in meshca serve, or use kubernetes.secretRef with a token',
        );
      }
      const extra = Array.isArray(k8s.serviceAccountRef?.audiences)
        ? (k8s.serviceAccountRef.audiences as unknown[]).filter((a): a is string => typeof a === 'string')
        : [];
      // cert-manager's default audience names the issuer, so Vault's role can pin it.
      const audiences = [
        cluster ? `vault://${resource.metadata.name}` : `vault://${namespace}/${resource.metadata.name}`,
        ...extra,
      ];
      readJwt = () => minter({ namespace, serviceAccount, audiences, ttlMs: MINTED_TOKEN_TTL_MS });
    } else {
      throw invalid('spec.vault.auth.kubernetes needs secretRef or serviceAccountRef');
    }
    method = { kind: 'kubernetes', mountPath: str(k8s.mountPath) ?? '/v1/auth/kubernetes', role, readJwt };
  } else if (auth.clientCertificate !== undefined) {
    if (clientCertPem === undefined) {
      throw invalid(
        'spec.vault.auth.clientCertificate needs a client certificate',
        'set auth.clientCertificate.secretName (a kubernetes.io/tls Secret) or clientCertSecretRef and clientKeySecretRef',
      );
    }
    const certName = str(auth.clientCertificate.name);
    method = {
      kind: 'clientCertificate',
      mountPath: str(auth.clientCertificate.mountPath) ?? '/v1/auth/cert',
      ...(certName !== undefined && { name: certName }),
    };
  } else {
    throw invalid(
      'spec.vault.auth names no login method',
      'set one of tokenSecretRef, appRole, kubernetes, clientCertificate',
    );
  }

  const vaultNamespace = str(spec.namespace);
  const serverName = str(spec.serverName);
  const client = new VaultHttpClient({
    server,
    ...(caPem !== undefined && { caPem }),
    ...(clientCertPem !== undefined && { clientCertPem }),
    ...(clientKeyPem !== undefined && { clientKeyPem }),
    ...(serverName !== undefined && { serverName }),
    ...(vaultNamespace !== undefined && { namespace: vaultNamespace }),
    ...(deps.upstreamTimeoutMs !== undefined && { timeoutMs: deps.upstreamTimeoutMs }),
  });
  // The key changes with the spec and the issuer's identity, so an edited issuer logs in afresh.
  const cacheKey = `vault ${name} ${resource.metadata.uid ?? ''} ${createHash('sha256').update(JSON.stringify(spec)).digest('hex')}`;
  return new VaultIssuer({
    client,
    path,
    auth: method,
    cacheKey,
    ...(deps.upstreamTokens !== undefined && { tokens: deps.upstreamTokens }),
  });
}
