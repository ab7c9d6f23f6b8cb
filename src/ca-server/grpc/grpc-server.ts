/**
 * A unary-only gRPC server on meshca's own HTTP/2 layer (../http2/), written by hand.
 *
 * Why not @grpc/grpc-js or @connectrpc/connect-node, nor node:http2 itself: measured on this
 * project's 2-core machine (docs/ca-server.md), @grpc/grpc-js serves a fraction of bare
 * node:http2's unary calls, and node:http2 over TLS costs ≈ 99 µs of CPU per call against ≈ 21 µs
 * for a frame layer on a bare TLS socket; the CSR path's target (≥ 1.5× cfssl, p99 ≤ 10 ms) leaves
 * no room for either. The API has one unary method, so the part of gRPC it needs is small:
 * length-prefixed messages, application/grpc content type, grpc-status and percent-encoded
 * grpc-message trailers, grpc-timeout, and rejecting compression.
 * Protocol: https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md
 */
import type { IncomingHttpHeaders } from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { MeshcaError } from '../../errors/index.js';
import type { HeaderField, H2Limits, H2Stream } from '../http2/h2-connection.js';
import { H2Server } from '../http2/h2-server.js';
import { encodeGrpcMessage } from './grpc-message.js';
import { GrpcStatus, grpcFailureOf, type GrpcStatusCode } from './grpc-status.js';
import { parseGrpcTimeout } from './grpc-timeout.js';

/** Limits that keep one caller from exhausting the server. */
export interface GrpcLimits {
  /** Largest request message, in bytes (the 5-byte prefix excluded). */
  readonly maxMessageBytes: number;
  /** Largest header block a client may send (HTTP/2 SETTINGS_MAX_HEADER_LIST_SIZE). */
  readonly maxHeaderListBytes: number;
  /** Concurrent streams per connection (SETTINGS_MAX_CONCURRENT_STREAMS). */
  readonly maxConcurrentStreams: number;
  /** Open connections at once; more are refused at accept. */
  readonly maxConnections: number;
  /** A connection with no activity for this long is closed (GOAWAY). */
  readonly idleTimeoutMs: number;
  /** A TLS handshake not finished in this long is dropped. */
  readonly handshakeTimeoutMs: number;
  /** Longest a call may run whatever grpc-timeout the client asks for. */
  readonly maxCallMs: number;
}

/** Defaults: 64 KiB messages (a CSR is ~1 KiB), 16 KiB of headers (a JWT is ~1 KiB). */
export const DEFAULT_GRPC_LIMITS: GrpcLimits = {
  maxMessageBytes: 64 * 1024,
  maxHeaderListBytes: 16 * 1024,
  maxConcurrentStreams: 100,
  maxConnections: 10_000,
  idleTimeoutMs: 5 * 60_000,
  handshakeTimeoutMs: 10_000,
  maxCallMs: 30_000,
};

/** The TLS peer as the transport saw it, for client-certificate authentication. */
export interface GrpcPeer {
  /** Remote address and port, for logs and the audit record. */
  readonly address: string;
  /** The TLS socket: its verified peer certificate and `authorized` flag. */
  readonly socket: TLSSocket;
}

/** One unary call as a method handler sees it. */
export interface UnaryCall {
  /** `/package.Service/Method`. */
  readonly path: string;
  /** Request headers, lower-case names (authorization, clusterid, …). */
  readonly headers: IncomingHttpHeaders;
  /** The request message, still encoded. */
  readonly message: Buffer;
  /** The connection the call came on. */
  readonly peer: GrpcPeer;
  /**
   * Aborted when the deadline passes (the caller has then been answered DEADLINE_EXCEEDED), the
   * client cancels, or the connection closes. The call keeps its stream's concurrency slot until
   * the handler settles, so a handler should stop early when it can.
   */
  readonly signal: AbortSignal;
}

/** A unary method: takes the call, returns the encoded response message or throws. */
export type UnaryHandler = (call: UnaryCall) => Promise<Uint8Array>;

