import * as z from 'zod';
import {
  checkedString,
  conditionsSchema,
  goDurationString,
  issuerRefSchema,
  objectMetaSchema,
} from './common-schemas.js';
import { keyUsageSchema } from './certificate.js';
import { checkBase64 } from './value-rules.js';

// A CSR is a few KiB; anything this large is not one.
const MAX_REQUEST_LENGTH = 64 * 1024;

/** base64 of a PEM certificate signing request, as cert-manager's spec.request holds it. */
export function checkEncodedCsr(value: string): string | undefined {
  if (value.length === 0) return 'must hold the base64 of a PEM certificate signing request';
  if (value.length > MAX_REQUEST_LENGTH)
    return `must be at most ${MAX_REQUEST_LENGTH} characters; a CSR is a few KiB`;
  const why = checkBase64(value);
  if (why !== undefined) return why;
  const pem = Buffer.from(value, 'base64').toString('latin1');
  if (!/-----BEGIN (NEW )?CERTIFICATE REQUEST-----/.test(pem)) {
    return 'must be the base64 of a PEM "CERTIFICATE REQUEST" block (base64 -w0 < request.csr)';
  }
  return undefined;
}

/** cert-manager.io/v1 CertificateRequestSpec. */
export const certificateRequestSpecSchema = z.strictObject({
  request: checkedString(checkEncodedCsr),
  duration: goDurationString.optional(),
  issuerRef: issuerRefSchema,
  isCA: z.boolean().optional(),
  usages: z.array(keyUsageSchema).optional(),
  username: z.string().optional(),
  uid: z.string().optional(),
  groups: z.array(z.string()).optional(),
  extra: z.record(z.string(), z.array(z.string())).optional(),
});

/** cert-manager.io/v1 CertificateRequestStatus. */
export const certificateRequestStatusSchema = z.strictObject({
  conditions: conditionsSchema.optional(),
  certificate: checkedString(checkBase64).optional(),
  ca: checkedString(checkBase64).optional(),
  failureTime: z.string().optional(),
});

/** cert-manager.io/v1 CertificateRequest. */
export const certificateRequestSchema = z.strictObject({
  apiVersion: z.literal('cert-manager.io/v1'),
  kind: z.literal('CertificateRequest'),
  metadata: objectMetaSchema,
  spec: certificateRequestSpecSchema,
  status: certificateRequestStatusSchema.optional(),
});

/** A cert-manager.io/v1 CertificateRequest, after validation and defaults. */
export type CertificateRequest = z.infer<typeof certificateRequestSchema>;
