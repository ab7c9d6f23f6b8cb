import type * as z from 'zod';
import { MeshcaError } from '../errors/index.js';
import { challengeSchema, type Challenge } from './acme-challenge.js';
import { orderSchema, type Order } from './acme-order.js';
import { certificateRequestSchema, type CertificateRequest } from './certificate-request.js';
import { certificateSpecIssues } from './certificate-rules.js';
import { certificateSchema, type Certificate } from './certificate.js';
import { configMapIssues, configMapSchema, type ConfigMap } from './config-map.js';
import { eventSchema, type Event } from './event.js';
import { issuerSpecIssues } from './issuer-rules.js';
import { clusterIssuerSchema, issuerSchema, type ClusterIssuer, type Issuer } from './issuer.js';
import { KINDS, type KindInfo } from './kinds.js';
import { meshcaConfigSchema, type MeshcaConfig } from './meshca-config.js';
import { asRecord } from './raw.js';
import { secretIssues, secretSchema, type Secret } from './secret.js';
import { suggestName } from './suggest.js';
import { formatPath, type ValidationIssue } from './validation-issue.js';
import { fromZodIssues } from './zod-issues.js';

/** Any resource of a kind meshca knows, validated. */
export type KnownResource =
  | Certificate
  | CertificateRequest
  | Issuer
  | ClusterIssuer
  | Order
  | Challenge
  | Secret
  | ConfigMap
  | Event
  | MeshcaConfig;

/** The outcome of validating one resource: the resource with defaults, or every issue found. */
export type ValidationResult =
  | { readonly ok: true; readonly resource: KnownResource; readonly kind: KindInfo }
  | { readonly ok: false; readonly issues: readonly ValidationIssue[] };

interface KindValidator {
  readonly schema: z.ZodType<KnownResource>;
  readonly rules?: (raw: Readonly<Record<string, unknown>>) => ValidationIssue[];
}

const VALIDATORS: Readonly<Record<string, KindValidator>> = {
  Certificate: { schema: certificateSchema, rules: (r) => certificateSpecIssues(r.spec) },
  CertificateRequest: { schema: certificateRequestSchema },
  Issuer: { schema: issuerSchema, rules: (r) => issuerSpecIssues(r.spec) },
  ClusterIssuer: { schema: clusterIssuerSchema, rules: (r) => issuerSpecIssues(r.spec) },
  Order: { schema: orderSchema },
  Challenge: { schema: challengeSchema },
  Secret: { schema: secretSchema, rules: secretIssues },
  ConfigMap: { schema: configMapSchema, rules: configMapIssues },
  Event: { schema: eventSchema },
  MeshcaConfig: { schema: meshcaConfigSchema },
};

/**
 * Metadata the API server sets and `kubectl get -o yaml` prints: accepted so such output applies
 * unchanged, and dropped because meshca's store sets its own.
 */
export const IGNORED_METADATA_FIELDS = [
  'managedFields',
  'selfLink',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'finalizers',
] as const;

const knownKinds = (): string => KINDS.map((k) => `${k.kind} (${k.apiVersion})`).join(', ');

// Resolves apiVersion and kind, or says precisely what is wrong with them.
function kindOf(doc: Readonly<Record<string, unknown>>): KindInfo | ValidationIssue[] {
  const { apiVersion, kind } = doc;
  const issues: ValidationIssue[] = [];
  if (typeof apiVersion !== 'string' || apiVersion === '') {
    issues.push({ path: ['apiVersion'], message: 'is required (a string such as "cert-manager.io/v1")' });
  }
  if (typeof kind !== 'string' || kind === '')
    issues.push({ path: ['kind'], message: 'is required (a string such as "Certificate")' });
  if (typeof apiVersion !== 'string' || typeof kind !== 'string' || issues.length > 0) return issues;
  const exact = KINDS.find((k) => k.apiVersion === apiVersion && k.kind === kind);
  if (exact !== undefined) return exact;
  const sameKind = KINDS.find((k) => k.kind === kind);
  if (sameKind !== undefined) {
    return [
      {
        path: ['apiVersion'],
        message: `${kind} is served as "${sameKind.apiVersion}", not ${JSON.stringify(apiVersion)}; change apiVersion`,
      },
    ];
  }
  const meant = suggestName(
    kind,
    KINDS.map((k) => k.kind),
  );
  return [
    {
      path: ['kind'],
      message: `unknown kind ${JSON.stringify(kind)} in ${JSON.stringify(apiVersion)}${meant === undefined ? ';' : `; did you mean "${meant}"?`} meshca knows: ${knownKinds()}`,
    },
  ];
}

