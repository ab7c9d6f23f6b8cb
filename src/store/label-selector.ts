import { MeshcaError } from '../errors/index.js';

/** One requirement of a label selector, in the Kubernetes operator vocabulary. */
export interface LabelRequirement {
  readonly key: string;
  readonly operator: 'Equals' | 'NotEquals' | 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  /** One value for Equals/NotEquals, one or more for In/NotIn, none for Exists/DoesNotExist. */
  readonly values: readonly string[];
}

/** A parsed label selector: every requirement must hold (they are ANDed). Empty matches everything. */
export type LabelSelector = readonly LabelRequirement[];

/** Longest selector text accepted; a longer one is surely not written by hand or by meshca. */
export const MAX_LABEL_SELECTOR_LENGTH = 4096;

const NAME_PART = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * Why `key` is not a Kubernetes label key (a qualified name: an optional DNS-subdomain prefix
 * and `/`, then a name of at most 63 characters), or undefined when it is one.
 */
export function labelKeyProblem(key: string): string | undefined {
  const slash = key.indexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined) {
    if (prefix.length === 0 || prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix)) {
      return `prefix "${prefix}" must be a DNS subdomain of at most 253 characters (lowercase letters, digits, '-', '.')`;
    }
  }
  if (name.length === 0) return 'the name part is empty';
  if (name.length > 63) return `the name part has ${name.length} characters, at most 63 are allowed`;
  if (!NAME_PART.test(name)) {
    return `name part "${name}" must start and end with a letter or digit and hold only letters, digits, '-', '_', '.'`;
  }
  return undefined;
}

/** Why `value` is not a Kubernetes label value (empty, or at most 63 name characters), or undefined. */
export function labelValueProblem(value: string): string | undefined {
  if (value.length === 0) return undefined;
  if (value.length > 63) return `value has ${value.length} characters, at most 63 are allowed`;
  if (!NAME_PART.test(value)) {
    return `value "${value}" must start and end with a letter or digit and hold only letters, digits, '-', '_', '.'`;
  }
  return undefined;
}

/** Characters that end a bare word (a key or a value) in selector syntax. */
const SEPARATORS = new Set([' ', '\t', '\n', '\r', ',', '=', '!', '(', ')']);

/**
 * Parses Kubernetes label-selector syntax: `a=b,c==d,e!=f,g in (h,i),j notin (k),l,!m`.
 * Fails with INVALID_INPUT naming the column (1-based) of the first problem, or INPUT_TOO_LARGE.
 */
