import { MeshcaError } from '../../errors/index.js';
import type { Issuer, SignRequest, SignResult } from '../issuer.js';
import type { UpstreamToken, UpstreamTokenCache } from '../upstream-token-cache.js';
import { vaultLogin, type VaultAuthMethod } from './vault-auth.js';
import { vaultErrorsText, vaultFailure } from './vault-failure.js';
import type { VaultHttpClient, VaultRequest, VaultResponse } from './vault-http-client.js';
import { parseVaultSignAnswer } from './vault-sign-answer.js';
import { vaultSignBody, type VaultSignPath } from './vault-sign-request.js';

/** What a Vault issuer is made of (createVaultIssuer builds it from a resource). */
export interface VaultIssuerOptions {
  readonly client: VaultHttpClient;
  readonly path: VaultSignPath;
  readonly auth: VaultAuthMethod;
  /** Keeps the login token between issuer builds; the key names this issuer and its settings. */
  readonly tokens?: UpstreamTokenCache;
  readonly cacheKey?: string;
}

// sys/health answers 200 (active), 429 (standby), 472 (DR secondary), 473 (performance standby):
// all can serve; 501 is not initialised, 503 sealed
// (https://developer.hashicorp.com/vault/api-docs/system/health).
const HEALTHY = new Set([200, 429, 472, 473]);

/**
 * cert-manager's `vault` issuer: signs through a Vault PKI mount. Logs in with the configured
 * method, keeps the token until its lease ends, and logs in again once when Vault refuses it
 * (403: expired or revoked), then gives up with Vault's own message.
 */
export class VaultIssuer implements Issuer {
  readonly type = 'vault';
  readonly #o: VaultIssuerOptions;
  #token: UpstreamToken | undefined;

  constructor(options: VaultIssuerOptions) {
    this.#o = options;
  }

  /** Signs the CSR with Vault; the answer must be a certificate for the CSR's key. */
  async sign(request: SignRequest): Promise<SignResult> {
    const body = vaultSignBody(request, this.#o.path);
    const response = await this.#authorized(
      { method: 'POST', path: `/v1/${this.#o.path.path}`, body },
      request.now,
    );
    if (response.status !== 200) throw vaultFailure(response, `sign at ${this.#o.path.path}`);
    return parseVaultSignAnswer(response.body, request);
  }

  /**
   * Ready means: `/v1/sys/health` says Vault is initialised and unsealed, and meshca can log in
   * (for a token, `auth/token/lookup-self` accepts it). Throws the reason otherwise.
   */
  async checkReady(now: Date): Promise<void> {
    const health = await this.#o.client.request({ method: 'GET', path: '/v1/sys/health', namespaced: false });
    if (!HEALTHY.has(health.status)) {
      const state =
        health.status === 503
          ? 'sealed'
          : health.status === 501
            ? 'not initialised'
            : `unhealthy (HTTP ${health.status})`;
      const errors = vaultErrorsText(health.body);
      throw new MeshcaError(
        'UPSTREAM_UNAVAILABLE',
        `vault at ${this.#o.client.server} is ${state}${errors === undefined ? '' : `: ${errors}`}`,
        { hint: 'unseal or initialise Vault; meshca checks again with backoff' },
      );
    }
    if (this.#o.auth.kind === 'token') {
      const lookup = await this.#authorized({ method: 'GET', path: '/v1/auth/token/lookup-self' }, now);
      if (lookup.status !== 200)
        throw vaultFailure(
          lookup,
          'token lookup-self',
          'put a valid Vault token in the Secret of tokenSecretRef',
        );
      return;
    }
    await this.#login(now, true);
  }

  async #login(now: Date, fresh: boolean): Promise<UpstreamToken> {
    const { tokens, cacheKey } = this.#o;
    if (!fresh) {
      const kept = this.#token ?? (cacheKey === undefined ? undefined : tokens?.get(cacheKey, now));
      if (kept !== undefined && (kept.expiresAt === undefined || kept.expiresAt.getTime() > now.getTime()))
        return kept;
    }
    const token = await vaultLogin(this.#o.client, this.#o.auth, now);
    this.#token = token;
    if (cacheKey !== undefined) tokens?.set(cacheKey, token);
    return token;
  }

  /** Sends with a token; on 403 forgets it, logs in again and tries once more. */
  async #authorized(request: VaultRequest, now: Date): Promise<VaultResponse> {
    const first = await this.#login(now, false);
    const response = await this.#o.client.request({ ...request, token: first.token });
    if (response.status !== 403) return response;
    this.#token = undefined;
    if (this.#o.cacheKey !== undefined) this.#o.tokens?.delete(this.#o.cacheKey);
    const again = await this.#login(now, true);
    return this.#o.client.request({ ...request, token: again.token });
  }
}
