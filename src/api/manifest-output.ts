import { stringify } from 'yaml';
import type { Resource } from './resource.js';

/**
 * Renders resources as YAML: one resource as one document, a list as documents separated by
 * `---`. Long base64 values stay on one line so they copy and diff cleanly.
 */
export function toYaml(resources: Resource | readonly Resource[]): string {
  const list = Array.isArray(resources) ? (resources as readonly Resource[]) : [resources as Resource];
  return list.map((r) => stringify(r, { lineWidth: 0, minContentWidth: 0 })).join('---\n');
}

/** Renders resources as JSON like kubectl: one resource as itself, a list as a `v1 List`. */
export function toJson(resources: Resource | readonly Resource[]): string {
  const value = Array.isArray(resources) ? { apiVersion: 'v1', kind: 'List', items: resources } : resources;
  return `${JSON.stringify(value, null, 2)}\n`;
}
