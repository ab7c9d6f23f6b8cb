import { Agent } from 'node:https';
import { createRequire } from 'node:module';
import type acme from 'acme-client';
import { MeshcaError } from '../../errors/index.js';
import { parseCertificates, parseCsr, publicKeysEqual, type Certificate } from '../../pki/index.js';
import {
  acmeAuthorizationSchema,
  acmeOrderSchema,
  readAnswer,
  type AcmeAuthorization,
  type AcmeOrder,
} from './acme-answers.js';
import {
  acmeHttpRequest,
  AcmeUnreachableError,
  AcmeUnreadableAnswerError,
  type AcmeHttpAnswer,
} from './acme-http.js';
import { alternateChainUrls, chainMatchesPreferred, MAX_ALTERNATE_CHAINS } from './acme-alternates.js';
import { AcmeProblemError, malformedAnswer, problemError } from './acme-problem.js';

/** How to reach one ACME account on one server. */
export interface AcmeSessionOptions {
  /** The directory URL (spec.acme.server). */
  readonly directoryUrl: string;
  /** The account private key, PEM. */
  readonly accountKeyPem: string;
  readonly email?: string;
  /** External account binding: key ID and the base64url HMAC key (RFC 8555 §7.3.4). */
  readonly externalAccountBinding?: { readonly keyId: string; readonly hmacKey: string };
  /** PEM roots that replace the system roots for this server (spec.acme.caBundle). */
  readonly caPem?: string;
  /** Accept any TLS certificate from the server: only when spec.acme.skipTLSVerify asks. */
  readonly skipTLSVerify?: boolean;
  /** The clock, for Retry-After; without it a Retry-After is not kept. */
  readonly now?: () => Date;
  /** Per-request timeout, ms; 30 s by default. */
  readonly timeoutMs?: number;
}

interface HttpClientLike {
  request(url: string, method: string, opts?: Record<string, unknown>): Promise<AcmeHttpAnswer>;
}

let acmeClient: typeof acme | undefined;
/**
 * acme-client (with axios) is loaded on first use: it adds ≈ 27 MiB to a process, and most
 * meshca processes (the CA server's signing threads, CLI commands) never talk ACME.
 */
function loadAcmeClient(): typeof acme {
  return (acmeClient ??= createRequire(import.meta.url)('acme-client') as typeof acme);
}

/**
 * A DNS name in ASCII lowercase, the form DNS names are compared in (RFC 4343) and ACME servers
 * send back. Only A-Z are folded: String#toLowerCase would also fold non-ASCII letters, which a
 * DNS name in a certificate (an A-label) never holds and must not be matched by.
 */
export function asciiLowercase(name: string): string {
  return name.replace(/[A-Z]+/g, (letters) => letters.toLowerCase());
}

/** The most a server may send in one answer: certificates chains are a few kilobytes. */
export const MAX_ANSWER_BYTES = 1_048_576;

/** The part of acme-client's internal API object meshca calls itself (registration, downloads). */
interface AcmeApiLike {
  apiRequest(url: string, payload: null, validStatusCodes: number[]): Promise<AcmeHttpAnswer>;
  /** newAccount; sets the account URL from the Location header (200: exists, 201: created). */
  createAccount(data: Record<string, unknown>): Promise<AcmeHttpAnswer>;
}

/**
 * One ACME account on one server, over acme-client: every call is a single request (no sleeping
 * inside; the controllers poll and honour Retry-After), and every failure is an AcmeProblemError
 * carrying the server's problem document.
 */
export class AcmeSession {
  private readonly client: acme.Client;
  private last: AcmeHttpAnswer | undefined;
  private accountUrl: string | undefined;

  constructor(private readonly options: AcmeSessionOptions) {
    this.client = new (loadAcmeClient().Client)({
      directoryUrl: options.directoryUrl,
      accountKey: options.accountKeyPem,
      ...(options.externalAccountBinding !== undefined && {
        externalAccountBinding: {
          kid: options.externalAccountBinding.keyId,
          hmacKey: options.externalAccountBinding.hmacKey,
        },
      }),
    });
    const agent = new Agent({
      ...(options.caPem !== undefined && { ca: options.caPem }),
      // Only when the issuer asks for it in writing (spec.acme.skipTLSVerify: true).
      rejectUnauthorized: options.skipTLSVerify !== true,
    });
    // acme-client keeps its HttpClient on `http`; replacing its one request method gives this
    // session its own transport: TLS trust, one deadline, a size cap, no redirects, no retries
    // sleeping in place (the controllers retry), and the last answer for error mapping.
    const http = (this.client as unknown as { http: HttpClientLike }).http;
    const transport = { agent, timeoutMs: options.timeoutMs ?? 30_000, maxBytes: MAX_ANSWER_BYTES };
    http.request = async (url, method, opts = {}) => {
      this.last = undefined;
      const answer = await acmeHttpRequest(url, method, opts, transport);
      this.last = answer;
      return answer;
    };
  }

