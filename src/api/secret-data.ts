import type { Resource } from './resource.js';
import { asRecord } from './raw.js';

/**
 * The decoded bytes of one key of a Secret (`tls.crt`, `ca.crt`), or undefined when the key is
 * absent. Reads `data` (base64) and, for a Secret not yet normalized, `stringData`, which wins
 * like it does in the API server.
 */
export function secretData(secret: Resource, key: string): Buffer | undefined {
  const text = asRecord(secret.stringData)?.[key];
  if (typeof text === 'string') return Buffer.from(text, 'utf8');
  const encoded = asRecord(secret.data)?.[key];
  return typeof encoded === 'string' ? Buffer.from(encoded, 'base64') : undefined;
}
