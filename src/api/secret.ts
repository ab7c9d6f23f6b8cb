import * as z from 'zod';
import { objectMetaSchema, stringMap } from './common-schemas.js';
import { asRecord } from './raw.js';
import type { ValidationIssue } from './validation-issue.js';
import { checkBase64, checkDataKey } from './value-rules.js';

/** The Secret type of a TLS key pair; it must hold `tls.crt` and `tls.key`. */
export const TLS_SECRET_TYPE = 'kubernetes.io/tls';
// The API server's limit on a Secret's data (etcd's value limit).
const MAX_SECRET_BYTES = 1024 * 1024;

/**
 * core/v1 Secret. Like the API server, `stringData` is merged into `data` (base64-encoded,
 * stringData winning) and dropped; `type` defaults to Opaque.
 */
export const secretSchema = z
  .strictObject({
    apiVersion: z.literal('v1'),
    kind: z.literal('Secret'),
    metadata: objectMetaSchema,
    type: z.string().optional(),
    data: stringMap(checkDataKey, checkBase64).optional(),
    stringData: stringMap(checkDataKey).optional(),
    immutable: z.boolean().optional(),
  })
  .transform(({ stringData, ...secret }) => {
    const out = { ...secret, type: secret.type ?? 'Opaque' };
    if (stringData === undefined) return out;
    const data: Record<string, string> = { ...secret.data };
    for (const [key, value] of Object.entries(stringData))
      data[key] = Buffer.from(value, 'utf8').toString('base64');
    return { ...out, data };
  });

/** A core/v1 Secret; `data` values are base64. */
export type Secret = z.infer<typeof secretSchema>;

/** Rules of a Secret across fields: a TLS Secret holds tls.crt and tls.key; the whole stays under 1 MiB. */
export function secretIssues(raw: unknown): ValidationIssue[] {
  const secret = asRecord(raw);
  if (secret === undefined) return [];
  const issues: ValidationIssue[] = [];
  const data = asRecord(secret.data) ?? {};
  const stringData = asRecord(secret.stringData) ?? {};
  if (secret.type === TLS_SECRET_TYPE) {
    for (const key of ['tls.crt', 'tls.key']) {
      if (!(key in data) && !(key in stringData)) {
        issues.push({
          path: ['data'],
          message: `a ${TLS_SECRET_TYPE} Secret must hold "${key}"; add it or change the type`,
        });
      }
    }
  }
  let bytes = 0;
  for (const v of Object.values(data)) if (typeof v === 'string') bytes += Math.floor((v.length * 3) / 4);
  for (const v of Object.values(stringData)) if (typeof v === 'string') bytes += Buffer.byteLength(v);
  if (bytes > MAX_SECRET_BYTES) {
    issues.push({
      path: ['data'],
      message: `a Secret holds at most 1 MiB of data (this one about ${bytes} bytes); split it`,
    });
  }
  return issues;
}
