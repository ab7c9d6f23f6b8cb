import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest, type Agent } from 'node:https';

/** One HTTP answer as acme-client reads it: status, lowercase headers, body (parsed JSON or text). */
export interface AcmeHttpAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly data: unknown;
}

/** How to send one request. */
export interface AcmeHttpOptions {
  /** TLS trust of this server (caBundle, skipTLSVerify). */
  readonly agent: Agent;
  /** The whole exchange, connect to last byte, ms. */
  readonly timeoutMs: number;
  /** The largest body read; a longer one is refused unread. */
  readonly maxBytes: number;
}

/** No HTTP answer came: refused, reset, TLS failure, timeout. The caller maps it to a retryable error. */
export class AcmeUnreachableError extends Error {
  constructor(message: string, options: { cause: unknown }) {
    super(message, options);
    this.name = 'AcmeUnreachableError';
  }
}

/** An answer came but cannot be read as RFC 8555 says (too large, not JSON). Final. */
export class AcmeUnreadableAnswerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AcmeUnreadableAnswerError';
  }
}

const excerpt = (text: string): string => {
  const flat = text.slice(0, 64).replace(/[^\x20-\x7e]/g, '?');
  return text.length > 64 ? `${flat}…` : flat;
};

const isJsonType = (type: string): boolean =>
  type === 'application/json' || type === 'application/problem+json' || type.endsWith('+json');

/**
 * Reads a body into an answer. RFC 8555 §6: every successful answer is a JSON object except the
 * certificate chain (§7.4.2, application/pem-certificate-chain) and the empty HEAD newNonce.
 * Error answers (≥ 400) keep an unreadable body as text: the status still says what happened.
 */
function readBody(method: string, res: IncomingMessage, body: Buffer): AcmeHttpAnswer {
  const status = res.statusCode ?? 0;
  const headers = res.headers as Record<string, string | string[] | undefined>;
  const type = (res.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  const text = body.toString('utf8');
  const ok = status >= 200 && status < 300;
  if (method.toLowerCase() === 'head' || (text === '' && !ok)) return { status, headers, data: '' };
  if (
    type === 'application/pem-certificate-chain' ||
    (!isJsonType(type) && text.trimStart().startsWith('-----BEGIN'))
  ) {
    return { status, headers, data: text };
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    if (!ok) return { status, headers, data: text };
    throw new AcmeUnreadableAnswerError(
      text.trim() === ''
        ? `the answer (HTTP ${status}) is empty, not a JSON object`
        : `the answer (HTTP ${status}, content-type ${type || 'none'}) is not JSON: "${excerpt(text)}"`,
    );
  }
  if (ok && (typeof data !== 'object' || data === null || Array.isArray(data))) {
    throw new AcmeUnreadableAnswerError(
      `the answer (HTTP ${status}) is JSON but not an object: "${excerpt(text)}"`,
    );
  }
  return { status, headers, data };
}

/**
 * Sends one ACME request with node:http(s): no redirects, no retries, one deadline for the whole
 * exchange, and a size cap enforced while reading (a hostile server cannot fill memory).
 */
export function acmeHttpRequest(
  url: string,
  method: string,
  opts: { data?: unknown; headers?: Record<string, string> },
  options: AcmeHttpOptions,
): Promise<AcmeHttpAnswer> {
  return new Promise((resolve, reject) => {
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      reject(new AcmeUnreadableAnswerError(`the server named an unusable URL "${excerpt(url)}"`));
      return;
    }
    const payload = opts.data === undefined ? undefined : Buffer.from(JSON.stringify(opts.data), 'utf8');
    const send = target.protocol === 'http:' ? httpRequest : httpsRequest;
    let settled = false;
    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      reject(err);
    };
    const req = send(
      target,
      {
        method: method.toUpperCase(),
        ...(target.protocol === 'https:' && { agent: options.agent }),
        headers: {
          'user-agent': 'meshca',
          ...opts.headers,
          ...(payload !== undefined && {
            'content-type': 'application/jose+json',
            'content-length': String(payload.length),
          }),
        },
      },
      (res) => {
        const declared = Number(res.headers['content-length']);
        const tooLarge = (): AcmeUnreadableAnswerError =>
          new AcmeUnreadableAnswerError(
            `the answer (HTTP ${res.statusCode ?? 0}) is larger than ${options.maxBytes} bytes`,
          );
        if (Number.isFinite(declared) && declared > options.maxBytes) {
          fail(tooLarge());
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > options.maxBytes) fail(tooLarge());
          else chunks.push(chunk);
        });
        res.on('error', (err) =>
          fail(new AcmeUnreachableError(`the answer broke off: ${err.message}`, { cause: err })),
        );
        res.on('aborted', () => fail(new AcmeUnreachableError('the answer broke off', { cause: undefined })));
        res.on('end', () => {
          if (settled) return;
          try {
            const answer = readBody(method, res, Buffer.concat(chunks));
            settled = true;
            clearTimeout(timer);
            resolve(answer);
          } catch (err) {
            fail(err as Error);
          }
        });
      },
    );
    const timer = setTimeout(
      () =>
        fail(
          new AcmeUnreachableError(`no complete answer within ${options.timeoutMs} ms`, { cause: undefined }),
        ),
      options.timeoutMs,
    );
    req.on('error', (err) => {
      // Node's HTTP parser refused what came back (HPE_*: headers over its 16 KB limit, bytes that
      // are not HTTP): an answer came, and it is unusable, which retrying will not change.
      const code = (err as NodeJS.ErrnoException).code;
      fail(
        typeof code === 'string' && code.startsWith('HPE_')
          ? new AcmeUnreadableAnswerError(`the answer is not valid HTTP (${code}): ${err.message}`)
          : new AcmeUnreachableError(err.message, { cause: err }),
      );
    });
    req.end(payload);
  });
}