/** Options of createGrpcServer. */
export interface GrpcServerOptions {
  /** TLS material; requestCert enables client certificates (verified against `ca`). */
  readonly tls: {
    readonly key: string | Buffer;
    readonly cert: string | Buffer;
    readonly ca?: string | Buffer | readonly (string | Buffer)[];
    readonly requestCert?: boolean;
  };
  /** Handlers by path, e.g. `/istio.v1.auth.IstioCertificateService/CreateCertificate`. */
  readonly methods: Readonly<Record<string, UnaryHandler>>;
  /** Overrides of DEFAULT_GRPC_LIMITS. */
  readonly limits?: Partial<GrpcLimits>;
  /**
   * Called with every error that was not a MeshcaError (for the log), and with transport errors;
   * a client's malformed HTTP/2 requests only at a bounded rate (see onMalformedRequest).
   */
  readonly onError?: (err: unknown, context: string) => void;
  /** Every malformed HTTP/2 request (RST_STREAM PROTOCOL_ERROR), with why: for a counter. */
  readonly onMalformedRequest?: (reason: string) => void;
}

/** A running server. */
export interface GrpcServer {
  /** New handshakes use this key and certificate chain; open connections keep theirs. */
  setSecureContext(context: { key: string | Buffer; cert: string | Buffer; ca?: string | Buffer }): void;
  /** Starts listening; resolves with the bound address (port 0 picks a free one). */
  listen(port: number, host?: string): Promise<AddressInfo>;
  /** Stops accepting, lets calls in flight finish, and resolves when every connection closed. */
  close(): Promise<void>;
}

const RESPONSE_HEADERS: readonly HeaderField[] = [
  [':status', '200'],
  ['content-type', 'application/grpc+proto'],
  ['grpc-accept-encoding', 'identity'],
];
const OK_TRAILERS: readonly HeaderField[] = [['grpc-status', '0']];

/** The HTTP/2 limits (and so the SETTINGS) a gRPC server with these limits runs with. */
export function h2LimitsOf(limits: GrpcLimits): H2Limits {
  return {
    maxConcurrentStreams: limits.maxConcurrentStreams,
    maxHeaderListBytes: limits.maxHeaderListBytes,
    // One message and its 5-byte prefix; a stream's window is never replenished, so a client
    // cannot send more than this on one call.
    maxRequestBodyBytes: limits.maxMessageBytes + 5,
    idleTimeoutMs: limits.idleTimeoutMs,
    maxOutputBufferBytes: 1 << 20,
    maxEmptyFrames: 100,
  };
}

/** Creates a unary gRPC server over TLS 1.2+ with ALPN h2 only. */
export function createGrpcServer(options: GrpcServerOptions): GrpcServer {
  const limits: GrpcLimits = { ...DEFAULT_GRPC_LIMITS, ...options.limits };
  const onError = options.onError ?? (() => undefined);
  // A Map, not the options object, so a path such as "/__proto__" finds nothing.
  const methods = new Map(Object.entries(options.methods));
  const server = new H2Server({
    tls: {
      key: options.tls.key,
      cert: options.tls.cert,
      ...(options.tls.ca !== undefined && { ca: options.tls.ca as string | Buffer | (string | Buffer)[] }),
      requestCert: options.tls.requestCert ?? false,
    },
    limits: h2LimitsOf(limits),
    maxConnections: limits.maxConnections,
    handshakeTimeoutMs: limits.handshakeTimeoutMs,
    onStream: (stream) => handleStream(stream, methods, limits, onError),
    onError,
    ...(options.onMalformedRequest !== undefined && { onMalformedRequest: options.onMalformedRequest }),
  });
  return {
    setSecureContext: (context) => server.setSecureContext(context),
    listen: (port, host = '127.0.0.1') => server.listen(port, host),
    close: () => server.close(),
  };
}

