import * as z from 'zod';
import { objectMetaSchema, stringMap } from './common-schemas.js';
import { asRecord } from './raw.js';
import type { ValidationIssue } from './validation-issue.js';
import { checkBase64, checkDataKey } from './value-rules.js';

/** core/v1 ConfigMap: text in `data`, base64 in `binaryData`. */
export const configMapSchema = z.strictObject({
  apiVersion: z.literal('v1'),
  kind: z.literal('ConfigMap'),
  metadata: objectMetaSchema,
  data: stringMap(checkDataKey).optional(),
  binaryData: stringMap(checkDataKey, checkBase64).optional(),
  immutable: z.boolean().optional(),
});

/** A core/v1 ConfigMap (trust bundles are published as one). */
export type ConfigMap = z.infer<typeof configMapSchema>;

/** Rules of a ConfigMap across fields: a key lives in data or binaryData, not both. */
export function configMapIssues(raw: unknown): ValidationIssue[] {
  const cm = asRecord(raw);
  const data = asRecord(cm?.data);
  const binary = asRecord(cm?.binaryData);
  if (data === undefined || binary === undefined) return [];
  return Object.keys(binary)
    .filter((k) => k in data)
    .map((k) => ({
      path: ['binaryData', k],
      message: `key "${k}" is also in data; a key lives in data or binaryData, not both`,
    }));
}
