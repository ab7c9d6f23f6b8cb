import { readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { createLocalJWKSet, errors as joseErrors, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { MeshcaError, toMeshcaError } from '../../errors/index.js';

/** Where the token issuer's public keys come from. */
export type JwksLocation =
  | { readonly jwks: JSONWebKeySet }
  | { readonly file: string }
  | {
      readonly url: string;
      /** CA bundle for an https URL (a cluster's API server CA, say). */
      readonly ca?: string | Buffer;
      /** Sent as the Authorization header (a cluster may require a token to read its JWKS). */
      readonly authorization?: string;
    };

/** Options of createJwksSource. */
export type JwksSourceOptions = JwksLocation & {
  /** Whole-request timeout of a JWKS fetch. Default 5 s. */
  readonly timeoutMs?: number;
  /** Largest JWKS document accepted. Default 256 KiB. */
  readonly maxBytes?: number;
  /** How long a fetched key set is used before it is fetched again. Default 5 min. */
  readonly cacheMs?: number;
  /** An unknown `kid` refetches at most this often (key rotation without a storm). Default 30 s. */
  readonly minRefreshMs?: number;
  /**
   * After a failed load, no reload (for an expired set or an unknown `kid`) is tried for this
   * long, doubled per failure in a row up to retryMaxMs; calls meanwhile are answered at once from
   * the last good set. Default 5 s. (refresh() itself always tries.)
   */
  readonly retryMinMs?: number;
  /** The longest wait between two reloads while they fail. Default 60 s. */
  readonly retryMaxMs?: number;
  /**
   * While reloads fail, the last good set is used until this long after it was loaded (at least
   * cacheMs); then tokens are refused (UPSTREAM_UNAVAILABLE) until a reload succeeds. This bounds
   * how long a key the issuer has withdrawn stays trusted while its JWKS cannot be read. Default 1 h.
   */
  readonly maxStaleMs?: number;
  /** Milliseconds since the epoch. */
  readonly clock: () => number;
};

/** A cached, refreshing set of verification keys. */
export interface JwksSource {
  /** The key for a token's protected header; for jose's jwtVerify. */
  readonly getKey: JWTVerifyGetKey;
  /** Loads the key set now (at startup, to fail fast on a bad configuration). */
  refresh(): Promise<void>;
}

const MAX_KEYS = 100;

/**
 * A JWKS from a literal, a file or a URL, cached with a refresh interval. When a token names a
 * `kid` the cached set lacks, the set is reloaded (at most every `minRefreshMs`), so an issuer's
 * key rotation is picked up without a restart. A failed reload keeps the last good set (for at
 * most `maxStaleMs` after it was loaded) and is not tried again before a backoff (`retryMinMs`
 * doubling up to `retryMaxMs`): calls meanwhile get an answer at once, never a wait on a fetch.
 */
export function createJwksSource(options: JwksSourceOptions): JwksSource {
  const cacheMs = options.cacheMs ?? 5 * 60_000;
  const minRefreshMs = options.minRefreshMs ?? 30_000;
  const maxBytes = options.maxBytes ?? 256 * 1024;
  const timeoutMs = options.timeoutMs ?? 5000;
  const retryMinMs = options.retryMinMs ?? 5000;
  const retryMaxMs = options.retryMaxMs ?? 60_000;
  const maxStaleMs = Math.max(options.maxStaleMs ?? 3_600_000, cacheMs);
  let current: { getKey: ReturnType<typeof createLocalJWKSet>; loadedAtMs: number } | undefined;
  let lastAttemptMs = -Infinity;
  let inflight: Promise<void> | undefined;
  /** Failed loads in a row, the last one's error, and when a reload may be tried again. */
  let failures = 0;
  let lastError: MeshcaError | undefined;
  let retryAtMs = -Infinity;

  const where =
    'jwks' in options
      ? 'configured JWKS'
      : 'file' in options
        ? `JWKS file ${options.file}`
        : `JWKS URL ${options.url}`;

  const load = async (): Promise<JSONWebKeySet> => {
    let text: string;
    if ('jwks' in options) return parseJwks(JSON.stringify(options.jwks), where);
    if ('file' in options) {
      try {
        const buf = await readFile(options.file);
        if (buf.length > maxBytes)
          throw new MeshcaError(
            'INPUT_TOO_LARGE',
            `${where} is ${buf.length} bytes, over the limit of ${maxBytes}`,
          );
        text = buf.toString('utf8');
      } catch (err) {
        if (err instanceof MeshcaError) throw err;
        throw new MeshcaError('FILE_UNREADABLE', `cannot read ${where}: ${(err as Error).message}`, {
          cause: err,
        });
      }
    } else {
      text = await fetchText(options.url, {
        ca: options.ca,
        authorization: options.authorization,
        timeoutMs,
        maxBytes,
      });
    }
    return parseJwks(text, where);
  };

  const refresh = (): Promise<void> => {
    inflight ??= (async () => {
      lastAttemptMs = options.clock();
      try {
        const jwks = await load();
        current = { getKey: createLocalJWKSet(jwks), loadedAtMs: options.clock() };
        failures = 0;
        lastError = undefined;
        retryAtMs = -Infinity;
      } catch (err) {
        failures++;
        lastError = toMeshcaError(err, 'UPSTREAM_UNAVAILABLE');
        retryAtMs = options.clock() + Math.min(retryMaxMs, retryMinMs * 2 ** Math.min(failures - 1, 30));
        throw err;
      } finally {
        inflight = undefined;
      }
    })();
    return inflight;
  };

  /** Reloads unless a failed load's backoff runs (joins a reload in flight); never throws. */
  const reloadUnlessBackingOff = async (): Promise<void> => {
    if (inflight === undefined && options.clock() < retryAtMs) return;
    await refresh().catch(() => undefined); // the error is kept in lastError
  };

  /** The last good set if it may still be used, else a clear error at once. */
  const usable = (): NonNullable<typeof current> => {
    const now = options.clock();
    if (current !== undefined && now - current.loadedAtMs <= maxStaleMs) return current;
    const failed = lastError === undefined ? '' : `: ${lastError.message}`;
    const next = retryAtMs > now ? ` (next try in ${Math.ceil((retryAtMs - now) / 1000)} s)` : '';
    throw new MeshcaError(
      'UPSTREAM_UNAVAILABLE',
      current === undefined
        ? `no key set from ${where} yet${failed}${next}`
        : `the key set from ${where} was loaded ${Math.round((now - current.loadedAtMs) / 1000)} s ago, ` +
            `past the ${Math.round(maxStaleMs / 1000)} s it is used without a reload${failed}${next}`,
      { cause: lastError },
    );
  };

  const getKey: JWTVerifyGetKey = async (header, token) => {
    if (current === undefined || options.clock() - current.loadedAtMs >= cacheMs)
      await reloadUnlessBackingOff();
    try {
      return await usable().getKey(header, token);
    } catch (err) {
      const now = options.clock();
      if (
        !(err instanceof joseErrors.JWKSNoMatchingKey) ||
        now - lastAttemptMs < minRefreshMs ||
        now < retryAtMs
      )
        throw err;
      await refresh().catch(() => undefined);
      return usable().getKey(header, token);
    }
  };

  return { getKey, refresh };
}

function parseJwks(text: string, where: string): JSONWebKeySet {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new MeshcaError('INVALID_INPUT', `${where} is not JSON`, {
      hint: 'serve a JSON Web Key Set: {"keys": [...]}',
    });
  }
  const keys = (value as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) {
    throw new MeshcaError('INVALID_INPUT', `${where} has no "keys" array`, {
      hint: 'serve a JSON Web Key Set: {"keys": [...]}',
    });
  }
  if (keys.length > MAX_KEYS)
    throw new MeshcaError(
      'INVALID_INPUT',
      `${where} has ${keys.length} keys, more than the ${MAX_KEYS} allowed`,
    );
  if (
    keys.some((k) => typeof k !== 'object' || k === null || typeof (k as { kty?: unknown }).kty !== 'string')
  ) {
    throw new MeshcaError('INVALID_INPUT', `${where} has a key that is not a JWK object with a "kty"`);
  }
  return value as JSONWebKeySet;
}

/** GETs a URL with a whole-request timeout and a size limit, reading no more than the limit. */
function fetchText(
  url: string,
  opts: {
    ca: string | Buffer | undefined;
    authorization: string | undefined;
    timeoutMs: number;
    maxBytes: number;
  },
): Promise<string> {
  return new Promise((resolve, reject) => {
    const unavailable = (message: string, cause?: unknown): MeshcaError =>
      new MeshcaError('UPSTREAM_UNAVAILABLE', `cannot fetch JWKS from ${url}: ${message}`, {
        hint: 'check the JWKS URL, its CA bundle and that the issuer is reachable',
        cause,
      });
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch (err) {
      reject(
        new MeshcaError('INVALID_INPUT', `JWKS URL ${JSON.stringify(url)} is not a URL`, { cause: err }),
      );
      return;
    }
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
      reject(new MeshcaError('INVALID_INPUT', `JWKS URL ${url} must be https: or http:`));
      return;
    }
    const signal = AbortSignal.timeout(opts.timeoutMs);
    const headers: Record<string, string> = { accept: 'application/json, application/jwk-set+json' };
    if (opts.authorization !== undefined) headers.authorization = opts.authorization;
    const get = parsed.protocol === 'https:' ? https.get : http.get;
    const req = get(parsed, { signal, headers, ...(opts.ca === undefined ? {} : { ca: opts.ca }) }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(unavailable(`HTTP status ${res.statusCode ?? 'unknown'}`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > opts.maxBytes) {
          req.destroy();
          reject(unavailable(`response exceeds the limit of ${opts.maxBytes} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      res.on('error', (err) => reject(unavailable(err.message, err)));
    });
    req.on('error', (err) =>
      reject(
        signal.aborted
          ? unavailable(`no complete answer within ${opts.timeoutMs} ms`, err)
          : unavailable(err.message, err),
      ),
    );
  });
}
