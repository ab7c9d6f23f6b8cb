import http from 'node:http';
import https from 'node:https';
import { MeshcaError } from '../../errors/index.js';

/** The largest Vault answer read: a sign answer with a long chain is a few KiB. */
export const MAX_VAULT_RESPONSE_BYTES = 1024 * 1024;

/** The default timeout of one Vault request. */
export const DEFAULT_VAULT_TIMEOUT_MS = 10_000;

/** How to reach a Vault server. */
export interface VaultConnection {
  /** `https://vault.example:8200` (a path prefix is kept). */
  readonly server: string;
  /** PEM roots that verify Vault's serving certificate; the system roots when absent. */
  readonly caPem?: string;
  /** Client certificate and key for mTLS to Vault (and for the cert auth method). */
  readonly clientCertPem?: string;
  readonly clientKeyPem?: string;
  /** The TLS server name (SNI, and the name the certificate must carry). */
  readonly serverName?: string;
  /** X-Vault-Namespace (Vault Enterprise). */
  readonly namespace?: string;
  readonly timeoutMs?: number;
  readonly maxResponseBytes?: number;
}

/** One Vault request. */
export interface VaultRequest {
  readonly method: 'GET' | 'POST';
  /** The API path, starting `/v1/`. */
  readonly path: string;
  readonly token?: string;
  readonly body?: unknown;
  /** Sends X-Vault-Namespace (default true; sys/health is asked at the root namespace). */
  readonly namespaced?: boolean;
}

/** A Vault answer: the status and the parsed JSON body (undefined when empty). */
export interface VaultResponse {
  readonly status: number;
  readonly body: unknown;
}

const MAX_REDIRECTS = 3;

/**
 * A small client of Vault's HTTP API (https://developer.hashicorp.com/vault/api-docs): JSON in and
 * out, a timeout, a response size limit, and redirects followed only to the same origin (a standby
 * node answers 307 to the active one; a token must never be sent to another host).
 */
export class VaultHttpClient {
  readonly #c: VaultConnection;
  readonly #base: URL;

  constructor(connection: VaultConnection) {
    this.#c = connection;
    try {
      this.#base = new URL(connection.server);
    } catch (err) {
      throw new MeshcaError('ISSUER_INVALID', `vault server "${connection.server}" is not a URL`, {
        cause: err,
      });
    }
    if (this.#base.protocol !== 'https:' && this.#base.protocol !== 'http:') {
      throw new MeshcaError(
        'ISSUER_INVALID',
        `vault server "${connection.server}" must be an http or https URL`,
      );
    }
  }

  /** The server URL, for messages. */
  get server(): string {
    return this.#c.server;
  }

  /**
   * Sends one request. Throws UPSTREAM_UNAVAILABLE when Vault cannot be reached, times out or
   * redirects elsewhere, UPSTREAM_REJECTED when its answer is too large or not JSON; any HTTP
   * status is returned for the caller to judge.
   */
  async request(request: VaultRequest): Promise<VaultResponse> {
    let url = this.#url(request.path);
    for (let hop = 0; ; hop++) {
      const answer = await this.#send(url, request);
      if (answer.location === undefined) return { status: answer.status, body: answer.body };
      if (hop >= MAX_REDIRECTS) {
        throw new MeshcaError(
          'UPSTREAM_UNAVAILABLE',
          `vault at ${this.#c.server} redirected more than ${MAX_REDIRECTS} times`,
        );
      }
      const next = new URL(answer.location, url);
      if (next.origin !== this.#base.origin) {
        throw new MeshcaError(
          'UPSTREAM_REJECTED',
          `vault at ${this.#c.server} redirected to another origin (${next.origin}); meshca does not send its token there`,
          { hint: 'set spec.vault.server to the address of the active Vault node or its load balancer' },
        );
      }
      url = next;
    }
  }

  #url(path: string): URL {
    const prefix = this.#base.pathname.replace(/\/+$/, '');
    const url = new URL(this.#base.href);
    url.pathname = `${prefix}/${path.replace(/^\/+/, '')}`;
    url.search = '';
    return url;
  }

