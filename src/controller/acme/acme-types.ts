import type { ResourceType } from '../../api/resource.js';

/** acme.cert-manager.io/v1 Order. */
export const ORDER: ResourceType = { apiVersion: 'acme.cert-manager.io/v1', kind: 'Order' };
/** acme.cert-manager.io/v1 Challenge. */
export const CHALLENGE: ResourceType = { apiVersion: 'acme.cert-manager.io/v1', kind: 'Challenge' };

/** A short stable hash (FNV-1a, 32 bits, decimal) for names derived from content, as cert-manager names Orders. */
export function shortHash(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return String(h);
}

/** A name of at most 63 characters (a label): `<base>-<hash>`, the base cut when too long. */
export function derivedName(base: string, hash: string): string {
  return `${base.slice(0, 62 - hash.length).replace(/[-.]+$/, '')}-${hash}`;
}

/** The Order name of a CertificateRequest: `<request>-<hash of its CSR>`, as cert-manager names it. */
export function orderNameOf(request: { metadata: { name: string }; spec: { request: string } }): string {
  return derivedName(request.metadata.name, shortHash(request.spec.request));
}
