import type { KeyObject } from 'node:crypto';
import { MeshcaError } from '../../errors/index.js';
import { parseCertificates, type Certificate } from '../certificate/certificate.js';
import { parseCsr, type CertificationRequest } from '../csr/certification-request.js';
import { parsePrivateKey } from '../keys/private-key-pem.js';

/** Reading private keys, certificate bundles and CSRs: the plain parsers, or a ParseCache in front of them. */
export interface PkiParser {
  /** As parsePrivateKey. */
  parsePrivateKey(input: string | Buffer): KeyObject;
  /** As parseCertificates. */
  parseCertificates(pem: string): Certificate[];
  /** As parseCsr, for PEM text. */
  parseCsr(pem: string): CertificationRequest;
}

/**
 * The default number of parsed keys, bundles and CSRs a ParseCache keeps: about 7 KB each (an EC
 * key's native half dominates), so at most about 57 MB. The work queue takes every Certificate's
 * step before any one's next step, so a key is read again only after one step of every other
 * issuance: this covers a few thousand issuances at once.
 */
export const DEFAULT_PARSE_CACHE_ENTRIES = 8192;
/** Inputs longer than this are parsed every time, so the cache's memory stays bounded by entries × this. */
export const MAX_CACHED_INPUT_CHARS = 64 * 1024;

type Parsed = KeyObject | readonly Certificate[] | CertificationRequest;

/**
 * A bounded least-recently-used memory of parsed private keys, certificate bundles and CSRs, keyed by
 * their exact bytes. A controller reads the same Secret again on every reconcile; importing a key
 * (DER decode, curve check, public half) costs far more than comparing a few hundred bytes. The
 * answer for given bytes is what the plain parser gives (KeyObjects and certificates are
 * read-only), so decisions using it stay functions of their inputs. Failures are not kept.
 */
export class ParseCache implements PkiParser {
  readonly #entries = new Map<string, Parsed>();
  readonly #maxEntries: number;
  #hits = 0;
  #misses = 0;

  constructor(maxEntries: number = DEFAULT_PARSE_CACHE_ENTRIES) {
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 0) {
      throw new MeshcaError(
        'INVALID_INPUT',
        `parse cache size must be a non-negative integer, got ${String(maxEntries)}`,
      );
    }
    this.#maxEntries = maxEntries;
  }

  /** See PkiParser.parsePrivateKey. */
  parsePrivateKey(input: string | Buffer): KeyObject {
    // Buffers and strings are told apart: parsePrivateKey reads a Buffer starting 0x30 as DER.
    const id = typeof input === 'string' ? `k:s:${input}` : `k:b:${input.toString('latin1')}`;
    const found = this.#lookup(id);
    if (found !== undefined) return found as KeyObject;
    const key = parsePrivateKey(input);
    this.#remember(id, key);
    return key;
  }

  /**
   * Remembers `key` as what parsePrivateKey(input) gives, for bytes just encoded from it (a key
   * meshca made and wrote), so the next reader of those bytes needs no import.
   */
  rememberPrivateKey(input: string | Buffer, key: KeyObject): void {
    this.#remember(typeof input === 'string' ? `k:s:${input}` : `k:b:${input.toString('latin1')}`, key);
  }

  /** See PkiParser.parseCertificates; a fresh array each call, so callers cannot change the kept one. */
  parseCertificates(pem: string): Certificate[] {
    const id = `c:${pem}`;
    const found = this.#lookup(id);
    if (found !== undefined) return [...(found as readonly Certificate[])];
    const certificates = parseCertificates(pem);
    this.#remember(id, Object.freeze([...certificates]));
    return certificates;
  }

  /** See PkiParser.parseCsr. */
  parseCsr(pem: string): CertificationRequest {
    const id = `r:${pem}`;
    const found = this.#lookup(id);
    if (found !== undefined) return found as CertificationRequest;
    const csr = parseCsr(pem);
    this.#remember(id, csr);
    return csr;
  }

  /** Entries kept now. */
  get size(): number {
    return this.#entries.size;
  }

  /** Lookups answered from memory and lookups that parsed, since creation. */
  get stats(): { readonly hits: number; readonly misses: number } {
    return { hits: this.#hits, misses: this.#misses };
  }

  #lookup(id: string): Parsed | undefined {
    const found = this.#entries.get(id);
    if (found === undefined) {
      this.#misses++;
      return undefined;
    }
    this.#hits++;
    // Map keeps insertion order: moving a hit to the end makes the first entry the least recent.
    this.#entries.delete(id);
    this.#entries.set(id, found);
    return found;
  }

  #remember(id: string, value: Parsed): void {
    if (this.#maxEntries === 0 || id.length > MAX_CACHED_INPUT_CHARS) return;
    this.#entries.set(id, value);
    while (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done === true) break;
      this.#entries.delete(oldest.value);
    }
  }
}
