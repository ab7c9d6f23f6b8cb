import type { Certificate } from '../../pki/index.js';

/**
 * At most this many alternate chains are fetched when an issuer sets `preferredChain`. Let's
 * Encrypt offers one or two; a server that lists hundreds must not make meshca download them all.
 */
export const MAX_ALTERNATE_CHAINS = 4;

/**
 * The `rel="alternate"` targets of a Link header (RFC 8288 §3; RFC 8555 §7.4.2 offers alternate
 * certificate chains this way), resolved against `base`, in order. Kept only when they are
 * https and on the same origin as `base`: the certificate URL came from the ACME server, an
 * alternate elsewhere would make meshca fetch whatever URL a server names. Hand-written: the
 * header is a short list of `<uri>; param=value` entries; no Link parser on npm is kept up.
 */
export function alternateChainUrls(header: string | readonly string[] | undefined, base: string): string[] {
  const text = (Array.isArray(header) ? header.join(', ') : (header as string | undefined)) ?? '';
  const origin = new URL(base).origin;
  const urls: string[] = [];
  for (const m of text.matchAll(/<([^>]*)>([^<]*)/g)) {
    const params = (m[2] ?? '').split(';').slice(1);
    const rel = params
      .map((p) => /^\s*rel\s*=\s*(?:"([^"]*)"|([^\s,;"]+))/i.exec(p))
      .find((r) => r !== null);
    const relations = (rel?.[1] ?? rel?.[2] ?? '').toLowerCase().split(/\s+/);
    if (!relations.includes('alternate')) continue;
    let url: URL;
    try {
      url = new URL(m[1] ?? '', base);
    } catch {
      continue;
    }
    if (url.protocol !== 'https:' || url.origin !== origin || urls.includes(url.href)) continue;
    urls.push(url.href);
  }
  return urls;
}

/**
 * cert-manager's `preferredChain` rule: a chain is preferred when its root-most certificate is
 * issued by, or itself is, a certificate whose Common Name is `name` (a server's chains usually
 * stop below the root, so the last certificate's issuer names it).
 */
export function chainMatchesPreferred(chain: readonly Certificate[], name: string): boolean {
  const top = chain[chain.length - 1];
  return top !== undefined && (top.issuer.commonName === name || top.subject.commonName === name);
}
