import { MeshcaError } from '../../errors/index.js';
import type { UpstreamToken } from '../upstream-token-cache.js';
import { vaultFailure } from './vault-failure.js';
import type { VaultHttpClient } from './vault-http-client.js';

/** How meshca logs in to Vault: cert-manager's four `spec.vault.auth` methods. Secrets are read at each login. */
export type VaultAuthMethod =
  | { readonly kind: 'token'; readonly readToken: () => Promise<string> }
  | {
      readonly kind: 'appRole';
      /** Where the AppRole auth method is mounted: `approle`. */
      readonly path: string;
      readonly roleId: string;
      readonly readSecretId: () => Promise<string>;
    }
  | {
      readonly kind: 'kubernetes';
      /** `/v1/auth/kubernetes` by default. */
      readonly mountPath: string;
      readonly role: string;
      /** A service-account token, from a Secret or minted. */
      readonly readJwt: () => Promise<string>;
    }
  | {
      readonly kind: 'clientCertificate';
      /** `/v1/auth/cert` by default. */
      readonly mountPath: string;
      /** The certificate role to log in as; Vault tries every role when absent. */
      readonly name?: string;
    };

/** The login endpoint of a method, for messages and requests. */
export function vaultLoginPath(method: VaultAuthMethod): string | undefined {
  const trim = (p: string): string => p.trim().replace(/^\/+/, '').replace(/\/+$/, '');
  switch (method.kind) {
    case 'token':
      return undefined;
    case 'appRole':
      return `/v1/auth/${trim(method.path).replace(/^v1\/auth\//, '')}/login`;
    case 'kubernetes':
    case 'clientCertificate':
      return `/${trim(method.mountPath)}/login`;
  }
}

/**
 * Logs in and returns the client token with the instant its lease ends
 * (https://developer.hashicorp.com/vault/api-docs/auth). A token method reads its Secret (no
 * lease known). Throws UPSTREAM_REJECTED when Vault refuses the login, UPSTREAM_UNAVAILABLE
 * when it cannot answer.
 */
export async function vaultLogin(
  client: VaultHttpClient,
  method: VaultAuthMethod,
  now: Date,
): Promise<UpstreamToken> {
  if (method.kind === 'token') return { token: await method.readToken() };
  const path = vaultLoginPath(method) as string;
  let body: Record<string, unknown>;
  switch (method.kind) {
    case 'appRole':
      body = { role_id: method.roleId, secret_id: await method.readSecretId() };
      break;
    case 'kubernetes':
      body = { role: method.role, jwt: await method.readJwt() };
      break;
    case 'clientCertificate':
      body = method.name === undefined || method.name === '' ? {} : { name: method.name };
      break;
  }
  const response = await client.request({ method: 'POST', path, body });
  const what = `login with ${method.kind} at ${path.replace(/^\/v1\//, '')}`;
  if (response.status !== 200) {
    throw vaultFailure(response, what, 'check the credentials in the Secret and the role in Vault');
  }
  const auth = (response.body as { auth?: { client_token?: unknown; lease_duration?: unknown } } | undefined)
    ?.auth;
  if (typeof auth?.client_token !== 'string' || auth.client_token === '') {
    throw new MeshcaError('UPSTREAM_REJECTED', `vault: ${what}: the answer has no auth.client_token`);
  }
  const lease =
    typeof auth.lease_duration === 'number' && Number.isFinite(auth.lease_duration) ? auth.lease_duration : 0;
  return lease > 0
    ? { token: auth.client_token, expiresAt: new Date(now.getTime() + lease * 1000) }
    : { token: auth.client_token };
}