  #send(url: URL, request: VaultRequest): Promise<{ status: number; body: unknown; location?: string }> {
    const limit = this.#c.maxResponseBytes ?? MAX_VAULT_RESPONSE_BYTES;
    const timeoutMs = this.#c.timeoutMs ?? DEFAULT_VAULT_TIMEOUT_MS;
    const payload =
      request.body === undefined ? undefined : Buffer.from(JSON.stringify(request.body), 'utf8');
    const headers: Record<string, string> = { accept: 'application/json' };
    if (payload !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(payload.length);
    }
    if (request.token !== undefined) headers['x-vault-token'] = request.token;
    if (this.#c.namespace !== undefined && this.#c.namespace !== '' && request.namespaced !== false) {
      headers['x-vault-namespace'] = this.#c.namespace;
    }
    const where = `${request.method} ${url.pathname}`;
    const unavailable = (message: string, cause?: unknown): MeshcaError =>
      new MeshcaError('UPSTREAM_UNAVAILABLE', `vault at ${this.#c.server}: ${where}: ${message}`, {
        cause,
        hint: 'meshca retries with backoff; check that Vault is up and reachable from meshca',
      });
    return new Promise((resolve, reject) => {
      const options: https.RequestOptions = {
        method: request.method,
        headers,
        ...(url.protocol === 'https:' && {
          ...(this.#c.caPem !== undefined && { ca: this.#c.caPem }),
          ...(this.#c.clientCertPem !== undefined && { cert: this.#c.clientCertPem }),
          ...(this.#c.clientKeyPem !== undefined && { key: this.#c.clientKeyPem }),
          ...(this.#c.serverName !== undefined &&
            this.#c.serverName !== '' && { servername: this.#c.serverName }),
        }),
        // A fresh connection per request, over https and http alike. TLS options differ per
        // issuer and must not share sessions; and a pooled keep-alive socket that Vault closed
        // as idle just as it is reused fails the request with "socket hang up" (Node's global
        // agent keeps sockets alive since Node 19), which would show a healthy Vault as down.
        agent: false,
      };
      const req = (url.protocol === 'https:' ? https : http).request(url, options, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        let settled = false;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > limit && !settled) {
            settled = true;
            res.destroy();
            reject(
              new MeshcaError(
                'UPSTREAM_REJECTED',
                `vault at ${this.#c.server}: ${where}: the answer is larger than ${limit} bytes; refused`,
                { hint: 'check that spec.vault.server points at Vault, not at another service' },
              ),
            );
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', (err) => {
          if (settled) return;
          settled = true;
          reject(unavailable(`the answer broke off (${err.message})`, err));
        });
        res.on('end', () => {
          if (settled) return;
          settled = true;
          const status = res.statusCode ?? 0;
          const location = res.headers.location;
          if (status >= 300 && status < 400 && typeof location === 'string') {
            resolve({ status, body: undefined, location });
            return;
          }
          const text = Buffer.concat(chunks).toString('utf8');
          if (text.trim() === '') {
            resolve({ status, body: undefined });
            return;
          }
          try {
            resolve({ status, body: JSON.parse(text) as unknown });
          } catch (err) {
            // A proxy's error page in front of a failing Vault is an outage, not a refusal.
            if (status >= 500 || status === 429) {
              resolve({ status, body: undefined });
              return;
            }
            reject(
              new MeshcaError(
                'UPSTREAM_REJECTED',
                `vault at ${this.#c.server}: ${where}: answered HTTP ${status} with a body that is not JSON (${JSON.stringify(text.slice(0, 60))}…)`,
                { cause: err, hint: 'check that spec.vault.server points at the Vault API' },
              ),
            );
          }
        });
      });
      // One deadline for the whole exchange, answer included: a socket idle timeout never fires
      // for a server (or proxy) that trickles a byte now and then.
      const deadline = setTimeout(
        () => req.destroy(new Error(`no complete answer within ${timeoutMs} ms`)),
        timeoutMs,
      );
      deadline.unref();
      req.on('close', () => clearTimeout(deadline));
      req.on('error', (err) => reject(unavailable(err.message, err)));
      req.end(payload);
    });
  }
}
