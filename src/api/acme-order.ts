import * as z from 'zod';
import {
  checkedString,
  goDurationString,
  issuerRefSchema,
  looseObject,
  objectMetaSchema,
} from './common-schemas.js';
import { checkEncodedCsr } from './certificate-request.js';
import { checkBase64, checkDnsName, checkIpAddress } from './value-rules.js';

/** RFC 8555 §7.1.6 order states, as cert-manager records them (plus its own "errored"). */
export const ACME_STATES = [
  'valid',
  'ready',
  'pending',
  'processing',
  'invalid',
  'expired',
  'errored',
] as const;

/** acme.cert-manager.io/v1 Order: one RFC 8555 order, written by the ACME issuer. */
export const orderSchema = z.strictObject({
  apiVersion: z.literal('acme.cert-manager.io/v1'),
  kind: z.literal('Order'),
  metadata: objectMetaSchema,
  spec: z.strictObject({
    request: checkedString(checkEncodedCsr),
    issuerRef: issuerRefSchema,
    commonName: z.string().optional(),
    dnsNames: z.array(checkedString(checkDnsName)).optional(),
    ipAddresses: z.array(checkedString(checkIpAddress)).optional(),
    duration: goDurationString.optional(),
    profile: z.string().optional(),
  }),
  status: z
    .strictObject({
      url: z.string().optional(),
      finalizeURL: z.string().optional(),
      certificate: checkedString(checkBase64).optional(),
      state: z.enum(ACME_STATES).optional(),
      reason: z.string().optional(),
      authorizations: z.array(looseObject()).optional(),
      failureTime: z.string().optional(),
    })
    .optional(),
});

/** An acme.cert-manager.io/v1 Order. */
export type Order = z.infer<typeof orderSchema>;
