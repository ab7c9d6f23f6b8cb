import { KeyObject } from 'node:crypto';
import { isMeshcaError } from '../errors/index.js';

/** What a redacted value is replaced with. */
export const REDACTED = '[REDACTED]';

/** Limits that keep one log line bounded whatever it is given. */
export const LOG_VALUE_LIMITS = {
  /** Longest string kept, in UTF-16 code units; the rest is cut and counted. */
  maxStringLength: 8192,
  /** Most array items or object keys kept. */
  maxEntries: 100,
  /** Deepest nesting kept. */
  maxDepth: 8,
} as const;

// Field names whose value is a credential whatever it looks like. Compared lowercase with
// separators removed, so `private_key`, `privateKey` and `tls.key` all match.
const SECRET_FIELD_NAMES = new Set([
  'authorization',
  'proxyauthorization',
  'cookie',
  'setcookie',
  'password',
  'passwd',
  'passphrase',
  'privatekey',
  'key',
  'keypem',
  'tlskey',
  'cakeypem',
  'clientsecret',
  'apikey',
  'secretkey',
  'jwt',
  'bearer',
  'credentials',
]);

/** A PEM private key block of any flavour (PKCS#8, SEC1, PKCS#1, encrypted, OpenSSH), or its cut-off start. */
const PEM_PRIVATE_KEY = /-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----[\s\S]*?(?:-----END \1PRIVATE KEY-----|$)/g;
/**
 * A bearer credential (RFC 6750 §2.1 token68). Case-sensitive and at least 8 characters, so prose
 * such as "a bearer token is required" is left alone.
 */
const BEARER = /\bBearer\s+[A-Za-z0-9\-._~+/]{8,}=*/g;

/** True when a field of this name holds a credential whatever its value looks like. */
export function isSecretFieldName(name: string): boolean {
  const n = name.toLowerCase().replace(/[^a-z0-9]/g, '');
  return (
    SECRET_FIELD_NAMES.has(n) || n.endsWith('token') || n.endsWith('password') || n.endsWith('privatekey')
  );
}

/** Removes private keys, tokens and credentials from free text, and cuts it to the length limit. */
export function redactText(text: string): string {
  const max = LOG_VALUE_LIMITS.maxStringLength;
  // Redact before cutting, so a cut can neither split a secret's marker nor hide the cut notice;
  // the first cut only bounds the work done on a huge string.
  const redacted = redactJwts(text.slice(0, 4 * max))
    .replace(PEM_PRIVATE_KEY, `${REDACTED} private key`)
    .replace(BEARER, `Bearer ${REDACTED}`);
  if (redacted.length <= max && text.length <= 4 * max) return redacted;
  return `${redacted.slice(0, max)}…[cut from ${text.length} chars]`;
}

/** True for a base64url character (RFC 4648 §5). */
function isBase64Url(c: number): boolean {
  return (
    (c >= 0x30 && c <= 0x39) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a) ||
    c === 0x2d ||
    c === 0x5f
  );
}

/** The index just past the base64url run starting at `i`. */
function runEnd(s: string, i: number): number {
  let j = i;
  while (j < s.length && isBase64Url(s.charCodeAt(j))) j++;
  return j;
}

/**
 * Replaces every JWS/JWE compact serialization (3 to 5 base64url parts joined by dots) whose
 * protected header starts `eyJ` (base64url of '{"'). A scan rather than a regular expression:
 * every backtracking pattern for this is quadratic on input such as `eyJ` repeated, and log
 * lines may hold attacker-chosen text. Each character is looked at a bounded number of times.
 */
function redactJwts(s: string): string {
  let out = '';
  let from = 0;
  for (let i = s.indexOf('eyJ', from); i >= 0; i = s.indexOf('eyJ', from)) {
    const header = runEnd(s, i);
    let end = header;
    let dots = 0;
    let last = header;
    while (dots < 4 && s[last] === '.') {
      last = runEnd(s, last + 1);
      dots++;
      if (dots >= 2) end = last;
    }
    if (dots >= 2 && header - i >= 5) {
      out += `${s.slice(from, i)}${REDACTED} jwt`;
      from = end;
    } else {
      // No token starts inside this header run: one would share its dots, and there are too few.
      out += s.slice(from, header);
      from = header;
    }
  }
  return out + s.slice(from);
}

