import * as z from 'zod';
import { malformedAnswer } from './acme-problem.js';

const MAX_ITEMS = 100;
const url = z.string().max(2048).url();
const problem = z.object({ type: z.string().optional(), detail: z.string().optional() }).loose();

/** RFC 8555 §7.1.3 order object (the parts meshca reads). */
export const acmeOrderSchema = z
  .object({
    status: z.enum(['pending', 'ready', 'processing', 'valid', 'invalid']),
    authorizations: z.array(url).max(MAX_ITEMS),
    finalize: url,
    certificate: url.optional(),
    error: problem.optional(),
  })
  .loose();

/** RFC 8555 §8: a token is base64url, at least 128 bits of entropy (22 characters). */
const token = z
  .string()
  .regex(
    /^[A-Za-z0-9_-]{22,256}$/,
    'a challenge token must be 22 to 256 base64url characters (RFC 8555 §8.3)',
  );

/** RFC 8555 §8 challenge object. */
export const acmeChallengeSchema = z
  .object({
    type: z.string().max(64),
    url,
    status: z.enum(['pending', 'processing', 'valid', 'invalid']),
    token: token.optional(),
    error: problem.optional(),
  })
  .loose();

/** RFC 8555 §7.1.4 authorization object. */
export const acmeAuthorizationSchema = z
  .object({
    identifier: z.object({ type: z.literal('dns'), value: z.string().min(1).max(253) }).loose(),
    status: z.enum(['pending', 'valid', 'invalid', 'deactivated', 'expired', 'revoked']),
    challenges: z.array(acmeChallengeSchema).max(MAX_ITEMS),
    wildcard: z.boolean().optional(),
  })
  .loose();

/** An order as the server returned it, with its URL. */
export type AcmeOrder = z.infer<typeof acmeOrderSchema> & { readonly url: string };
/** An authorization as the server returned it, with its URL. */
export type AcmeAuthorization = z.infer<typeof acmeAuthorizationSchema> & { readonly url: string };
/** A challenge as the server returned it. */
export type AcmeChallenge = z.infer<typeof acmeChallengeSchema>;

/** Checks an untrusted answer against its schema; throws a final error naming the first bad field. */
export function readAnswer<T>(schema: z.ZodType<T>, what: string, value: unknown): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue === undefined || issue.path.length === 0 ? '' : `${issue.path.join('.')}: `;
    throw malformedAnswer(what, `${where}${issue?.message ?? 'unreadable'}`);
  }
  return parsed.data;
}
