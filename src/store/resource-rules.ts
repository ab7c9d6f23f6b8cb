import type { Resource, ResourceKey, ResourceType } from '../api/resource.js';
import { MeshcaError } from '../errors/index.js';
import { labelKeyProblem, labelValueProblem } from './label-selector.js';

/** Largest serialized resource the store keeps, in UTF-8 bytes (etcd's own limit is 1.5 MiB). */
export const MAX_RESOURCE_BYTES = 1024 * 1024;
/** Deepest nesting of objects and arrays accepted inside a resource. */
export const MAX_RESOURCE_DEPTH = 64;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const API_VERSION =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?v[1-9][0-9]*((alpha|beta)[1-9][0-9]*)?$/;
const KIND = /^[A-Z][A-Za-z0-9]{0,62}$/;

const show = (v: unknown): string => {
  const s = typeof v === 'string' ? JSON.stringify(v) : typeof v;
  return s.length > 80 ? `${s.slice(0, 77)}…"` : s;
};

/** Why `name` is not a DNS-1123 subdomain (a resource name), or undefined. */
export function nameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string' || name.length === 0) return `must be a non-empty string, got ${show(name)}`;
  if (name.length > 253) return `has ${name.length} characters, at most 253 are allowed`;
  if (!DNS_SUBDOMAIN.test(name)) {
    return `${show(name)} is not a DNS-1123 subdomain: use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit`;
  }
  return undefined;
}

/** Why `namespace` is not a DNS-1123 label, or undefined. */
export function namespaceProblem(namespace: unknown): string | undefined {
  if (typeof namespace !== 'string' || namespace.length === 0) {
    return `must be a non-empty string (omit it for a cluster-scoped resource), got ${show(namespace)}`;
  }
  if (namespace.length > 63) return `has ${namespace.length} characters, at most 63 are allowed`;
  if (!DNS_LABEL.test(namespace)) {
    return `${show(namespace)} is not a DNS-1123 label: use lowercase letters, digits and '-', starting and ending with a letter or digit`;
  }
  return undefined;
}

function typeProblems(type: Partial<ResourceType>, problems: string[]): void {
  if (typeof type.apiVersion !== 'string' || !API_VERSION.test(type.apiVersion)) {
    problems.push(
      `apiVersion: ${show(type.apiVersion)} is not an API version such as "v1" or "cert-manager.io/v1"`,
    );
  }
  if (typeof type.kind !== 'string' || !KIND.test(type.kind)) {
    problems.push(
      `kind: ${show(type.kind)} is not a kind such as "Certificate" (UpperCamelCase, at most 63 characters)`,
    );
  }
}

function fail(code: 'INVALID_RESOURCE' | 'INVALID_INPUT', what: string, problems: string[]): never {
  const first = problems[0] ?? 'unknown problem';
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
  throw new MeshcaError(code, `${what}: ${first}${more}`, { details: problems });
}

/** Checks a resource type; INVALID_INPUT names the bad field. */
export function checkResourceType(type: unknown): asserts type is ResourceType {
  if (typeof type !== 'object' || type === null) {
    throw new MeshcaError('INVALID_INPUT', 'resource type must be an object with apiVersion and kind');
  }
  const problems: string[] = [];
  typeProblems(type, problems);
  if (problems.length > 0) fail('INVALID_INPUT', 'invalid resource type', problems);
}

/** Checks a resource key; INVALID_INPUT names the bad field. */
export function checkResourceKey(key: unknown): asserts key is ResourceKey {
  checkResourceType(key);
  const k = key as Partial<ResourceKey>;
  const problems: string[] = [];
  const n = nameProblem(k.name);
  if (n !== undefined) problems.push(`name: ${n}`);
  if (k.namespace !== undefined && k.namespace !== '') {
    const ns = namespaceProblem(k.namespace);
    if (ns !== undefined) problems.push(`namespace: ${ns}`);
  }
  if (problems.length > 0) fail('INVALID_INPUT', 'invalid resource key', problems);
}

/**
 * Checks that a value is plain JSON the store can keep exactly: no functions, symbols, bigints,
 * non-finite numbers, class instances, cycles, `__proto__` keys, nesting beyond
 * MAX_RESOURCE_DEPTH; gives up early with INPUT_TOO_LARGE once the text would pass the limit.
 */
