import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { resolveServeOptions, SERVE_SETTINGS, type ServeSetting } from '../cli/commands/serve-options.js';
import { defaultHierarchyOptions, initHierarchy } from '../controller/bootstrap/init-hierarchy.js';
import type * as ControllerRuntimeModule from '../controller/runtime/index.js';
import { openHomeStore } from '../store/sqlite/home-store.js';
import type { Store } from '../store/store.js';
import { runServer, startServer, type RunningServer } from './run-server.js';
import { accepts } from './testing/accepts.js';

/** What the controllers do when stopped: a test sets it to look around, or to fail. */
const controllerHooks: { onStop?: () => Promise<void> } = {};

vi.mock('../controller/runtime/index.js', async (importOriginal) => {
  const original = await importOriginal<typeof ControllerRuntimeModule>();
  return {
    ...original,
    startControllerRuntime: (...args: Parameters<typeof original.startControllerRuntime>) => {
      const runtime = original.startControllerRuntime(...args);
      return {
        ...runtime,
        stop: async () => {
          try {
            await controllerHooks.onStop?.();
          } finally {
            await runtime.stop();
          }
        },
      };
    },
  };
});

let dir: string;
let home: string;
let server: RunningServer | undefined;
const logs: string[] = [];
const blockers: net.Server[] = [];

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'meshca-run-server-'));
  home = path.join(dir, 'home');
  logs.length = 0;
  delete controllerHooks.onStop;
});
afterEach(async () => {
  await server?.close().catch(() => undefined);
  server = undefined;
  for (const b of blockers.splice(0)) await new Promise((r) => b.close(r));
  rmSync(dir, { recursive: true, force: true });
});

function options(
  settings: Partial<Record<ServeSetting, string>> = {},
): ReturnType<typeof resolveServeOptions> {
  const raw = Object.fromEntries(Object.keys(SERVE_SETTINGS).map((k) => [k, undefined])) as Record<
    ServeSetting,
    string | undefined
  >;
  Object.assign(raw, {
    grpcAddress: '127.0.0.1:0',
    httpAddress: '127.0.0.1:0',
    acmeHttp01Address: '',
    signingWorkers: '0',
    ...settings,
  });
  return resolveServeOptions(raw, home);
}

/** A store that remembers whether it was closed. */
function tracked(store: Store): Store & { closed: boolean } {
  const t = Object.create(store) as Store & { closed: boolean };
  t.closed = false;
  t.close = async () => {
    t.closed = true;
    await store.close();
  };
  return t;
}

const deps = (store?: Store & { closed: boolean }) => ({
  openStore: (h: string) => Promise.resolve(store ?? openHomeStore(h, { create: true })),
  now: () => new Date(),
  logSink: { write: (line: string) => void logs.push(line) },
});

async function initHome(): Promise<void> {
  const store = openHomeStore(home, { create: true });
  await initHierarchy(store, defaultHierarchyOptions(), new Date());
  await store.close();
}

/** A port taken by another listener on 127.0.0.1. */
async function busyPort(): Promise<number> {
  const b = net.createServer();
  blockers.push(b);
  await new Promise<void>((r) => b.listen(0, '127.0.0.1', r));
  return (b.address() as net.AddressInfo).port;
}


async function readyz(http: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://${http}/readyz`);
  return { status: res.status, body: await res.text() };
}

