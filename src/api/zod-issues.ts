import type * as z from 'zod';
import { suggestName } from './suggest.js';
import type { ValidationIssue } from './validation-issue.js';

// The parts of zod 4's schema definitions (`schema._zod.def`, its documented internals for
// library authors) this walker reads to learn which fields an object at a path accepts.
interface Def {
  type: string;
  shape?: Record<string, Walkable>;
  element?: Walkable;
  valueType?: Walkable;
  innerType?: Walkable;
  in?: Walkable;
  out?: Walkable;
  options?: Walkable[];
  left?: Walkable;
  right?: Walkable;
}
interface Walkable {
  _zod: { def: Def };
}

/** The field names the object schema(s) at `path` accept (empty when no object is there). */
export function knownFieldsAt(schema: z.ZodType, path: ReadonlyArray<PropertyKey>): Set<string> {
  const found = new Set<string>();
  const visit = (s: Walkable | undefined, i: number, depth: number): void => {
    // Schemas here are finite trees; the depth cap only guards against a cyclic lazy schema.
    if (s === undefined || depth > 200) return;
    const def = s._zod.def;
    const seg = path[i];
    switch (def.type) {
      case 'object':
        if (i === path.length) for (const k of Object.keys(def.shape ?? {})) found.add(k);
        else if (typeof seg === 'string') visit(def.shape?.[seg], i + 1, depth + 1);
        return;
      case 'array':
        if (typeof seg === 'number') visit(def.element, i + 1, depth + 1);
        return;
      case 'record':
        if (i < path.length) visit(def.valueType, i + 1, depth + 1);
        return;
      case 'union':
        for (const o of def.options ?? []) visit(o, i, depth + 1);
        return;
      case 'intersection':
        visit(def.left, i, depth + 1);
        visit(def.right, i, depth + 1);
        return;
      case 'pipe':
        visit(def.in, i, depth + 1);
        return;
      default:
        // optional, nullable, default, prefault, readonly, catch, nonoptional: one inner schema.
        visit(def.innerType, i, depth + 1);
    }
  };
  visit(schema, 0, 0);
  return found;
}

const describe = (value: unknown): string => {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  switch (typeof value) {
    case 'string':
      return value.length > 40
        ? `the string ${JSON.stringify(value.slice(0, 40) + '…')}`
        : `the string ${JSON.stringify(value)}`;
    case 'number':
      return `the number ${value}`;
    case 'boolean':
      return String(value);
    case 'object':
      return 'a mapping';
    default:
      return typeof value;
  }
};

const EXPECTED: Readonly<Record<string, string>> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  object: 'a mapping',
  record: 'a mapping',
  array: 'a list',
};

const toPath = (path: ReadonlyArray<PropertyKey>): Array<string | number> =>
  path.map((p) => (typeof p === 'number' ? p : String(p)));

type LooseIssue = z.core.$ZodIssue & {
  input?: unknown;
  keys?: string[];
  values?: unknown[];
  expected?: string;
  origin?: string;
  minimum?: number | bigint;
  maximum?: number | bigint;
  issues?: LooseIssue[];
};

/**
 * Turns zod issues into meshca's: one issue per unknown field with the field meant, messages that
 * say what is expected and what was found. Parse with `reportInput: true` for the "found" part.
 */
export function fromZodIssues(schema: z.ZodType, issues: readonly z.core.$ZodIssue[]): ValidationIssue[] {
  const out: ValidationIssue[] = [];
  for (const raw of issues) {
    const issue = raw as LooseIssue;
    const path = toPath(issue.path);
    switch (issue.code) {
      case 'unrecognized_keys': {
        const known = knownFieldsAt(schema, issue.path);
        for (const key of issue.keys ?? []) {
          const meant = suggestName(key, known);
          out.push({
            path: [...path, key],
            message: meant === undefined ? 'unknown field' : `unknown field; did you mean "${meant}"?`,
          });
        }
        break;
      }
      case 'invalid_type': {
        const expected = EXPECTED[issue.expected ?? ''] ?? String(issue.expected);
        out.push({
          path,
          message:
            issue.input === undefined
              ? `is required (${expected})`
              : `must be ${expected}, not ${describe(issue.input)}`,
        });
        break;
      }
      case 'invalid_value': {
        const values = (issue.values ?? []).map((v) => JSON.stringify(v));
        const meant =
          typeof issue.input === 'string'
            ? suggestName(issue.input, (issue.values ?? []).map(String))
            : undefined;
        const head = values.length === 1 ? `must be ${values[0]}` : `must be one of ${values.join(', ')}`;
        out.push({ path, message: meant === undefined ? head : `${head}; did you mean "${meant}"?` });
        break;
      }
      case 'too_small':
      case 'too_big': {
        const bound = issue.code === 'too_small' ? `at least ${issue.minimum}` : `at most ${issue.maximum}`;
        const custom = issue.message.startsWith('must');
        const message = custom
          ? issue.message
          : issue.origin === 'array'
            ? `must have ${bound} items`
            : issue.origin === 'string'
              ? `must be ${bound} characters`
              : `must be ${bound}`;
        out.push({ path, message });
        break;
      }
      case 'invalid_key': {
        for (const inner of issue.issues ?? [])
          out.push({ path, message: `key ${JSON.stringify(path.at(-1))}: ${inner.message}` });
        break;
      }
      default:
        out.push({ path, message: issue.message.charAt(0).toLowerCase() + issue.message.slice(1) });
    }
  }
  return out;
}
