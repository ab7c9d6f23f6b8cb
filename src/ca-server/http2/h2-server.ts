import { constants as cryptoConstants } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { H2Connection, type H2Limits, type H2Stream } from './h2-connection.js';

/**
 * TLS 1.2 cipher suites: ephemeral ECDHE with an AEAD cipher only, none of RFC 9113 Appendix A's
 * blocklist (§9.2.2). Node's default list also has CBC suites (ECDHE-*-AES*-SHA*, and through
 * HIGH the static-RSA ones), which an HTTP/2 server must not negotiate. TLS 1.3 suites are all
 * AEAD and keep OpenSSL's defaults (none are named here).
 */
const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/**
 * OpenSSL options: no TLS 1.2 renegotiation (RFC 9113 §9.2.1: an HTTP/2 deployment of TLS 1.2
 * MUST disable it). A client's renegotiation ClientHello gets a no_renegotiation alert, which ends
 * the connection. Node alone only rate-limits it (tls.CLIENT_RENEG_LIMIT, 3 per 10 minutes per
 * connection), so the first renegotiations would otherwise go through. TLS 1.3 has none.
 */
const SECURE_OPTIONS = cryptoConstants.SSL_OP_NO_RENEGOTIATION;

/** Options of an H2Server. */
export interface H2ServerOptions {
  /** TLS material; requestCert asks for a client certificate (verified against `ca`, never required). */
  readonly tls: {
    readonly key: string | Buffer;
    readonly cert: string | Buffer;
    readonly ca?: string | Buffer | (string | Buffer)[];
    readonly requestCert?: boolean;
  };
  readonly limits: H2Limits;
  /** Open connections at once; more are refused at accept. */
  readonly maxConnections: number;
  /** A TLS handshake not finished in this long is dropped. */
  readonly handshakeTimeoutMs: number;
  /** Every request stream, once its headers have arrived and passed RFC 9113's checks. */
  readonly onStream: (stream: H2Stream) => void;
  /**
   * Transport errors (for the log); a client's malformed requests only at a bounded rate (the first
   * of a connection, then one summary line when it ends).
   */
  readonly onError: (err: unknown, context: string) => void;
  /** Every malformed request (answered RST_STREAM PROTOCOL_ERROR), with why: for a counter. */
  readonly onMalformedRequest?: (reason: string) => void;
}

/**
 * An HTTP/2 server over TLS 1.2+ (ECDHE + AEAD suites only, no renegotiation) with ALPN h2 only,
 * built on H2Connection.
 */
export class H2Server {
  readonly #server: tls.Server;
  readonly #connections = new Set<H2Connection>();
  readonly #onAcceptError: (err: Error) => void;

  constructor(options: H2ServerOptions) {
    this.#onAcceptError = (err) => options.onError(err, 'accept');
    this.#server = tls.createServer({
      key: options.tls.key,
      cert: options.tls.cert,
      ...(options.tls.ca !== undefined && { ca: options.tls.ca }),
      // A client certificate is optional: it is verified, and `socket.authorized` tells the
      // authenticator whether the chain checked out; a call without one falls back to its token.
      requestCert: options.tls.requestCert ?? false,
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
      ciphers: TLS12_CIPHERS,
      secureOptions: SECURE_OPTIONS,
      ALPNProtocols: ['h2'],
      handshakeTimeout: options.handshakeTimeoutMs,
    });
    this.#server.maxConnections = options.maxConnections;
    this.#server.on('secureConnection', (socket: tls.TLSSocket) => {
      // gRPC needs HTTP/2: a client that did not negotiate h2 (no ALPN, or http/1.1) is dropped.
      if (socket.alpnProtocol !== 'h2') {
        options.onError(new Error('a client connected without negotiating ALPN h2'), 'tls handshake');
        socket.destroy();
        return;
      }
      socket.setNoDelay(true);
      // Node reports an OpenSSL error on an established connection (such as the fatal alert a
      // client sends once its renegotiation is refused) without closing the socket, whose TLS
      // state is then dead: close it rather than hold it until the idle timeout.
      socket.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code?.startsWith('ERR_SSL_') === true) socket.destroy();
      });
      const connection = new H2Connection(socket, options.limits, {
        onStream: options.onStream,
        onError: options.onError,
        ...(options.onMalformedRequest !== undefined && { onMalformedRequest: options.onMalformedRequest }),
        onClose: (c) => this.#connections.delete(c),
      });
      this.#connections.add(connection);
    });
    this.#server.on('tlsClientError', (err) => options.onError(err, 'tls handshake'));
  }

  /** Starts listening; resolves with the bound address (port 0 picks a free one). */
  listen(port: number, host = '127.0.0.1'): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.off('error', reject);
        // Once listening, an error is a failed accept (EMFILE, ENFILE): Node keeps the listener
        // and accepts again, so it is reported, never left to become an uncaught exception.
        if (!this.#server.listeners('error').includes(this.#onAcceptError))
          this.#server.on('error', this.#onAcceptError);
        resolve(this.#server.address() as AddressInfo);
      });
    });
  }

  /** New handshakes use this key and certificate; open connections keep theirs. */
  setSecureContext(context: { key: string | Buffer; cert: string | Buffer; ca?: string | Buffer }): void {
    // tls.Server.setSecureContext builds the new context from these options alone: the cipher
    // list, minimum version and secure options (renegotiation allowed again) would otherwise
    // fall back to Node's defaults.
    this.#server.setSecureContext({
      ...context,
      minVersion: 'TLSv1.2',
      ciphers: TLS12_CIPHERS,
      secureOptions: SECURE_OPTIONS,
    });
  }

  /**
   * Stops accepting, sends GOAWAY on every connection, lets streams in flight finish, and resolves
   * when every connection has closed (connections still open after `graceMs` are cut).
   */
  close(graceMs = 10_000): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        for (const c of this.#connections) c.destroy();
      }, graceMs);
      timer.unref();
      this.#server.close(() => {
        clearTimeout(timer);
        resolve();
      });
      for (const c of this.#connections) c.close();
    });
  }
}