describe('meshca serve: a gRPC port that cannot be had', () => {
  it('fails at start naming the address and the cause, and closes the store it opened', async () => {
    await initHome();
    const port = await busyPort();
    const store = tracked(openHomeStore(home, { create: true }));
    await expect(startServer(options({ grpcAddress: `127.0.0.1:${port}` }), deps(store))).rejects.toThrow(
      `cannot listen for gRPC on 127.0.0.1:${port}: the address is already in use (EADDRINUSE)`,
    );
    expect(store.closed).toBe(true);
  });

  it('closes the store when the CA server cannot start for another reason', async () => {
    const store = tracked(openHomeStore(home, { create: true }));
    await expect(
      startServer(
        options({ jwksFile: path.join(dir, 'no-such-jwks.json'), tokenIssuers: 'https://issuer.example' }),
        deps(store),
      ),
    ).rejects.toThrow(/no-such-jwks/);
    expect(store.closed).toBe(true);
  });

  it('ends runServer with that error when the port is taken by the time `meshca init` made a CA, everything closed', async () => {
    const port = await busyPort();
    const store = tracked(openHomeStore(home, { create: true }));
    let http = '';
    const running = runServer(options({ grpcAddress: `127.0.0.1:${port}` }), new AbortController().signal, {
      ...deps(store),
      onListening: (a) => (http = a.http),
    });
    const outcome = running.then(
      () => 'resolved',
      (err: unknown) => err,
    );
    await vi.waitFor(() => expect(http).not.toBe(''), { timeout: 10_000 });
    expect((await readyz(http)).status).toBe(503);
    await initHierarchy(store, defaultHierarchyOptions(), new Date());
    const err = await Promise.race([
      outcome,
      new Promise((r) => setTimeout(() => r('still running'), 10_000)),
    ]);
    expect(String(err)).toContain(
      `cannot listen for gRPC on 127.0.0.1:${port}: the address is already in use (EADDRINUSE)`,
    );
    expect(await accepts(http)).toBe(false);
    expect(store.closed).toBe(true);
  });
});

describe('meshca serve shutdown', () => {
  it('says "shutting down" on /readyz and has stopped gRPC before the controllers stop; the HTTP server closes after', async () => {
    await initHome();
    server = await startServer(options(), deps());
    const grpc = server.grpcAddress()!;
    const http = server.httpAddress;
    expect((await readyz(http)).status).toBe(200);
    let seen: { readyz: { status: number; body: string }; grpcAccepts: boolean } | undefined;
    controllerHooks.onStop = async () => {
      seen = { readyz: await readyz(http), grpcAccepts: await accepts(grpc) };
    };
    await server.close();
    expect(seen?.readyz.status).toBe(503);
    expect(JSON.parse(seen!.readyz.body)).toEqual({ ready: false, reasons: ['shutting down'] });
    expect(seen?.grpcAccepts).toBe(false);
    expect(await accepts(http)).toBe(false);
  });

  it('runs every step when the controllers fail to stop, and reports the failure', async () => {
    await initHome();
    const store = tracked(openHomeStore(home, { create: true }));
    server = await startServer(options(), deps(store));
    const grpc = server.grpcAddress()!;
    const http = server.httpAddress;
    controllerHooks.onStop = () => Promise.reject(new Error('lease release failed'));
    await expect(server.close()).rejects.toThrow(
      'shutdown incomplete: stopping the controllers: lease release failed',
    );
    server = undefined;
    expect(await accepts(grpc)).toBe(false);
    expect(await accepts(http)).toBe(false);
    expect(store.closed).toBe(true);
    expect(logs.join('')).toContain('shutdown: stopping the controllers failed');
  });
});

describe('root-cert.pem', () => {
  it('is 0644 whatever the umask, and stale temporary files of dead processes are removed at start', async () => {
    await initHome();
    const stale = path.join(home, '.root-cert.pem.99999999.tmp');
    const live = path.join(home, `.root-cert.pem.${process.ppid}.tmp`);
    writeFileSync(stale, 'half written');
    writeFileSync(live, 'being written by a live process');
    const old = process.umask(0o077);
    try {
      server = await startServer(options(), deps());
    } finally {
      process.umask(old);
    }
    const file = path.join(home, 'root-cert.pem');
    expect(statSync(file).mode & 0o777).toBe(0o644);
    expect(existsSync(stale)).toBe(false);
    expect(existsSync(live)).toBe(true);
    expect(readdirSync(home).filter((n) => n.includes(String(process.pid)))).toEqual([]);
  });
});
