import type { Resource } from '../../api/resource.js';
import type { AcmeSolver } from '../../api/issuer.js';
import { MeshcaError } from '../../errors/index.js';
import { AcmeIssuer } from './acme-issuer.js';

/** What building an ACME issuer needs from outside. */
export interface CreateAcmeIssuerOptions {
  /** Looks a Secret up by namespace and name. */
  readonly getSecret: (namespace: string, name: string) => Promise<Resource | undefined>;
  /** Where a ClusterIssuer's Secrets live. */
  readonly clusterResourceNamespace: string;
  /** The clock (Retry-After); a readiness probe may leave it out. */
  readonly now?: () => Date;
  /** Per-request timeout, ms. */
  readonly timeoutMs?: number;
}

interface SecretRef {
  name?: unknown;
  key?: unknown;
}

interface AcmeSpec {
  server?: unknown;
  email?: unknown;
  privateKeySecretRef?: SecretRef;
  skipTLSVerify?: unknown;
  caBundle?: unknown;
  externalAccountBinding?: { keyID?: unknown; keySecretRef?: SecretRef; keyAlgorithm?: unknown };
  preferredChain?: unknown;
  disableAccountKeyGeneration?: unknown;
  solvers?: unknown;
}

/** The key of the account-key Secret cert-manager uses when privateKeySecretRef.key is unset. */
export const ACCOUNT_KEY_DEFAULT_KEY = 'tls.key';

/** The namespace of an issuer's Secrets: its own, or the cluster resource namespace for a ClusterIssuer. */
export function issuerSecretNamespace(resource: Resource, clusterResourceNamespace: string): string {
  return resource.kind === 'ClusterIssuer' ? clusterResourceNamespace : (resource.metadata.namespace ?? '');
}

const text = (secret: Resource, key: string): string | undefined => {
  const value = (secret['data'] as Record<string, unknown> | undefined)?.[key];
  return typeof value === 'string' ? Buffer.from(value, 'base64').toString('utf8') : undefined;
};

/**
 * Builds the ACME issuer of an Issuer/ClusterIssuer with `spec.acme`: reads the account key
 * (ISSUER_NOT_READY while its Secret is missing: the Order controllers create it) and the
 * external account binding's HMAC key.
 */
export async function createAcmeIssuer(
  resource: Resource,
  options: CreateAcmeIssuerOptions,
): Promise<AcmeIssuer> {
  const spec = ((resource['spec'] ?? {}) as { acme?: AcmeSpec }).acme ?? {};
  const source = `${resource.kind} ${resource.kind === 'Issuer' ? `${resource.metadata.namespace ?? ''}/` : ''}${resource.metadata.name}`;
  const invalid = (message: string, hint: string): MeshcaError =>
    new MeshcaError('ISSUER_INVALID', `${source}: ${message}`, { hint });
  if (typeof spec.server !== 'string' || spec.server === '') {
    throw invalid('spec.acme.server is required', 'set it to the ACME directory URL');
  }
  const keyName = spec.privateKeySecretRef?.name;
  if (typeof keyName !== 'string' || keyName === '') {
    throw invalid(
      'spec.acme.privateKeySecretRef.name is required',
      'name the Secret that keeps the account key',
    );
  }
  const namespace = issuerSecretNamespace(resource, options.clusterResourceNamespace);
  const keyKey =
    typeof spec.privateKeySecretRef?.key === 'string'
      ? spec.privateKeySecretRef.key
      : ACCOUNT_KEY_DEFAULT_KEY;
  const keySecret = await options.getSecret(namespace, keyName);
  const accountKeyPem = keySecret === undefined ? undefined : text(keySecret, keyKey);
  if (accountKeyPem === undefined) {
    throw new MeshcaError(
      'ISSUER_NOT_READY',
      `${source}: the account key Secret ${namespace}/${keyName} (key ${keyKey}) does not exist yet`,
      {
        hint:
          spec.disableAccountKeyGeneration === true
            ? 'disableAccountKeyGeneration is set: create the Secret with the account key'
            : 'meshca serve creates it; the issuer waits for it',
      },
    );
  }
  let eab: { keyId: string; hmacKey: string } | undefined;
  const binding = spec.externalAccountBinding;
  if (binding !== undefined) {
    if (binding.keyAlgorithm !== undefined && binding.keyAlgorithm !== 'HS256') {
      throw invalid(
        `externalAccountBinding.keyAlgorithm ${JSON.stringify(binding.keyAlgorithm)} is not supported`,
        'use HS256 (or leave keyAlgorithm out)',
      );
    }
    const ref = binding.keySecretRef;
    if (typeof binding.keyID !== 'string' || typeof ref?.name !== 'string') {
      throw invalid(
        'externalAccountBinding needs keyID and keySecretRef.name',
        'set both from your ACME provider',
      );
    }
    const refKey = typeof ref.key === 'string' ? ref.key : 'secret';
    const secret = await options.getSecret(namespace, ref.name);
    const hmacKey = secret === undefined ? undefined : text(secret, refKey)?.trim();
    if (hmacKey === undefined || hmacKey === '') {
      throw new MeshcaError(
        'ISSUER_NOT_READY',
        `${source}: the external account binding Secret ${namespace}/${ref.name} (key ${refKey}) does not exist or is empty`,
        {
          hint: 'create it with the HMAC key your ACME provider gave (base64url)',
        },
      );
    }
    eab = { keyId: binding.keyID, hmacKey };
  }
  return new AcmeIssuer({
    directoryUrl: spec.server,
    accountKeyPem,
    source,
    ...(options.now !== undefined && { now: options.now }),
    solvers: Array.isArray(spec.solvers) ? (spec.solvers as AcmeSolver[]) : [],
    ...(typeof spec.email === 'string' && { email: spec.email }),
    ...(eab !== undefined && { externalAccountBinding: eab }),
    ...(typeof spec.caBundle === 'string' && {
      caPem: Buffer.from(spec.caBundle, 'base64').toString('utf8'),
    }),
    ...(spec.skipTLSVerify === true && { skipTLSVerify: true }),
    ...(typeof spec.preferredChain === 'string' &&
      spec.preferredChain !== '' && { preferredChain: spec.preferredChain }),
    ...(options.timeoutMs !== undefined && { timeoutMs: options.timeoutMs }),
  });
}