function handleStream(
  stream: H2Stream,
  methods: ReadonlyMap<string, UnaryHandler>,
  limits: GrpcLimits,
  onError: (err: unknown, context: string) => void,
): void {
  const headers = stream.headers;
  let finished = false;
  let controller: AbortController | undefined;
  let abortReason: MeshcaError | undefined;
  let timer: NodeJS.Timeout | undefined = undefined;
  const abort = (reason: MeshcaError): void => {
    abortReason ??= reason;
    controller?.abort(abortReason);
  };

  stream.onabort = (reason) => {
    if (timer !== undefined) clearTimeout(timer);
    if (!finished) {
      finished = true;
      abort(
        new MeshcaError(
          'INTERNAL',
          reason === 'stream reset' ? 'the client cancelled the call' : 'the connection closed',
        ),
      );
    }
  };

  /**
   * Ends the call with a trailers-only response; the transport stops reading the rest. A handler
   * still at work keeps the stream's slot (stream.hold) until it settles.
   */
  const fail = (status: GrpcStatusCode, message: string): void => {
    if (timer !== undefined) clearTimeout(timer);
    if (finished) return;
    finished = true;
    abort(new MeshcaError('INTERNAL', message));
    stream.respond([
      ...RESPONSE_HEADERS,
      ['grpc-status', String(status)],
      ['grpc-message', encodeGrpcMessage(message)],
    ]);
  };

  const path = headers[':path'] ?? '';
  if (headers[':method'] !== 'POST') {
    finished = true;
    stream.respond([
      [':status', '405'],
      ['allow', 'POST'],
    ]);
    return;
  }
  const contentType = headers['content-type'] ?? '';
  // "application/grpc" exactly, or followed by "+proto" / ";…" (PROTOCOL-HTTP2.md, Content-Type).
  if (!/^application\/grpc(\+proto)?(;|$)/i.test(contentType)) {
    finished = true;
    // 415 so that a non-gRPC client does not read this as a gRPC answer (PROTOCOL-HTTP2.md).
    stream.respond(
      [
        [':status', '415'],
        ['content-type', 'text/plain'],
        ['grpc-status', String(GrpcStatus.INVALID_ARGUMENT)],
        [
          'grpc-message',
          encodeGrpcMessage(
            `unsupported content-type ${JSON.stringify(contentType.slice(0, 100))}: send application/grpc`,
          ),
        ],
      ],
      Buffer.from('unsupported content-type: this is a gRPC server, send application/grpc\n'),
    );
    return;
  }
  const handler = methods.get(path);
  if (handler === undefined) {
    fail(
      GrpcStatus.UNIMPLEMENTED,
      `unknown method ${JSON.stringify(path.slice(0, 200))}: this server implements ${[...methods.keys()].join(', ')}`,
    );
    return;
  }
  const encoding = headers['grpc-encoding'];
  let timeoutMs = limits.maxCallMs;
  const timeoutHeader = headers['grpc-timeout'];
  if (timeoutHeader !== undefined) {
    try {
      timeoutMs = Math.min(timeoutMs, parseGrpcTimeout(timeoutHeader));
    } catch (err) {
      fail(GrpcStatus.INVALID_ARGUMENT, (err as Error).message);
      return;
    }
  }
  timer = setTimeout(
    () =>
      fail(GrpcStatus.DEADLINE_EXCEEDED, `the call did not finish within its deadline of ${timeoutMs} ms`),
    timeoutMs,
  );

  // Read the one request message as it arrives: the 5-byte prefix (flag, big-endian length) is
  // checked first, so an oversized message is refused before its body is buffered.
  const prefix = Buffer.alloc(5);
  let prefixLen = 0;
  let body: Buffer | undefined;
  let bodyLen = 0;
  let message: Buffer | undefined;

  stream.ondata = (chunk: Buffer) => {
    let off = 0;
    while (off < chunk.length && !finished) {
      if (body === undefined) {
        if (message !== undefined) {
          fail(
            GrpcStatus.INVALID_ARGUMENT,
            'unary method received more than one request message: send exactly one',
          );
          return;
        }
        const n = Math.min(5 - prefixLen, chunk.length - off);
        chunk.copy(prefix, prefixLen, off, off + n);
        prefixLen += n;
        off += n;
        if (prefixLen < 5) return;
        const flag = prefix[0]!;
        if (flag === 1) {
          fail(
            GrpcStatus.UNIMPLEMENTED,
            `compressed messages (grpc-encoding ${encoding ?? 'unset'}) are not supported: send uncompressed messages (grpc-encoding identity)`,
          );
          return;
        }
        if (flag !== 0) {
          fail(
            GrpcStatus.INVALID_ARGUMENT,
            `malformed gRPC frame: compressed-flag byte is ${flag}, expected 0 or 1`,
          );
          return;
        }
        const len = prefix.readUInt32BE(1);
        if (len > limits.maxMessageBytes) {
          fail(
            GrpcStatus.INVALID_ARGUMENT,
            `request message too large: ${len} bytes exceeds the limit of ${limits.maxMessageBytes} bytes`,
          );
          return;
        }
        body = Buffer.allocUnsafe(len);
        bodyLen = 0;
      }
      const n = Math.min(body.length - bodyLen, chunk.length - off);
      chunk.copy(body, bodyLen, off, off + n);
      bodyLen += n;
      off += n;
      if (bodyLen === body.length) {
        message = body;
        body = undefined;
        prefixLen = 0;
      }
    }
  };

  stream.onend = () => {
    if (finished) return;
    if (body !== undefined) {
      fail(
        GrpcStatus.INVALID_ARGUMENT,
        `truncated request message: received ${bodyLen} of ${body.length} bytes`,
      );
      return;
    }
    if (prefixLen > 0) {
      fail(GrpcStatus.INVALID_ARGUMENT, `truncated gRPC frame: received ${prefixLen} of 5 prefix bytes`);
      return;
    }
    if (message === undefined) {
      fail(GrpcStatus.INVALID_ARGUMENT, 'the request carried no message: send one IstioCertificateRequest');
      return;
    }
    const socket: TLSSocket = stream.socket;
    const call: UnaryCall = {
      path,
      headers,
      message,
      peer: { address: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`, socket },
      // Made only if a handler looks: most never do.
      get signal(): AbortSignal {
        if (controller === undefined) {
          controller = new AbortController();
          if (abortReason !== undefined) controller.abort(abortReason);
        }
        return controller.signal;
      },
    };
    // The stream's concurrency slot stays taken until the handler settles, even once the call was
    // answered at its deadline or reset by the client: otherwise a client could keep any number
    // of handlers at work on one connection (grpc-timeout 1n, or RST_STREAM, after each request).
    stream.hold();
    // Started at once; a handler that throws instead of rejecting is settled the same way.
    new Promise<Uint8Array>((resolve) => resolve(handler(call)))
      .then(
        (response) => respond(response),
        (err: unknown) => {
          const failure = grpcFailureOf(err);
          // An AbortError after the call was cancelled or timed out is how it stopped, not a bug.
          const stopped =
            controller?.signal.aborted === true && (err as Error | undefined)?.name === 'AbortError';
          if (failure.unexpected && !stopped) onError(err, `handler ${path}`);
          fail(failure.status, failure.message);
        },
      )
      .catch((err: unknown) => onError(err, `handler ${path}`))
      .finally(() => stream.done());
  };

  const respond = (response: Uint8Array): void => {
    if (timer !== undefined) clearTimeout(timer);
    if (finished) return;
    finished = true;
    const frame = Buffer.allocUnsafe(5 + response.length);
    frame[0] = 0;
    frame.writeUInt32BE(response.length, 1);
    frame.set(response, 5);
    stream.respond(RESPONSE_HEADERS, frame, OK_TRAILERS);
  };
}
