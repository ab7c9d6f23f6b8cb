import * as z from 'zod';
import { checkedString, objectMetaSchema, requiredString } from './common-schemas.js';
import { checkDns1123Label } from './value-rules.js';

// The API server caps events.k8s.io reasons at 128 characters; core/v1 follows in practice.
const MAX_REASON_LENGTH = 128;
// Messages come from error texts; a cap keeps one runaway message from filling the store.
const MAX_MESSAGE_LENGTH = 32 * 1024;

/** Why `value` is not an RFC 3339 timestamp, or undefined. */
function checkTimestamp(value: string): string | undefined {
  if (
    !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/.test(value) ||
    Number.isNaN(Date.parse(value))
  ) {
    return `must be an RFC 3339 timestamp such as "2026-01-02T15:04:05Z", got ${JSON.stringify(value.slice(0, 40))}`;
  }
  return undefined;
}

const timestamp = checkedString(checkTimestamp);

/** The object an Event is about (core/v1 ObjectReference). */
export const involvedObjectSchema = z.strictObject({
  apiVersion: requiredString(),
  kind: requiredString(),
  name: requiredString(),
  namespace: checkedString(checkDns1123Label).optional(),
  uid: z.string().optional(),
  resourceVersion: z.string().optional(),
  fieldPath: z.string().optional(),
});

/** core/v1 Event, as `kubectl get events -o yaml` prints it (the fields meshca writes, plus the newer optional ones). */
export const eventSchema = z.strictObject({
  apiVersion: z.literal('v1'),
  kind: z.literal('Event'),
  metadata: objectMetaSchema,
  involvedObject: involvedObjectSchema,
  reason: requiredString().max(MAX_REASON_LENGTH, {
    message: `must be at most ${MAX_REASON_LENGTH} characters`,
  }),
  message: z
    .string()
    .max(MAX_MESSAGE_LENGTH, { message: `must be at most ${MAX_MESSAGE_LENGTH} characters` }),
  type: z.enum(['Normal', 'Warning']),
  firstTimestamp: timestamp.optional(),
  lastTimestamp: timestamp.optional(),
  eventTime: timestamp.optional(),
  count: z.number().int().min(1).optional(),
  source: z.strictObject({ component: z.string().optional(), host: z.string().optional() }).optional(),
  reportingComponent: z.string().optional(),
  reportingInstance: z.string().optional(),
  action: z.string().optional(),
});

/** A core/v1 Event: something a controller did to an object, shown by `describe`. */
export type Event = z.infer<typeof eventSchema>;
