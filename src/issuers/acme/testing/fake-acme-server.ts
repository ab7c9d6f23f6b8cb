import { randomBytes, type KeyObject } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { issueCertificate, parseCsr } from '../../../pki/index.js';
import { DAY, HOUR, makeIssued, makeRoot, type Issued } from '../../../pki/testing/pki-fixtures.js';

/**
 * A small ACME server for tests, following the published API (RFC 8555): directory, newNonce
 * (Replay-Nonce on every answer), newAccount, newOrder, authorization, challenge, finalize and
 * the certificate download as application/pem-certificate-chain, over HTTPS with its own test CA
 * (pass `caPem` to the session).
 *
 * It is a fake, not a CA: JWS request bodies are decoded but their signatures and nonces are NOT
 * verified, and a challenge becomes valid as soon as the client asks for validation (nothing is
 * fetched or resolved). Each endpoint's reply can be overridden per test (`override`, `once`) to
 * make the server misbehave: the real peer (pebble, test/integration/acme/) never does.
 */

/** The endpoints, by the names RFC 8555 §7.1 gives their resources. */
export type FakeAcmeEndpoint =
  | 'directory'
  | 'newNonce'
  | 'newAccount'
  | 'account'
  | 'newOrder'
  | 'order'
  | 'authorization'
  | 'challenge'
  | 'finalize'
  | 'certificate';

/** What the server answers: a status, headers, and a body (objects are sent as JSON). */
export interface FakeAcmeReply {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Buffer | object;
  /** Sends the body chunked, without Content-Length. */
  readonly chunked?: boolean;
}

/** One request as the fake saw it. */
export interface FakeAcmeRequest {
  readonly endpoint: FakeAcmeEndpoint;
  readonly method: string;
  readonly path: string;
  /** The decoded JWS payload; undefined for POST-as-GET and for GET/HEAD. */
  readonly payload: unknown;
}

/**
 * Replaces an endpoint's reply. `standard()` computes what the fake would have answered (with its
 * effects on the fake's state). Return a reply, `'reset'` to destroy the connection without an
 * answer, `'hang'` to never answer (until `close()`), or undefined to answer the standard reply.
 */
export type FakeAcmeOverride = (
  request: FakeAcmeRequest,
  standard: () => FakeAcmeReply,
) => FakeAcmeReply | 'reset' | 'hang' | undefined;

interface FakeChallenge {
  type: string;
  url: string;
  token: string;
  status: 'pending' | 'processing' | 'valid' | 'invalid';
}

interface FakeAuthorization {
  id: string;
  identifier: { type: 'dns'; value: string };
  status: 'pending' | 'valid' | 'invalid';
  challenges: FakeChallenge[];
}

interface FakeOrder {
  id: string;
  status: 'pending' | 'ready' | 'processing' | 'valid' | 'invalid';
  identifiers: { type: string; value: string }[];
  authorizations: string[];
  certificatePem?: string;
}

/** A problem document (RFC 8555 §6.7) reply. */
export function problemReply(
  status: number,
  type: string,
  detail: string,
  headers: Record<string, string> = {},
): FakeAcmeReply {
  return {
    status,
    headers: { 'content-type': 'application/problem+json', ...headers },
    body: { type: `urn:ietf:params:acme:error:${type}`, detail, status },
  };
}

const token = (): string => randomBytes(32).toString('base64url');

/** The fake ACME server; `start()` it, pass `directoryUrl` and `caPem` to the session, `close()` it. */
export class FakeAcmeServer {
  /** The CA that signs the server's TLS certificate (trust it with caPem). */
  readonly tlsCa: Issued;
  /** The CA that signs the certificates orders get. */
  readonly issuingCa: Issued;
  /** Every request, in order. */
  readonly requests: FakeAcmeRequest[] = [];
  private readonly tls: Issued;
  private readonly overrides = new Map<FakeAcmeEndpoint, FakeAcmeOverride[]>();
  private readonly orders = new Map<string, FakeOrder>();
  private readonly authorizations = new Map<string, FakeAuthorization>();
  private readonly accounts = new Map<string, string>();
  /** Each account's contact URLs, as registered or last updated. */
  private readonly contacts = new Map<string, string[]>();
  private server: Server | undefined;
  private base = '';
  private port = 0;
  private next = 1;