// Like Go's JSON decoding in the API server, `field: null` in a mapping means the field is unset
// (kubectl itself prints `creationTimestamp: null`). Copies; never changes the input.
function dropNulls(value: unknown, depth: number): unknown {
  if (depth > 100 || typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map((v: unknown) => dropNulls(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== null) out[k] = dropNulls(v, depth + 1);
  return out;
}

// Drops what meshca ignores, without touching the caller's object.
function normalize(raw: Readonly<Record<string, unknown>>, info: KindInfo): Record<string, unknown> {
  const doc = dropNulls(raw, 0) as Record<string, unknown>;
  const meta = asRecord(doc.metadata);
  if (meta === undefined) return doc;
  const cleaned: Record<string, unknown> = { ...meta };
  for (const f of IGNORED_METADATA_FIELDS) delete cleaned[f];
  // Like the API server, a namespace on a cluster-scoped object is ignored.
  if (!info.namespaced) delete cleaned.namespace;
  return { ...doc, metadata: cleaned };
}

/**
 * Validates one decoded document (from YAML or JSON) against its kind: shape, values, and the
 * rules across fields. Reports every issue, not only the first; never throws for bad input.
 */
export function validateResource(input: unknown): ValidationResult {
  const doc = asRecord(input);
  if (doc === undefined) {
    const got = input === null ? 'null' : Array.isArray(input) ? 'a list' : `a ${typeof input}`;
    return {
      ok: false,
      issues: [
        { path: [], message: `a resource must be a mapping with apiVersion, kind and metadata, not ${got}` },
      ],
    };
  }
  const info = kindOf(doc);
  if (Array.isArray(info)) return { ok: false, issues: info };
  const validator = VALIDATORS[info.kind];
  if (validator === undefined)
    throw new MeshcaError(
      'INTERNAL',
      `kind ${info.kind} is registered without a validator; add it to VALIDATORS`,
    );
  const normalized = normalize(doc, info);
  const parsed = validator.schema.safeParse(normalized, { reportInput: true });
  const issues = [
    ...(parsed.success ? [] : fromZodIssues(validator.schema, parsed.error.issues)),
    ...(validator.rules?.(normalized) ?? []),
  ];
  const seen = new Set<string>();
  const unique = issues.filter((i) => {
    const key = `${formatPath(i.path)}\0${i.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  if (unique.length > 0 || !parsed.success) return { ok: false, issues: unique };
  return { ok: true, resource: parsed.data, kind: info };
}

/** Validates one resource and returns it with defaults, or throws INVALID_RESOURCE listing every issue. */
export function parseResource(input: unknown): KnownResource {
  const result = validateResource(input);
  if (result.ok) return result.resource;
  const details = result.issues.map((i) => `${formatPath(i.path)}: ${i.message}`);
  const doc = asRecord(input);
  const meta = asRecord(doc?.metadata);
  const what =
    typeof doc?.kind === 'string' && typeof meta?.name === 'string'
      ? `${doc.kind} ${JSON.stringify(meta.name)}`
      : 'resource';
  throw new MeshcaError(
    'INVALID_RESOURCE',
    `${what} is invalid: ${details.length === 1 ? details[0] : `${details.length} problems`}`,
    {
      details,
      hint: 'fix the fields listed and apply again',
    },
  );
}
