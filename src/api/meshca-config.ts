import * as z from 'zod';
import { conditionsSchema, issuerRefSchema, objectMetaSchema } from './common-schemas.js';

/** meshca's own API group and version. */
export const MESHCA_API_VERSION = 'meshca.io/v1alpha1';

/**
 * meshca.io/v1alpha1 MeshcaConfig (cluster-scoped, conventionally named "default"): runtime
 * issuance configuration, i.e. which issuer signs workload CSRs. Changing it takes effect
 * without a restart, like istio-csr's runtime issuance ConfigMap.
 */
export const meshcaConfigSchema = z.strictObject({
  apiVersion: z.literal(MESHCA_API_VERSION),
  kind: z.literal('MeshcaConfig'),
  metadata: objectMetaSchema,
  spec: z.strictObject({ issuerRef: issuerRefSchema }),
  status: z.strictObject({ conditions: conditionsSchema.optional() }).optional(),
});

/** A meshca.io/v1alpha1 MeshcaConfig. */
export type MeshcaConfig = z.infer<typeof meshcaConfigSchema>;
