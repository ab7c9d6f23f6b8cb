import * as z from 'zod';
import {
  checkDataKey,
  checkDns1123Label,
  checkDns1123Subdomain,
  checkGoDuration,
  checkLabelValue,
  checkQualifiedName,
} from './value-rules.js';

/*
 * Building blocks shared by the kinds' schemas. Objects are strict (unknown fields are errors,
 * reported with a suggestion by validate-resource); value rules come from value-rules.ts.
 */

/** A string checked by a value rule; the rule's reason becomes the issue's message. */
export const checkedString = (check: (value: string) => string | undefined): z.ZodString =>
  z.string().superRefine((value, ctx) => {
    const why = check(value);
    if (why !== undefined) ctx.addIssue({ code: 'custom', message: why });
  });

/** A non-empty string. */
export const requiredString = (): z.ZodString => z.string().min(1, { message: 'must not be empty' });

/** A Go duration string such as `720h`. */
export const goDurationString = checkedString(checkGoDuration);

/** A map of string keys (checked) to string values (checked). Reports every bad key and value. */
export const stringMap = (
  checkKey: (key: string) => string | undefined,
  checkValue?: (value: string) => string | undefined,
): z.ZodRecord<z.ZodString, z.ZodString> =>
  z.record(checkedString(checkKey), checkValue ? checkedString(checkValue) : z.string());

/** Kubernetes labels. */
export const labelsSchema = stringMap(checkQualifiedName, checkLabelValue);

/** Kubernetes annotations (values are free text; the API server caps them all at 256 KiB). */
export const annotationsSchema = stringMap(checkQualifiedName).superRefine((annotations, ctx) => {
  const size = Object.entries(annotations).reduce((n, [k, v]) => n + k.length + v.length, 0);
  if (size > 256 * 1024)
    ctx.addIssue({
      code: 'custom',
      message: `annotations must total at most 256 KiB (they have ${size} bytes)`,
    });
});

/** A reference from a dependent to its owner. */
export const ownerReferenceSchema = z.strictObject({
  apiVersion: requiredString(),
  kind: requiredString(),
  name: requiredString(),
  uid: requiredString(),
  controller: z.boolean().optional(),
  blockOwnerDeletion: z.boolean().optional(),
});

/** Object metadata; `name` is a DNS-1123 subdomain and `namespace` a DNS-1123 label. */
export const objectMetaSchema = z.strictObject({
  name: checkedString(checkDns1123Subdomain),
  namespace: checkedString(checkDns1123Label).optional(),
  uid: z.string().optional(),
  resourceVersion: z.string().optional(),
  generation: z.number().int().min(0).optional(),
  creationTimestamp: z.string().optional(),
  labels: labelsSchema.optional(),
  annotations: annotationsSchema.optional(),
  ownerReferences: z.array(ownerReferenceSchema).optional(),
});

/** A reference to a Secret in the same namespace. */
export const localObjectReferenceSchema = z.strictObject({ name: checkedString(checkDns1123Subdomain) });

/** A key of a Secret in the same namespace; `key` defaults per field (see cert-manager). */
export const secretKeySelectorSchema = z.strictObject({
  name: checkedString(checkDns1123Subdomain),
  key: checkedString(checkDataKey).optional(),
});

/** A status condition, with Kubernetes' metav1.Condition fields. */
export const conditionSchema = z.strictObject({
  type: requiredString(),
  status: z.enum(['True', 'False', 'Unknown']),
  reason: z.string().optional(),
  message: z.string().optional(),
  lastTransitionTime: z.string().optional(),
  observedGeneration: z.number().int().min(0).optional(),
});

/** A status condition. */
export type Condition = z.infer<typeof conditionSchema>;

/** Status fields every cert-manager kind may carry. */
export const conditionsSchema = z.array(conditionSchema);

/**
 * A reference to the issuer that signs. meshca has no external issuers, so the group must be
 * cert-manager.io (or empty); kind and group are defaulted like cert-manager does.
 */
export const issuerRefSchema = z.strictObject({
  name: checkedString(checkDns1123Subdomain),
  kind: z.enum(['Issuer', 'ClusterIssuer']).default('Issuer'),
  group: z
    .string()
    .superRefine((group, ctx) => {
      if (group !== '' && group !== 'cert-manager.io') {
        ctx.addIssue({
          code: 'custom',
          message: `meshca signs only through cert-manager.io Issuers and ClusterIssuers; use group "cert-manager.io" instead of ${JSON.stringify(group)}`,
        });
      }
    })
    .optional()
    .transform((group) => (group === undefined || group === '' ? 'cert-manager.io' : group)),
});

/** A reference to an issuer, after defaults. */
export type IssuerRef = z.infer<typeof issuerRefSchema>;

/** An object whose fields meshca passes through unchecked (cloud DNS providers, pod templates). */
export const looseObject = (): z.ZodRecord<z.ZodString, z.ZodUnknown> => z.record(z.string(), z.unknown());