  constructor() {
    // TLS checks real time, so these certificates are valid now (not at the fixtures' T0).
    const now = new Date(Date.now() - HOUR);
    this.tlsCa = makeRoot({ name: 'fake acme tls root', now });
    this.tls = makeIssued(
      this.tlsCa,
      { sans: { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] }, extKeyUsages: ['serverAuth'] },
      { now },
    );
    this.issuingCa = makeRoot({ name: 'fake acme issuing root', now });
  }

  /** The test CA's PEM, for AcmeSessionOptions.caPem. */
  get caPem(): string {
    return this.tlsCa.certificate.pem;
  }

  /** The directory URL (RFC 8555 §7.1.1). */
  get directoryUrl(): string {
    return `${this.base}/dir`;
  }

  /** The URL of an endpoint with an id (e.g. `url('order', '1')`). */
  url(endpoint: FakeAcmeEndpoint, id?: string): string {
    return `${this.base}/${endpoint}${id === undefined ? '' : `/${id}`}`;
  }

  /** Listens on 127.0.0.1: a free port the first time, the same port when started again. */
  async start(): Promise<this> {
    const server = createServer(
      { key: this.tls.key.export({ type: 'pkcs8', format: 'pem' }), cert: this.tls.certificate.pem },
      (req, res) => void this.handle(req, res),
    );
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', resolve);
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
    this.base = `https://127.0.0.1:${this.port}`;
    return this;
  }

  /** Stops listening and drops every open connection: the server has gone away. */
  async close(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Overrides every reply of an endpoint until `clear()`. */
  override(endpoint: FakeAcmeEndpoint, fn: FakeAcmeOverride): void {
    this.overrides.set(endpoint, [...(this.overrides.get(endpoint) ?? []), fn]);
  }

  /** Overrides the next reply of an endpoint only. */
  once(endpoint: FakeAcmeEndpoint, fn: FakeAcmeOverride): void {
    let used = false;
    this.override(endpoint, (request, standard) => {
      if (used) return undefined;
      used = true;
      return fn(request, standard);
    });
  }

  /** Removes every override and forgets the requests seen. */
  clear(): void {
    this.overrides.clear();
    this.requests.length = 0;
  }

  /** Issues a certificate from the issuing CA for any key: to make a server answer the wrong one. */
  issuePem(publicKey: KeyObject, dnsNames: string[]): string {
    const leaf = issueCertificate(
      { publicKey, sans: { dnsNames }, lifetimeMs: 90 * DAY, extKeyUsages: ['serverAuth'] },
      { certificate: this.issuingCa.certificate, key: this.issuingCa.key },
      { now: new Date() },
    );
    return `${leaf.pem}${this.issuingCa.certificate.pem}`;
  }

  /** Sets a stored order's status (e.g. to make it `invalid`). */
  setOrderStatus(id: string, status: FakeOrder['status']): void {
    const order = this.orders.get(id);
    if (order !== undefined) order.status = status;
  }

  /**
   * Marks an authorization and its challenges invalid, as a failed validation does, and every
   * order that needs it invalid too (RFC 8555 §7.1.6).
   */
  failAuthorization(id: string): void {
    const authz = this.authorizations.get(id);
    if (authz === undefined) return;
    authz.status = 'invalid';
    for (const c of authz.challenges) c.status = 'invalid';
    for (const order of this.orders.values()) {
      if (order.authorizations.includes(id)) order.status = 'invalid';
    }
  }

  private json(status: number, body: object, headers: Record<string, string> = {}): FakeAcmeReply {
    return { status, headers: { 'content-type': 'application/json', ...headers }, body };
  }

  private orderBody(order: FakeOrder): object {
    return {
      status: order.status,
      identifiers: order.identifiers,
      authorizations: order.authorizations.map((id) => this.url('authorization', id)),
      finalize: this.url('finalize', order.id),
      ...(order.status === 'valid' && { certificate: this.url('certificate', order.id) }),
      ...(order.status === 'invalid' && {
        error: {
          type: 'urn:ietf:params:acme:error:unauthorized',
          detail: 'an authorization of this order failed',
        },
      }),
    };
  }

  private authorizationBody(authz: FakeAuthorization): object {
    return {
      identifier: authz.identifier,
      status: authz.status,
      challenges: authz.challenges.map((c) => ({
        type: c.type,
        url: c.url,
        token: c.token,
        status: c.status,
        ...(c.status === 'invalid' && {
          error: {
            type: 'urn:ietf:params:acme:error:unauthorized',
            detail: `the key authorization at ${authz.identifier.value} did not match`,
          },
        }),
      })),
    };
  }

  private standard(request: FakeAcmeRequest, id: string, jwk: string): FakeAcmeReply {
    const notFound = problemReply(404, 'malformed', `no such ${request.endpoint} ${id}`);
    switch (request.endpoint) {
      case 'directory':
        return this.json(200, {
          newNonce: this.url('newNonce'),
          newAccount: this.url('newAccount'),
          newOrder: this.url('newOrder'),
          revokeCert: `${this.base}/revokeCert`,
          keyChange: `${this.base}/keyChange`,
          meta: { termsOfService: `${this.base}/terms` },
        });
      case 'newNonce':
        return { status: request.method === 'HEAD' ? 200 : 204, headers: { 'cache-control': 'no-store' } };
      case 'newAccount': {
        const known = this.accounts.get(jwk);
        const accountId = known ?? String(this.next++);
        this.accounts.set(jwk, accountId);
        const asked = (request.payload as { contact?: unknown } | undefined)?.contact;
        if (known === undefined && Array.isArray(asked)) this.contacts.set(accountId, asked.map(String));
        return this.json(
          known === undefined ? 201 : 200,
          {
            status: 'valid',
            contact: this.contacts.get(accountId) ?? [],
            orders: `${this.url('account', accountId)}/orders`,
          },
          { location: this.url('account', accountId) },
        );
      }
      case 'account': {
        // As pebble: an update must change something (contact or status); to read, POST-as-GET.
        const update = request.payload as { contact?: unknown; status?: unknown } | undefined;
        if (update !== undefined) {
          if (!Array.isArray(update.contact) && update.status === undefined)
            return problemReply(400, 'malformed', 'Use POST-as-GET to retrieve account data instead of doing an empty update');
          if (Array.isArray(update.contact)) this.contacts.set(id, update.contact.map(String));
        }
        return this.json(200, { status: 'valid', contact: this.contacts.get(id) ?? [] });
      }
      case 'newOrder': {
        const payload = (request.payload ?? {}) as { identifiers?: { type: string; value: string }[] };
        const identifiers = payload.identifiers ?? [];
        const order: FakeOrder = {
          id: String(this.next++),
          status: 'pending',
          identifiers,
          authorizations: [],
        };
        for (const identifier of identifiers) {
          const authzId = String(this.next++);
          this.authorizations.set(authzId, {
            id: authzId,
            identifier: { type: 'dns', value: identifier.value },
            status: 'pending',
            challenges: ['http-01', 'dns-01'].map((type) => ({
              type,
              url: this.url('challenge', `${authzId}-${type}`),
              token: token(),
              status: 'pending' as const,
            })),
          });
          order.authorizations.push(authzId);
        }
        this.orders.set(order.id, order);
        return this.json(201, this.orderBody(order), { location: this.url('order', order.id) });
      }
      case 'order': {
        const order = this.orders.get(id);
        return order === undefined ? notFound : this.json(200, this.orderBody(order));
      }
      case 'authorization': {
        const authz = this.authorizations.get(id);
        return authz === undefined ? notFound : this.json(200, this.authorizationBody(authz));
      }
      case 'challenge': {
        const authzId = id.slice(0, id.indexOf('-'));
        const authz = this.authorizations.get(authzId);
        const challenge = authz?.challenges.find((c) => c.url === this.url('challenge', id));
        if (authz === undefined || challenge === undefined) return notFound;
        // Validation is not performed: asking is enough (see the class comment).
        if (request.payload !== undefined && authz.status === 'pending') {
          challenge.status = 'valid';
          authz.status = 'valid';
          for (const order of this.orders.values()) {
            if (
              order.status === 'pending' &&
              order.authorizations.every((a) => this.authorizations.get(a)?.status === 'valid')
            )
              order.status = 'ready';
          }
        }
        return this.json(200, {
          type: challenge.type,
          url: challenge.url,
          token: challenge.token,
          status: challenge.status,
        });
      }
      case 'finalize': {
        const order = this.orders.get(id);
        if (order === undefined) return notFound;
        if (order.status !== 'ready') {
          return problemReply(403, 'orderNotReady', `the order is ${order.status}, not ready`);
        }
        const csrText = (request.payload as { csr?: unknown } | undefined)?.csr;
        let csr;
        try {
          csr = parseCsr(Buffer.from(typeof csrText === 'string' ? csrText : '', 'base64url'));
        } catch (err) {
          return problemReply(400, 'badCSR', err instanceof Error ? err.message : String(err));
        }
        order.certificatePem = this.issuePem(csr.publicKey, csr.sans.dnsNames);
        order.status = 'valid';
        return this.json(200, this.orderBody(order), { location: this.url('order', order.id) });
      }
      case 'certificate': {
        const order = this.orders.get(id);
        if (order?.certificatePem === undefined) return notFound;
        return {
          status: 200,
          headers: { 'content-type': 'application/pem-certificate-chain' },
          body: order.certificatePem,
        };
      }
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const path = new URL(req.url ?? '/', this.base).pathname;
    const [, first = '', id = ''] = path.split('/');
    const endpoint = (first === 'dir' ? 'directory' : first) as FakeAcmeEndpoint;
    // JWS (RFC 7515 flattened JSON): decoded, not verified (see the class comment).
    let payload: unknown;
    let jwk = '';
    try {
      const jws = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as {
        protected?: string;
        payload?: string;
      };
      const header = JSON.parse(Buffer.from(jws.protected ?? 'e30', 'base64url').toString('utf8')) as {
        jwk?: unknown;
      };
      jwk = JSON.stringify(header.jwk ?? null);
      payload =
        jws.payload === undefined || jws.payload === ''
          ? undefined
          : (JSON.parse(Buffer.from(jws.payload, 'base64url').toString('utf8')) as unknown);
    } catch {
      payload = undefined;
    }
    const request: FakeAcmeRequest = { endpoint, method: req.method ?? 'GET', path, payload };
    this.requests.push(request);
    let reply: FakeAcmeReply | 'reset' | 'hang' | undefined;
    const standard = (): FakeAcmeReply => this.standard(request, id, jwk);
    for (const fn of this.overrides.get(endpoint) ?? []) {
      reply = fn(request, standard);
      if (reply !== undefined) break;
    }
    reply ??= standard();
    if (reply === 'reset') {
      req.socket.destroy();
      return;
    }
    if (reply === 'hang') return;
    const body =
      reply.body === undefined
        ? Buffer.alloc(0)
        : Buffer.isBuffer(reply.body)
          ? reply.body
          : Buffer.from(typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body));
    res.writeHead(reply.status, {
      'replay-nonce': token(),
      ...(reply.chunked !== true && { 'content-length': String(body.length) }),
      ...reply.headers,
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  }
}