  /**
   * Registers the account, or finds it when the key already has one (RFC 8555 §7.3); returns its
   * URL. An existing account's contact is updated only when the issuer's email differs from it.
   * (acme-client's createAccount follows a 200 with an update that repeats the registration
   * fields; pebble refuses that as an empty update, so a second issuer sharing an account key
   * without an email could never register.)
   */
  async register(): Promise<string> {
    if (this.accountUrl !== undefined) return this.accountUrl;
    const email = this.options.email;
    const contact = email === undefined || email === '' ? undefined : [`mailto:${email}`];
    const api = (this.client as unknown as { api: AcmeApiLike }).api;
    const answer = await this.call('the account registration', () =>
      api.createAccount({ termsOfServiceAgreed: true, ...(contact !== undefined && { contact }) }),
    );
    if (answer.status === 200 && contact !== undefined) {
      const existing = (answer.data as { contact?: unknown } | undefined)?.contact;
      if (!Array.isArray(existing) || existing.join('\n') !== contact.join('\n')) {
        await this.call('the account update', () => this.client.updateAccount({ contact }));
      }
    }
    this.accountUrl = this.client.getAccountUrl();
    return this.accountUrl;
  }

  /**
   * Creates an order for DNS identifiers (RFC 8555 §7.4). The names are sent in ASCII lowercase,
   * once each: DNS names compare case-insensitively (RFC 4343), and servers (Boulder, pebble)
   * lowercase and deduplicate identifiers anyway, so the order names what the certificate will.
   */
  async createOrder(dnsNames: readonly string[]): Promise<AcmeOrder> {
    await this.register();
    const identifiers = [...new Set(dnsNames.map(asciiLowercase))].map((value) => ({ type: 'dns', value }));
    const order = await this.call('the new order', () => this.client.createOrder({ identifiers }));
    return this.order('the new order', order);
  }

  /** Fetches an order's current state (POST-as-GET, RFC 8555 §6.3). */
  async getOrder(url: string): Promise<AcmeOrder> {
    await this.register();
    const order = await this.call('the order fetch', () => this.client.getOrder({ url } as acme.Order));
    return this.order('the order fetch', { ...(order as object), url });
  }

  /** Fetches an authorization (RFC 8555 §7.5). */
  async getAuthorization(url: string): Promise<AcmeAuthorization> {
    await this.register();
    const [authz] = await this.call('the authorization fetch', () =>
      this.client.getAuthorizations({ authorizations: [url] } as acme.Order),
    );
    return { ...readAnswer(acmeAuthorizationSchema, 'the authorization fetch', authz), url };
  }

  /** The key authorization of a challenge (RFC 8555 §8.1); for dns-01, its TXT value (§8.4). */
  async keyAuthorization(challenge: { type: string; url: string; token: string }): Promise<string> {
    return this.client.getChallengeKeyAuthorization({ ...challenge, status: 'pending' } as never);
  }

  /** Tells the server the challenge is ready to validate (RFC 8555 §7.5.1). */
  async acceptChallenge(url: string): Promise<void> {
    await this.register();
    await this.call('the challenge response', () =>
      this.client.completeChallenge({ url, type: 'http-01', token: '', status: 'pending' } as never),
    );
  }

  /** Finalizes a ready order with a CSR (RFC 8555 §7.4). */
  async finalize(order: AcmeOrder, csrPem: string): Promise<AcmeOrder> {
    await this.register();
    const next = await this.call('the order finalization', () =>
      this.client.finalizeOrder(order as unknown as acme.Order, csrPem),
    );
    return this.order('the order finalization', { ...(next as object), url: order.url });
  }

