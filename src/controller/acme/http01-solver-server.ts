import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Challenge } from '../../api/acme-challenge.js';
import type { Resource } from '../../api/resource.js';
import { isMeshcaError } from '../../errors/index.js';
import type { Store, Watch, WatchEvent } from '../../store/store.js';
import { CHALLENGE } from './acme-types.js';

/** RFC 8555 §8.3: the path under which an HTTP-01 key authorization is fetched. */
export const HTTP01_PREFIX = '/.well-known/acme-challenge/';
const TOKEN = /^[A-Za-z0-9_-]{1,256}$/;

type ChallengeObject = Challenge & Resource;

/** A running HTTP-01 solver. */
export interface Http01Solver {
  readonly address: string;
  /** Resolves once the Challenges in the store are read: before that every token is a 503. */
  readonly ready: Promise<void>;
  close(): Promise<void>;
}

/**
 * Limits requests per client. src/http's ClientRateLimiter fits; the controller layer cannot
 * import it, so the composition root (run-server) passes one in.
 */
export interface Http01RateLimiter {
  take(
    route: string,
    client: string,
  ): { readonly allowed: true } | { readonly allowed: false; readonly retryAfterMs: number };
}

/** Options of startHttp01Solver. */
export interface Http01SolverOptions {
  /** Per-client-IP limit; a client over it gets 429. Without one nothing is limited. */
  readonly rateLimiter?: Http01RateLimiter;
  /** Told of list and watch failures (each is retried after `retryDelayMs`). */
  readonly onError?: (err: unknown) => void;
  /** Pause before listing or watching again after a failure; 1 s by default. */
  readonly retryDelayMs?: number;
  /** Challenges read per list page; 500 by default. */
  readonly listPageSize?: number;
}

/** The route name the solver's requests are counted under in the rate limiter. */
export const HTTP01_RATE_LIMIT_ROUTE = 'acme-http01';

/** What the solver answers for one presented HTTP-01 Challenge. */
interface Answer {
  readonly token: string;
  /** The challenge's DNS name in ASCII lowercase: the Host a request must name. */
  readonly host: string;
  readonly key: string;
}

/** ASCII lowercase: DNS names compare case-insensitively (RFC 4343); ACME servers lowercase them. */
const asciiLowercase = (s: string): string => s.replace(/[A-Z]+/g, (letters) => letters.toLowerCase());

/** The challenge a request may be answered from: presented, HTTP-01, not finished. */
function answerOf(c: ChallengeObject): Answer | undefined {
  if (
    c.spec.type !== 'HTTP-01' ||
    c.status?.presented !== true ||
    c.status.state === 'valid' ||
    c.status.state === 'invalid'
  ) {
    return undefined;
  }
  return { token: c.spec.token, host: asciiLowercase(c.spec.dnsName), key: c.spec.key };
}

const objectKey = (c: Resource): string => `${c.metadata.namespace ?? ''}/${c.metadata.name}`;

/** Answers by token, kept from the store's Challenges: a request reads memory, never the store. */
class ChallengeIndex {
  private byObject = new Map<string, Answer>();
  private byToken = new Map<string, Map<string, Answer>>();

  /** Replaces everything with `challenges` (after a list). */
  reset(challenges: readonly ChallengeObject[]): void {
    this.byObject = new Map();
    this.byToken = new Map();
    for (const c of challenges) this.set(objectKey(c), answerOf(c));
  }

  apply(event: WatchEvent<ChallengeObject>): void {
    this.set(objectKey(event.object), event.type === 'DELETED' ? undefined : answerOf(event.object));
  }

  /** The key authorization for `token` when the challenge's DNS name is `host` (lowercase). */
  lookup(token: string, host: string): string | undefined {
    for (const answer of this.byToken.get(token)?.values() ?? []) {
      if (answer.host === host) return answer.key;
    }
    return undefined;
  }

  private set(key: string, answer: Answer | undefined): void {
    const previous = this.byObject.get(key);
    if (previous !== undefined) {
      const sameToken = this.byToken.get(previous.token);
      sameToken?.delete(key);
      if (sameToken?.size === 0) this.byToken.delete(previous.token);
      this.byObject.delete(key);
    }
    if (answer === undefined) return;
    this.byObject.set(key, answer);
    let sameToken = this.byToken.get(answer.token);
    if (sameToken === undefined) {
      sameToken = new Map();
      this.byToken.set(answer.token, sameToken);
    }
    sameToken.set(key, answer);
  }
}

/**
 * The Host a request names, port stripped, in ASCII lowercase (`[v6]:port` gives `v6`), as
 * cert-manager's solver reads it; undefined without a Host header.
 */
function requestHost(header: string | undefined): string | undefined {
  if (header === undefined || header === '') return undefined;
  const m = /^\[([^\]]*)\](?::\d*)?$/.exec(header) ?? /^([^:]*)(?::\d*)?$/.exec(header);
  return asciiLowercase(m?.[1] ?? header);
}

/** The client an address is counted as: an IPv4-mapped IPv6 address counts as its IPv4 address. */
function clientOf(remoteAddress: string | undefined): string {
  if (remoteAddress === undefined) return 'unknown';
  return remoteAddress.startsWith('::ffff:') && remoteAddress.includes('.')
    ? remoteAddress.slice(7)
    : remoteAddress;
}