export function parseLabelSelector(text: string): LabelSelector {
  if (typeof text !== 'string') {
    throw new MeshcaError('INVALID_INPUT', 'label selector must be a string, for example "app=web,tier!=db"');
  }
  if (text.length > MAX_LABEL_SELECTOR_LENGTH) {
    throw new MeshcaError(
      'INPUT_TOO_LARGE',
      `label selector has ${text.length} characters, at most ${MAX_LABEL_SELECTOR_LENGTH} are allowed: select by fewer labels`,
    );
  }
  let pos = 0;
  const fail = (at: number, what: string): never => {
    throw new MeshcaError('INVALID_INPUT', `invalid label selector at column ${at + 1}: ${what}`, {
      details: [`selector: ${text}`, `column ${at + 1}`],
    });
  };
  const skipSpace = (): void => {
    while (pos < text.length && /\s/.test(text[pos] ?? '')) pos++;
  };
  const word = (): { value: string; at: number } => {
    const at = pos;
    while (pos < text.length && !SEPARATORS.has(text[pos] ?? '')) pos++;
    return { value: text.slice(at, pos), at };
  };
  const key = (): string => {
    skipSpace();
    const { value, at } = word();
    if (value.length === 0)
      fail(at, `expected a label key${at < text.length ? `, found "${text[at]}"` : ''}`);
    const problem = labelKeyProblem(value);
    if (problem !== undefined) fail(at, `label key "${value}": ${problem}`);
    return value;
  };
  const value = (allowEmpty: boolean): string => {
    skipSpace();
    const { value: v, at } = word();
    if (v.length === 0 && !allowEmpty) {
      fail(at, `expected a label value${at < text.length ? `, found "${text[at]}"` : ''}`);
    }
    const problem = labelValueProblem(v);
    if (problem !== undefined) fail(at, `label ${problem}`);
    return v;
  };

  const requirements: LabelRequirement[] = [];
  skipSpace();
  if (pos === text.length) return requirements;
  for (;;) {
    skipSpace();
    if (text[pos] === '!') {
      pos++;
      requirements.push({ key: key(), operator: 'DoesNotExist', values: [] });
    } else {
      const k = key();
      skipSpace();
      const opAt = pos;
      const c = text[pos];
      if (pos === text.length || c === ',') {
        requirements.push({ key: k, operator: 'Exists', values: [] });
      } else if (c === '=' || c === '!') {
        const op = text.startsWith('==', pos)
          ? '=='
          : text.startsWith('!=', pos)
            ? '!='
            : c === '='
              ? '='
              : '';
        if (op === '') fail(opAt, `expected "!=" after "!" following key "${k}"`);
        pos += op.length;
        requirements.push({ key: k, operator: op === '!=' ? 'NotEquals' : 'Equals', values: [value(true)] });
      } else {
        const { value: opWord, at } = word();
        if (opWord !== 'in' && opWord !== 'notin') {
          fail(
            at,
            `expected an operator (=, ==, !=, in, notin) or "," after key "${k}", found "${opWord || c}"`,
          );
        }
        skipSpace();
        if (text[pos] !== '(')
          fail(pos, `expected "(" after "${opWord}": write it as ${k} ${opWord} (v1,v2)`);
        pos++;
        const values: string[] = [value(false)];
        for (;;) {
          skipSpace();
          if (text[pos] === ',') {
            pos++;
            values.push(value(false));
          } else if (text[pos] === ')') {
            pos++;
            break;
          } else {
            fail(pos, `expected "," or ")" in the value list of "${k} ${opWord}"`);
          }
        }
        requirements.push({ key: k, operator: opWord === 'in' ? 'In' : 'NotIn', values });
      }
    }
    skipSpace();
    if (pos === text.length) return requirements;
    if (text[pos] !== ',') fail(pos, `expected "," between requirements, found "${text[pos]}"`);
    pos++;
    skipSpace();
    if (pos === text.length) fail(pos, 'expected a requirement after the trailing ","');
  }
}

/** True when `labels` satisfy every requirement (Kubernetes semantics: != and notin match an absent key). */
export function matchesLabelSelector(
  selector: LabelSelector,
  labels: Readonly<Record<string, string>> | undefined,
): boolean {
  return selector.every((r) => {
    const has = labels !== undefined && Object.prototype.hasOwnProperty.call(labels, r.key);
    const v = has ? labels[r.key] : undefined;
    switch (r.operator) {
      case 'Exists':
        return has;
      case 'DoesNotExist':
        return !has;
      case 'Equals':
      case 'In':
        return has && r.values.includes(v ?? '');
      case 'NotEquals':
      case 'NotIn':
        return !has || !r.values.includes(v ?? '');
    }
  });
}

/** Writes a selector back as text that parseLabelSelector reads to the same requirements. */
export function formatLabelSelector(selector: LabelSelector): string {
  return selector
    .map((r) => {
      switch (r.operator) {
        case 'Exists':
          return r.key;
        case 'DoesNotExist':
          return `!${r.key}`;
        case 'Equals':
          return `${r.key}=${r.values[0] ?? ''}`;
        case 'NotEquals':
          return `${r.key}!=${r.values[0] ?? ''}`;
        case 'In':
          return `${r.key} in (${r.values.join(',')})`;
        case 'NotIn':
          return `${r.key} notin (${r.values.join(',')})`;
      }
    })
    .join(',');
}