  /**
   * Downloads a valid order's certificate chain, PEM (RFC 8555 §7.4.2), and checks it is the
   * certificate asked for (checkedChain). With `preferredChain`, when the default chain does not
   * end at that Common Name, the first of at most MAX_ALTERNATE_CHAINS alternates that does and
   * starts with the same certificate is taken instead; else the default one.
   */
  async certificate(order: AcmeOrder, csrPem: string, preferredChain?: string): Promise<string> {
    if (order.status !== 'valid') {
      throw new MeshcaError(
        'INTERNAL',
        `the order ${order.url} is ${order.status}, not valid: nothing to download yet`,
      );
    }
    await this.register();
    const what = 'the certificate download';
    const certificateUrl = order.certificate;
    if (certificateUrl === undefined) throw malformedAnswer(what, `the valid order ${order.url} has no certificate URL`);
    // acme-client's getCertificate would fetch every alternate a server lists, all at once, from
    // anywhere; the download and the alternates go through its API request here instead.
    const api = (this.client as unknown as { api: AcmeApiLike }).api;
    const csr = parseCsr(csrPem);
    const answer = await this.call(what, () => api.apiRequest(certificateUrl, null, [200]));
    const main = this.checkedChain(what, answer.data, order, csr);
    if (preferredChain === undefined || chainMatchesPreferred(main.chain, preferredChain)) return main.pem;
    const alternates = alternateChainUrls(answer.headers['link'], certificateUrl).slice(0, MAX_ALTERNATE_CHAINS);
    for (const url of alternates) {
      const whatAlt = `the alternate chain download ${url}`;
      let alt: { pem: string; chain: Certificate[] };
      try {
        const altAnswer = await this.call(whatAlt, () => api.apiRequest(url, null, [200]));
        alt = this.checkedChain(whatAlt, altAnswer.data, order, csr);
      } catch (err) {
        // An outage is retried like any other; a broken alternate is passed over, as a missing one is.
        if (err instanceof AcmeProblemError && err.retryable) throw err;
        continue;
      }
      // RFC 8555 §7.4.2: an alternate chain starts with the same end-entity certificate.
      if (!alt.chain[0]!.der.equals(main.chain[0]!.der)) continue;
      if (chainMatchesPreferred(alt.chain, preferredChain)) return alt.pem;
    }
    return main.pem;
  }

  /**
   * Parses a downloaded chain and checks it is the certificate asked for: its leaf certifies the
   * CSR's public key and every DNS name of the CSR. A server (or anything between) must not hand
   * a workload someone else's certificate.
   */
  private checkedChain(
    what: string,
    data: unknown,
    order: AcmeOrder,
    csr: ReturnType<typeof parseCsr>,
  ): { pem: string; chain: Certificate[] } {
    const pem = typeof data === 'string' ? data : Buffer.isBuffer(data) ? data.toString('utf8') : undefined;
    if (pem === undefined || !pem.includes('-----BEGIN CERTIFICATE-----')) {
      throw malformedAnswer(what, 'the answer holds no PEM certificate');
    }
    let chain: Certificate[];
    try {
      chain = parseCertificates(pem);
    } catch (err) {
      throw malformedAnswer(
        what,
        `the certificate chain does not parse: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    const leaf = chain[0];
    if (leaf === undefined) throw malformedAnswer(what, 'the answer holds no PEM certificate');
    if (!publicKeysEqual(leaf.publicKey, csr.publicKey)) {
      throw malformedAnswer(
        what,
        `the certificate of order ${order.url} (serial ${leaf.serialNumber}, ${leaf.subjectString || 'no subject'}) is for another public key than the CSR's: refusing it`,
      );
    }
    // DNS names compare case-insensitively (RFC 4343): servers lowercase them, so a CSR for
    // API.example.com gets a leaf naming api.example.com, which is the name asked for.
    const named = new Set(leaf.sans.dnsNames.map(asciiLowercase));
    const missing = csr.sans.dnsNames.filter((name) => !named.has(asciiLowercase(name)));
    if (missing.length > 0) {
      throw malformedAnswer(
        what,
        `the certificate of order ${order.url} (serial ${leaf.serialNumber}) does not name ${missing.join(', ')}, which the CSR asks for: refusing it`,
      );
    }
    return { pem, chain };
  }

  private order(what: string, value: unknown): AcmeOrder {
    const url = (value as { url?: unknown }).url;
    const order = readAnswer(acmeOrderSchema, what, value);
    if (typeof url !== 'string' || url === '') {
      throw problemError(
        what,
        201,
        { detail: 'the order has no Location URL' },
        undefined,
        this.options.now?.(),
      );
    }
    return { ...order, url };
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    this.last = undefined;
    try {
      return await fn();
    } catch (err) {
      if (err instanceof AcmeProblemError) throw err;
      if (err instanceof AcmeUnreadableAnswerError) throw malformedAnswer(what, err.message);
      if (err instanceof AcmeUnreachableError) {
        throw new AcmeProblemError(
          new MeshcaError(
            'UPSTREAM_UNAVAILABLE',
            `cannot reach the acme server ${this.options.directoryUrl} for ${what}: no HTTP answer (connection refused, reset, TLS failure or timeout): ${err.message}`,
            {
              hint: 'check spec.acme.server, caBundle and that the server is up; meshca retries with backoff',
              cause: err,
            },
          ),
          { type: 'meshca:unreachable', detail: err.message },
          undefined,
        );
      }
      const answer = this.last as AcmeHttpAnswer | undefined;
      if (answer !== undefined && answer.status >= 400) {
        throw problemError(
          what,
          answer.status,
          answer.data,
          answer.headers['retry-after'],
          this.options.now?.(),
        );
      }
      // A successful answer acme-client could not use (no Location, a directory without the
      // resource, a 3xx): the server broke RFC 8555, retrying will not help.
      throw malformedAnswer(
        what,
        `${answer === undefined ? 'no answer' : `HTTP ${answer.status}`}: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  }
}
