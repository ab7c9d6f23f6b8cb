import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { MeshcaError } from '../errors/index.js';
import type { HostPort } from './host-port.js';

/** A running metrics endpoint. */
export interface MetricsServer {
  /** Where it listens, e.g. http://127.0.0.1:15020/metrics. */
  readonly url: string;
  /** Stops listening. */
  close(): Promise<void>;
}

/** Serves `registry` at GET /metrics on `address` (port 0 picks a free port). */
export async function startMetricsServer(address: HostPort, registry: Registry): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: the agent serves GET /metrics only\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`cannot collect metrics: ${(err as Error).message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new MeshcaError('USAGE', `cannot listen for metrics on ${address.host}:${address.port}: ${err.code ?? err.message}`, {
          cause: err,
          hint: 'choose a free port for --metrics-address',
        }),
      ),
    );
    server.listen(address.port, address.host, resolve);
  });
  const bound = server.address() as AddressInfo;
  const host = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
  return {
    url: `http://${host}:${bound.port}/metrics`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
