import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { VaultHttpClient } from './vault-http-client.js';

describe('VaultHttpClient connections', () => {
  let server: http.Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  });

  it('does not reuse a socket Vault may be closing as idle: a server that drops the second request on a connection still gets every answer', async () => {
    // The server answers keep-alive, then treats any further request on the same connection as
    // arriving just as its idle timeout closes it: the socket is destroyed unanswered.
    const served = new WeakMap<Socket, number>();
    server = http.createServer({ keepAlive: true }, (req, res) => {
      const n = (served.get(req.socket) ?? 0) + 1;
      served.set(req.socket, n);
      if (n > 1) {
        req.socket.destroy();
        return;
      }
      res.setHeader('connection', 'keep-alive');
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ initialized: true, sealed: false }));
    });
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const client = new VaultHttpClient({ server: `http://127.0.0.1:${port}` });
    for (let i = 0; i < 3; i++) {
      const answer = await client.request({ method: 'GET', path: '/v1/sys/health' });
      expect(answer).toEqual({ status: 200, body: { initialized: true, sealed: false } });
    }
  });

  it('gives up on an answer that keeps trickling in past the timeout, which the idle timeout never catches', async () => {
    const timers: NodeJS.Timeout[] = [];
    server = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{');
      // A byte every 50 ms: never idle for the 300 ms timeout, never done.
      const tick = setInterval(() => res.write(' '), 50);
      timers.push(tick);
      res.on('close', () => clearInterval(tick));
    });
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const client = new VaultHttpClient({ server: `http://127.0.0.1:${port}`, timeoutMs: 300 });
    await expect(client.request({ method: 'GET', path: '/v1/sys/health' })).rejects.toMatchObject({
      code: 'UPSTREAM_UNAVAILABLE',
      message: expect.stringContaining('no complete answer within 300 ms') as unknown,
    });
    for (const t of timers) clearInterval(t);
  });
});
