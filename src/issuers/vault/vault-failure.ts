import { MeshcaError } from '../../errors/index.js';
import type { VaultResponse } from './vault-http-client.js';

const MAX_ERRORS_TEXT = 500;

/**
 * The text of Vault's error answer, `{"errors": ["permission denied"]}`
 * (https://developer.hashicorp.com/vault/api-docs#error-response): the messages joined, cut to a
 * reasonable length, or undefined when the body carries none.
 */
export function vaultErrorsText(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const errors = (body as { errors?: unknown }).errors;
  if (!Array.isArray(errors)) return undefined;
  const texts = errors
    .filter((e): e is string => typeof e === 'string')
    .map((e) => e.replace(/\s+/g, ' ').trim())
    .filter((e) => e !== '');
  if (texts.length === 0) return undefined;
  const joined = texts.join('; ');
  return joined.length > MAX_ERRORS_TEXT ? `${joined.slice(0, MAX_ERRORS_TEXT)}…` : joined;
}

/**
 * The MeshcaError for a Vault answer that is not a success. 5xx (sealed, standby, down behind a
 * proxy) and 429 are retryable (UPSTREAM_UNAVAILABLE); any other refusal is final
 * (UPSTREAM_REJECTED). The message carries Vault's own `errors`.
 */
export function vaultFailure(response: VaultResponse, what: string, hint?: string): MeshcaError {
  const errors = vaultErrorsText(response.body);
  const said = errors === undefined ? `HTTP ${response.status}` : `HTTP ${response.status}: ${errors}`;
  const message = `vault: ${what}: ${said}`;
  if (response.status >= 500 || response.status === 429) {
    return new MeshcaError('UPSTREAM_UNAVAILABLE', message, {
      hint: hint ?? 'meshca retries with backoff; check that Vault is unsealed and healthy',
    });
  }
  return new MeshcaError('UPSTREAM_REJECTED', message, {
    hint: hint ?? 'check the Vault issuer spec and the Vault policy of the role meshca logs in with',
  });
}
