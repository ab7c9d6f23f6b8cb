import type { AuditRecord } from '../api/audit-record.js';
import { MeshcaError } from '../errors/index.js';
import type { AuditQuery } from './store.js';

/** Most records one appendAudit call takes (one transaction). */
export const MAX_AUDIT_BATCH = 10_000;
/** Default and largest listAudit limit. */
export const DEFAULT_AUDIT_LIMIT = 1000;
/** Largest listAudit limit. */
export const MAX_AUDIT_LIMIT = 10_000;
/** Longest text field in an audit record (a SPIFFE ID is at most 2048 bytes). */
const MAX_FIELD = 2048;

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;
const HEX = /^[0-9a-f]+$/;

const TEXT_FIELDS = ['serialNumber', 'identity', 'caller', 'issuer'] as const;
const TIME_FIELDS = ['notBefore', 'notAfter', 'issuedAt'] as const;

/** ms since the epoch of an RFC 3339 timestamp, or undefined when it is not one. */
export function rfc3339Millis(value: unknown): number | undefined {
  if (typeof value !== 'string' || !RFC3339.test(value)) return undefined;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? ms : undefined;
}

/** Checks one audit record; INVALID_INPUT names the record index and field. */
export function checkAuditRecord(record: unknown, index: number): asserts record is AuditRecord {
  const at = `audit record #${index}`;
  if (typeof record !== 'object' || record === null) {
    throw new MeshcaError('INVALID_INPUT', `${at}: must be an object with the fields of AuditRecord`);
  }
  const r = record as Record<string, unknown>;
  const problems: string[] = [];
  for (const f of TEXT_FIELDS) {
    const v = r[f];
    if (typeof v !== 'string' || v.length === 0) problems.push(`${f}: must be a non-empty string`);
    else if (v.length > MAX_FIELD)
      problems.push(`${f}: has ${v.length} characters, at most ${MAX_FIELD} are allowed`);
  }
  // clusterId is empty when the caller sent no clusterid header (a single-cluster mesh).
  if (typeof r.clusterId !== 'string' || r.clusterId.length > MAX_FIELD) {
    problems.push(`clusterId: must be a string of at most ${MAX_FIELD} characters`);
  }
  for (const f of TIME_FIELDS) {
    if (rfc3339Millis(r[f]) === undefined)
      problems.push(`${f}: must be an RFC 3339 timestamp such as 2025-01-02T03:04:05Z`);
  }
  if (typeof r.serialNumber === 'string' && !HEX.test(r.serialNumber)) {
    problems.push('serialNumber: must be lowercase hex without separators');
  }
  if (typeof r.fingerprintSha256 !== 'string' || !/^[0-9a-f]{64}$/.test(r.fingerprintSha256)) {
    problems.push('fingerprintSha256: must be 64 lowercase hex characters (SHA-256 of the DER)');
  }
  if (problems.length > 0) {
    throw new MeshcaError('INVALID_INPUT', `${at}: ${problems[0] ?? ''}`, { details: problems });
  }
}

/** Checks a batch for appendAudit. */
export function checkAuditBatch(records: unknown): asserts records is readonly AuditRecord[] {
  if (!Array.isArray(records))
    throw new MeshcaError('INVALID_INPUT', 'appendAudit takes a list of audit records');
  if (records.length > MAX_AUDIT_BATCH) {
    throw new MeshcaError(
      'INPUT_TOO_LARGE',
      `audit batch has ${records.length} records, at most ${MAX_AUDIT_BATCH} are allowed: append in smaller batches`,
    );
  }
  records.forEach((r, i) => checkAuditRecord(r, i));
}

/** A checked listAudit query: times as ms, limit resolved. */
export interface ResolvedAuditQuery {
  identity: string | undefined;
  sinceMs: number | undefined;
  untilMs: number | undefined;
  limit: number;
}

const dateMs = (d: unknown, name: string): number | undefined => {
  if (d === undefined) return undefined;
  if (!(d instanceof Date) || !Number.isFinite(d.getTime())) {
    throw new MeshcaError('INVALID_INPUT', `audit query ${name}: must be a valid Date`);
  }
  return d.getTime();
};

/** Checks a listAudit query. */
export function resolveAuditQuery(query: AuditQuery | undefined): ResolvedAuditQuery {
  const q = query ?? {};
  if (q.identity !== undefined && (typeof q.identity !== 'string' || q.identity.length > MAX_FIELD)) {
    throw new MeshcaError(
      'INVALID_INPUT',
      `audit query identity: must be a string of at most ${MAX_FIELD} characters`,
    );
  }
  const limit = q.limit ?? DEFAULT_AUDIT_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_AUDIT_LIMIT) {
    throw new MeshcaError(
      'INVALID_INPUT',
      `audit query limit: must be an integer from 1 to ${MAX_AUDIT_LIMIT}`,
    );
  }
  return {
    identity: q.identity,
    sinceMs: dateMs(q.since, 'since'),
    untilMs: dateMs(q.until, 'until'),
    limit,
  };
}

/** ms of a pruneAudit cutoff. */
export function pruneCutoffMs(before: unknown): number {
  const ms = dateMs(before, 'before');
  if (ms === undefined)
    throw new MeshcaError('INVALID_INPUT', 'pruneAudit needs a Date: records issued before it go');
  return ms;
}
