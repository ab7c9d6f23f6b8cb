import type http2 from 'node:http2';
import { decodeGrpcMessage } from '../grpc/grpc-message.js';

/** What a raw HTTP/2 call saw. */
export interface RawResponse {
  readonly status: number;
  readonly headers: http2.IncomingHttpHeaders;
  readonly trailers: http2.IncomingHttpHeaders;
  readonly body: Buffer;
  /** grpc-status from trailers, or from headers for a trailers-only response. */
  readonly grpcStatus: number | undefined;
  /** Decoded grpc-message. */
  readonly grpcMessage: string;
  /** Whether the response arrived before the request stream was ended by this client. */
  readonly answeredBeforeRequestEnded: boolean;
  /** RST_STREAM code, when the server reset the stream. */
  readonly rstCode: number;
}

/**
 * Sends one hand-made HTTP/2 request, for the malformed inputs a real gRPC client cannot make.
 * `body` chunks are written in order; when `endRequest` is false the request is left open.
 */
export function rawCall(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body: readonly Buffer[],
  endRequest = true,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = session.request({
      ':method': 'POST',
      'content-type': 'application/grpc',
      te: 'trailers',
      ...headers,
    });
    let status = 0;
    let resHeaders: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    let requestEnded = false;
    let answeredFirst = false;
    const chunks: Buffer[] = [];
    req.on('response', (h) => {
      status = Number(h[':status']);
      resHeaders = h;
      answeredFirst = !requestEnded;
    });
    req.on('trailers', (t: http2.IncomingHttpHeaders) => {
      trailers = t;
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', (err: Error) => {
      if (status === 0) reject(err);
    });
    req.on('close', () => {
      const g = trailers['grpc-status'] ?? resHeaders['grpc-status'];
      const m = trailers['grpc-message'] ?? resHeaders['grpc-message'];
      resolve({
        status,
        headers: resHeaders,
        trailers,
        body: Buffer.concat(chunks),
        grpcStatus: g === undefined ? undefined : Number(g),
        grpcMessage: typeof m === 'string' ? decodeGrpcMessage(m) : '',
        answeredBeforeRequestEnded: answeredFirst,
        rstCode: req.rstCode ?? 0,
      });
    });
    for (const chunk of body) req.write(chunk);
    if (endRequest) {
      req.end();
      requestEnded = true;
    }
  });
}

/** Frames one gRPC message: flag byte, 4-byte big-endian length, bytes. */
export function grpcFrame(message: Uint8Array, flag = 0, declaredLength = message.length): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out[0] = flag;
  out.writeUInt32BE(declaredLength, 1);
  out.set(message, 5);
  return out;
}