/**
 * meshca's own HTTP-01 solver (what cert-manager runs as a solver pod on port 8089): answers
 * `GET /.well-known/acme-challenge/<token>` with the key authorization of a presented,
 * unfinished HTTP-01 Challenge whose dnsName is the request's Host (port stripped, compared
 * case-insensitively), as `text/plain`; 404 for anything else, as cert-manager's solver does.
 *
 * The answers are kept in memory from a list and a watch of the Challenges (every replica
 * answers, not only the controllers' leader): a request never reads the store, so an
 * unauthenticated client cannot make the solver scan it. A client over `rateLimiter` gets 429.
 */
export async function startHttp01Solver(
  store: Store,
  address: string,
  options: Http01SolverOptions = {},
): Promise<Http01Solver> {
  const index = new ChallengeIndex();
  let synced = false;
  const informer = followChallenges(store, index, options, () => {
    synced = true;
  });
  const server: Server = createServer((req, res) => {
    const deny = (code: number, text: string, headers: Record<string, string> = {}): void => {
      res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8', ...headers }).end(text);
    };
    const limited = options.rateLimiter?.take(HTTP01_RATE_LIMIT_ROUTE, clientOf(req.socket.remoteAddress));
    if (limited !== undefined && !limited.allowed) {
      return deny(429, 'too many requests\n', {
        'retry-after': String(Math.max(1, Math.ceil(limited.retryAfterMs / 1000))),
      });
    }
    const path = (req.url ?? '').split('?')[0] ?? '';
    const token = path.startsWith(HTTP01_PREFIX) ? path.slice(HTTP01_PREFIX.length) : undefined;
    if (req.method !== 'GET' && req.method !== 'HEAD') return deny(405, 'only GET is served here\n');
    if (token === undefined || !TOKEN.test(token)) return deny(404, 'not an acme challenge path\n');
    const host = requestHost(req.headers.host);
    const key = host === undefined ? undefined : index.lookup(token, host);
    if (key === undefined) {
      // Before the first list nothing is known yet: say so rather than that nothing is presented.
      if (!synced) return deny(503, 'the challenges are not read yet; the acme server retries\n');
      return deny(404, 'no challenge with this token is presented for this host\n');
    }
    res
      .writeHead(200, {
        'content-type': 'text/plain; charset=utf-8',
        'cache-control': 'no-cache, no-store, must-revalidate',
      })
      .end(key);
  });
  const [host, portText] = splitHostPort(address);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(Number(portText), host, () => resolve());
    });
  } catch (err) {
    await informer.stop();
    throw err;
  }
  const bound = server.address() as AddressInfo;
  return {
    address: `${bound.address.includes(':') ? `[${bound.address}]` : bound.address}:${bound.port}`,
    ready: informer.ready,
    close: async () => {
      await informer.stop();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
    },
  };
}

/**
 * Keeps `index` equal to the store's Challenges: lists them (in pages), then follows a watch from
 * the list's resourceVersion; after GONE it lists again at once, after any other failure (or a
 * watch that ends) after `retryDelayMs`, keeping the last answers meanwhile.
 */
function followChallenges(
  store: Store,
  index: ChallengeIndex,
  options: Http01SolverOptions,
  onSynced: () => void,
): { ready: Promise<void>; stop(): Promise<void> } {
  const retryDelayMs = options.retryDelayMs ?? 1000;
  const pageSize = options.listPageSize ?? 500;
  let stopped = false;
  let watch: Watch<ChallengeObject> | undefined;
  let wake: (() => void) | undefined;
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  const pause = (): Promise<void> =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        wake = undefined;
        resolve();
      }, retryDelayMs);
      timer.unref();
      wake = () => {
        clearTimeout(timer);
        wake = undefined;
        resolve();
      };
    });
  const relist = async (): Promise<string> => {
    const items: ChallengeObject[] = [];
    let page = await store.list<ChallengeObject>(CHALLENGE, { limit: pageSize });
    const resourceVersion = page.resourceVersion;
    items.push(...page.items);
    while (page.continue !== undefined && !stopped) {
      page = await store.list<ChallengeObject>(CHALLENGE, { limit: pageSize, continue: page.continue });
      items.push(...page.items);
    }
    if (!stopped) index.reset(items);
    return resourceVersion;
  };
  const run = async (): Promise<void> => {
    let from: string | undefined;
    while (!stopped) {
      try {
        if (from === undefined) {
          from = await relist();
          onSynced();
          markReady();
        }
        if (stopped) return;
        watch = store.watch<ChallengeObject>(CHALLENGE, { resourceVersion: from });
        try {
          for await (const event of watch) {
            if (stopped) return;
            index.apply(event);
            from = event.object.metadata.resourceVersion ?? from;
          }
        } finally {
          watch.close();
          watch = undefined;
        }
        if (!stopped) await pause();
      } catch (err) {
        if (stopped) return;
        if (isMeshcaError(err, 'GONE')) {
          from = undefined;
          continue;
        }
        options.onError?.(err);
        await pause();
      }
    }
  };
  const running = run();
  return {
    ready,
    stop: async () => {
      stopped = true;
      watch?.close();
      wake?.();
      await running;
    },
  };
}

/** Splits `host:port` or `[v6]:port`. */
function splitHostPort(address: string): [string, string] {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(address) ?? /^([^:]*):(\d+)$/.exec(address);
  if (m === null || m[1] === undefined || m[2] === undefined) throw new Error(`${address} is not host:port`);
  return [m[1] === '' ? '0.0.0.0' : m[1], m[2]];
}
