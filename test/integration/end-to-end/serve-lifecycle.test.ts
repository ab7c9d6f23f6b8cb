import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { meshca, startServe, until, type ServeProcess } from '../controller/serve-process.js';

// `meshca serve` and the short commands as users run them: the built program, real signals.

let dir: string;
let home: string;
const processes: ServeProcess[] = [];
const blockers: net.Server[] = [];

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'meshca-serve-lifecycle-'));
  home = path.join(dir, 'home');
});
afterEach(async () => {
  for (const p of processes.splice(0)) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  for (const b of blockers.splice(0)) await new Promise((r) => b.close(r));
  rmSync(dir, { recursive: true, force: true });
});

/** A port held by another listener on 127.0.0.1. */
async function busyPort(): Promise<number> {
  const b = net.createServer();
  blockers.push(b);
  await new Promise<void>((r) => b.listen(0, '127.0.0.1', r));
  return (b.address() as net.AddressInfo).port;
}

/** The exit of `p`, or 'still running' after `ms`. */
async function exitWithin(p: ServeProcess, ms: number): Promise<unknown> {
  return Promise.race([p.exited, new Promise((r) => setTimeout(() => r('still running'), ms))]);
}

function serve(...extra: string[]): ServeProcess {
  const p = startServe(home, extra);
  processes.push(p);
  return p;
}

const httpAddress = (p: ServeProcess): string | undefined =>
  /"msg":"listening"[^\n]*"address":"(127\.0\.0\.1:\d+)"/.exec(p.logs())?.[1];

describe('meshca serve with a gRPC port it cannot have', () => {
  it('exits 1 at start, naming the address and the cause', async () => {
    meshca(home, 'init');
    const port = await busyPort();
    const p = serve('--grpc-address', `127.0.0.1:${port}`);
    expect(await exitWithin(p, 20_000)).toEqual({ code: 1, signal: null });
    expect(p.logs()).toContain(
      `error: cannot listen for gRPC on 127.0.0.1:${port}: the address is already in use (EADDRINUSE)\n` +
        'hint: pick another --grpc-address, or stop the process that holds this one\n',
    );
  }, 30_000);

  it('exits 1 the same way when the port is taken by the time `meshca init` makes a CA', async () => {
    const port = await busyPort();
    const p = serve('--grpc-address', `127.0.0.1:${port}`);
    await until(() => httpAddress(p) !== undefined, 'the HTTP server to listen', 20_000);
    meshca(home, 'init');
    expect(await exitWithin(p, 20_000)).toEqual({ code: 1, signal: null });
    expect(p.logs()).toContain(
      `error: cannot listen for gRPC on 127.0.0.1:${port}: the address is already in use (EADDRINUSE)\n`,
    );
  }, 40_000);
});

describe('signals', () => {
  it('a second signal of the other kind ends a serve whose shutdown waits, at once, with 130', async () => {
    const p = serve();
    await until(() => httpAddress(p) !== undefined, 'the HTTP server to listen', 20_000);
    const [host, port] = httpAddress(p)!.split(':') as [string, string];
    // A request that never ends its head: the HTTP server's close waits for it (up to 5 s).
    const socket = net.connect(Number(port), host);
    socket.on('error', () => undefined);
    await new Promise((r) => socket.once('connect', r));
    socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
    p.child.kill('SIGTERM');
    await until(() => p.logs().includes('"msg":"shutting down"'), 'the shutdown to start', 10_000);
    expect(p.child.exitCode).toBeNull();
    p.child.kill('SIGINT');
    // 130 only from the forced exit: a shutdown left to finish would end with 0.
    expect(await exitWithin(p, 20_000)).toEqual({ code: 130, signal: null });
    socket.destroy();
  }, 40_000);
});