function checkJson(
  value: unknown,
  path: string,
  depth: number,
  budget: { bytes: number },
  seen: Set<object>,
): void {
  if (budget.bytes > MAX_RESOURCE_BYTES) return;
  switch (typeof value) {
    case 'string':
      budget.bytes += value.length + 2;
      return;
    case 'boolean':
      budget.bytes += 5;
      return;
    case 'number':
      if (!Number.isFinite(value)) {
        throw new MeshcaError(
          'INVALID_RESOURCE',
          `${path}: ${value} is not a JSON number: use a finite number`,
        );
      }
      budget.bytes += 8;
      return;
    case 'object':
      break;
    default:
      throw new MeshcaError(
        'INVALID_RESOURCE',
        `${path}: a ${typeof value} cannot be stored: use JSON values only`,
      );
  }
  if (value === null) {
    budget.bytes += 4;
    return;
  }
  if (depth > MAX_RESOURCE_DEPTH) {
    throw new MeshcaError(
      'INVALID_RESOURCE',
      `${path}: nested deeper than ${MAX_RESOURCE_DEPTH} levels: flatten the resource`,
    );
  }
  if (seen.has(value)) throw new MeshcaError('INVALID_RESOURCE', `${path}: refers back to itself (a cycle)`);
  seen.add(value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      if (!(i in value) || value[i] === undefined) {
        throw new MeshcaError('INVALID_RESOURCE', `${path}[${i}]: an array element is missing: use null`);
      }
      checkJson(value[i], `${path}[${i}]`, depth + 1, budget, seen);
    }
  } else {
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) {
      throw new MeshcaError(
        'INVALID_RESOURCE',
        `${path}: an instance of a class cannot be stored: use a plain object`,
      );
    }
    for (const k of Object.keys(value)) {
      if (k === '__proto__') {
        throw new MeshcaError('INVALID_RESOURCE', `${path}: the key "__proto__" is not allowed`);
      }
      const v = (value as Record<string, unknown>)[k];
      budget.bytes += k.length + 4;
      // An undefined property is an absent one, as in JSON.stringify.
      if (v !== undefined) checkJson(v, `${path}.${k}`, depth + 1, budget, seen);
    }
  }
  seen.delete(value);
}

function checkStringMap(
  value: unknown,
  path: string,
  problems: string[],
  values: (v: string) => string | undefined,
): void {
  if (value === undefined) return;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    problems.push(`${path}: must be a map of strings`);
    return;
  }
  for (const [k, v] of Object.entries(value)) {
    const keyProblem = labelKeyProblem(k);
    if (keyProblem !== undefined) problems.push(`${path}: key ${show(k)}: ${keyProblem}`);
    if (typeof v !== 'string') problems.push(`${path}.${k}: must be a string, got ${show(v)}`);
    else {
      const valueProblem = values(v);
      if (valueProblem !== undefined) problems.push(`${path}.${k}: ${valueProblem}`);
    }
  }
}

/**
 * Checks a resource before it is written: its type, its metadata (name a DNS-1123 subdomain,
 * namespace a DNS-1123 label, labels and annotations well formed) and that it is plain JSON
 * within MAX_RESOURCE_BYTES. Throws INVALID_RESOURCE listing every problem, or INPUT_TOO_LARGE.
 */
export function checkResource(resource: unknown): asserts resource is Resource {
  if (typeof resource !== 'object' || resource === null || Array.isArray(resource)) {
    throw new MeshcaError(
      'INVALID_RESOURCE',
      'a resource must be an object with apiVersion, kind and metadata',
    );
  }
  const budget = { bytes: 0 };
  checkJson(resource, '$', 0, budget, new Set());
  if (budget.bytes > MAX_RESOURCE_BYTES) tooLarge(budget.bytes);
  const r = resource as Partial<Resource>;
  const problems: string[] = [];
  typeProblems(r, problems);
  const m = r.metadata as unknown;
  if (typeof m !== 'object' || m === null || Array.isArray(m)) {
    problems.push('metadata: must be an object with at least a name');
  } else {
    const meta = m as Record<string, unknown>;
    const n = nameProblem(meta.name);
    if (n !== undefined) problems.push(`metadata.name: ${n}`);
    // An empty namespace means cluster-scoped, like an absent one.
    if (meta.namespace !== undefined && meta.namespace !== '') {
      const ns = namespaceProblem(meta.namespace);
      if (ns !== undefined) problems.push(`metadata.namespace: ${ns}`);
    }
    for (const f of ['uid', 'resourceVersion', 'creationTimestamp'] as const) {
      if (meta[f] !== undefined && typeof meta[f] !== 'string')
        problems.push(`metadata.${f}: must be a string`);
    }
    if (meta.generation !== undefined && !Number.isSafeInteger(meta.generation)) {
      problems.push('metadata.generation: must be an integer');
    }
    if (meta.ownerReferences !== undefined && !Array.isArray(meta.ownerReferences)) {
      problems.push('metadata.ownerReferences: must be a list');
    }
    checkStringMap(meta.labels, 'metadata.labels', problems, labelValueProblem);
    checkStringMap(meta.annotations, 'metadata.annotations', problems, () => undefined);
  }
  if (problems.length > 0) fail('INVALID_RESOURCE', 'invalid resource', problems);
}

/** Throws INPUT_TOO_LARGE for a resource of at least `bytes` serialized bytes. */
export function tooLarge(bytes: number): never {
  throw new MeshcaError(
    'INPUT_TOO_LARGE',
    `resource is over the store's limit of ${MAX_RESOURCE_BYTES} bytes (1 MiB) serialized: keep large data such as bundles out of one resource`,
    { details: [`at least ${bytes} bytes`] },
  );
}
