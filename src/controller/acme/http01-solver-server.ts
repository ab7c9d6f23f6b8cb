import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Challenge } from '../../api/acme-challenge.js';
import type { Resource } from '../../api/resource.js';
import type { Store } from '../../store/store.js';
import { CHALLENGE } from './acme-types.js';

/** RFC 8555 §8.3: the path under which an HTTP-01 key authorization is fetched. */
export const HTTP01_PREFIX = '/.well-known/acme-challenge/';
const TOKEN = /^[A-Za-z0-9_-]{1,256}$/;

/** A running HTTP-01 solver. */
export interface Http01Solver {
  readonly address: string;
  close(): Promise<void>;
}

/**
 * meshca's own HTTP-01 solver (what cert-manager runs as a solver pod on port 8089): answers
 * `GET /.well-known/acme-challenge/<token>` with the key authorization of a presented,
 * unfinished HTTP-01 Challenge in the store, 404 for anything else.
 */
export async function startHttp01Solver(store: Store, address: string): Promise<Http01Solver> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0] ?? '';
    const token = path.startsWith(HTTP01_PREFIX) ? path.slice(HTTP01_PREFIX.length) : undefined;
    const deny = (code: number, text: string): void => {
      res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8' }).end(text);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return deny(405, 'only GET is served here\n');
    if (token === undefined || !TOKEN.test(token)) return deny(404, 'not an acme challenge path\n');
    store
      .list<Challenge & Resource>(CHALLENGE)
      .then((list) => {
        const found = list.items.find(
          (c) =>
            c.spec.type === 'HTTP-01' &&
            c.spec.token === token &&
            c.status?.presented === true &&
            c.status.state !== 'valid' &&
            c.status.state !== 'invalid',
        );
        if (found === undefined) return deny(404, 'no challenge with this token is presented\n');
        res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(found.spec.key);
      })
      .catch(() => deny(503, 'the store is unavailable; the acme server retries\n'));
  });
  const [host, portText] = splitHostPort(address);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(portText), host, () => resolve());
  });
  const bound = server.address() as AddressInfo;
  return {
    address: `${bound.address.includes(':') ? `[${bound.address}]` : bound.address}:${bound.port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Splits `host:port` or `[v6]:port`. */
function splitHostPort(address: string): [string, string] {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(address) ?? /^([^:]*):(\d+)$/.exec(address);
  if (m === null || m[1] === undefined || m[2] === undefined) throw new Error(`${address} is not host:port`);
  return [m[1] === '' ? '0.0.0.0' : m[1], m[2]];
}
