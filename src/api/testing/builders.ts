import { parse } from 'yaml';
import { validateResource } from '../validate-resource.js';
import { formatPath } from '../validation-issue.js';

/** A manifest fixture decoded to a plain object, to change in a test. */
export function decode(yamlText: string): Record<string, unknown> {
  return parse(yamlText) as Record<string, unknown>;
}

/** The fixture with `patch` merged into its spec; a field set to undefined is removed. */
export function withSpec(yamlText: string, patch: Record<string, unknown>): Record<string, unknown> {
  const doc = decode(yamlText);
  const spec = { ...(doc.spec as Record<string, unknown>) };
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) delete spec[k];
    else spec[k] = v;
  }
  return { ...doc, spec };
}

/** Every issue validateResource reports for `input`, as `path: message` lines; [] when valid. */
export function issuesOf(input: unknown): string[] {
  const result = validateResource(input);
  return result.ok ? [] : result.issues.map((i) => `${formatPath(i.path)}: ${i.message}`);
}