/**
 * Turns any value into JSON-safe data fit for a log line: credentials redacted (by field name and
 * by content), bytes and keys described rather than dumped, strings, arrays, objects and depth
 * bounded, cycles broken. Never throws, so a bad field cannot lose the line.
 */
export function redactForLog(value: unknown, fieldName?: string): unknown {
  return walk(value, fieldName, 0, new WeakSet<object>());
}

function walk(
  value: unknown,
  fieldName: string | undefined,
  depth: number,
  ancestors: WeakSet<object>,
): unknown {
  if (
    fieldName !== undefined &&
    isSecretFieldName(fieldName) &&
    value !== undefined &&
    value !== null &&
    value !== ''
  ) {
    return REDACTED;
  }
  switch (typeof value) {
    case 'string':
      return redactText(value);
    case 'number':
      return Number.isFinite(value) ? value : String(value);
    case 'boolean':
      return value;
    case 'bigint':
      return value.toString();
    case 'undefined':
      return undefined;
    case 'symbol':
      return redactText(value.toString());
    case 'function':
      return '[function]';
  }
  if (value === null) return null;
  const obj = value as object;
  if (obj instanceof Date) return Number.isFinite(obj.getTime()) ? obj.toISOString() : 'Invalid Date';
  if (obj instanceof KeyObject) {
    // A private or secret key is never written, not even described by its parameters.
    return obj.type === 'public'
      ? `[public key ${obj.asymmetricKeyType ?? 'unknown'}]`
      : `${REDACTED} private key`;
  }
  if (ArrayBuffer.isView(obj)) return `[${obj.byteLength} bytes]`;
  if (obj instanceof ArrayBuffer) return `[${obj.byteLength} bytes]`;
  if (depth >= LOG_VALUE_LIMITS.maxDepth) return '[depth limit]';
  if (ancestors.has(obj)) return '[circular]';
  ancestors.add(obj);
  try {
    if (obj instanceof Error) return errorFields(obj, depth, ancestors);
    if (Array.isArray(obj) || obj instanceof Set)
      return list([...(obj as Iterable<unknown>)], depth, ancestors);
    if (obj instanceof Map)
      return record(
        [...obj.entries()].map(([k, v]) => [String(k), v]),
        depth,
        ancestors,
      );
    return record(Object.entries(obj), depth, ancestors);
  } catch {
    // A getter that throws, a revoked proxy: describe rather than lose the whole line.
    return '[unreadable]';
  } finally {
    ancestors.delete(obj);
  }
}

function list(items: unknown[], depth: number, ancestors: WeakSet<object>): unknown[] {
  const out = items
    .slice(0, LOG_VALUE_LIMITS.maxEntries)
    .map((v) => walk(v, undefined, depth + 1, ancestors) ?? null);
  if (items.length > LOG_VALUE_LIMITS.maxEntries)
    out.push(`…[${items.length - LOG_VALUE_LIMITS.maxEntries} more]`);
  return out;
}

function record(
  entries: [string, unknown][],
  depth: number,
  ancestors: WeakSet<object>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of entries.slice(0, LOG_VALUE_LIMITS.maxEntries)) {
    const redacted = walk(v, k, depth + 1, ancestors);
    if (redacted !== undefined) out[redactText(k)] = redacted;
  }
  if (entries.length > LOG_VALUE_LIMITS.maxEntries)
    out['…'] = `${entries.length - LOG_VALUE_LIMITS.maxEntries} more keys`;
  return out;
}

function errorFields(err: Error, depth: number, ancestors: WeakSet<object>): Record<string, unknown> {
  const out: Record<string, unknown> = { name: err.name, message: redactText(err.message) };
  if (isMeshcaError(err)) {
    out.code = err.code;
    out.retryable = err.retryable;
    if (err.hint !== undefined) out.hint = redactText(err.hint);
    if (err.details.length > 0) out.details = list([...err.details], depth, ancestors);
  } else if (err.stack !== undefined) {
    // A foreign error is unexpected: its stack is what finds the bug. Ours carry a code instead.
    out.stack = redactText(err.stack);
  }
  if (err.cause !== undefined) out.cause = walk(err.cause, undefined, depth + 1, ancestors);
  return out;
}
