import * as z from 'zod';
import { issuerRefSchema, objectMetaSchema, requiredString } from './common-schemas.js';
import { ACME_STATES } from './acme-order.js';
import { acmeSolverSchema } from './issuer.js';

/** acme.cert-manager.io/v1 Challenge: one RFC 8555 §8 challenge being solved for an Order. */
export const challengeSchema = z.strictObject({
  apiVersion: z.literal('acme.cert-manager.io/v1'),
  kind: z.literal('Challenge'),
  metadata: objectMetaSchema,
  spec: z.strictObject({
    url: requiredString(),
    authorizationURL: requiredString(),
    dnsName: requiredString(),
    wildcard: z.boolean().optional(),
    type: z.enum(['HTTP-01', 'DNS-01']),
    token: requiredString(),
    key: requiredString(),
    solver: acmeSolverSchema,
    issuerRef: issuerRefSchema,
  }),
  status: z
    .strictObject({
      processing: z.boolean().optional(),
      presented: z.boolean().optional(),
      reason: z.string().optional(),
      state: z.enum(ACME_STATES).optional(),
    })
    .optional(),
});

/** An acme.cert-manager.io/v1 Challenge. */
export type Challenge = z.infer<typeof challengeSchema>;
