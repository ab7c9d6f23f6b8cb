import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCertificates } from '../../../src/pki/index.js';
import { requirePeer } from '../peer.js';

// Issue "Istio CA server", done when: two agents' certificates complete mutual TLS through
// openssl s_server/s_client; the server restarts under running agents, no agent fails for good
// and no valid certificate is removed. Everything runs as real processes of the built program.
/** A TCP port free right now on loopback. */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

const BIN = fileURLToPath(new URL('../../../bin/meshca.js', import.meta.url));
const LIFETIME_S = 40;

describe.runIf(requirePeer('openssl', 'openssl'))('agents against a real meshca serve process', () => {
  let dir: string;
  let home: string;
  let server: ChildProcess | undefined;
  let grpcPort = 0;
  const agents: ChildProcess[] = [];

  const meshca = (...args: string[]): string => {
    const r = spawnSync(process.execPath, [BIN, '--home', home, ...args], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`meshca ${args.join(' ')} failed: ${r.stderr}`);
    return r.stdout;
  };

  /** Starts `meshca serve`; resolves with the gRPC port once it listens. */
  const startServer = (port: number): Promise<number> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, '--home', home, 'serve', '--grpc-address', `127.0.0.1:${port}`, '--http-address', '127.0.0.1:0'], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      server = child;
      let buf = '';
      child.stderr.on('data', (d: Buffer) => {
        buf += d.toString();
        const m = /"msg":"CA server listening"[^\n]*"address":"127\.0\.0\.1:(\d+)"/.exec(buf);
        if (m !== null) resolve(Number(m[1]));
      });
      child.on('exit', (code) => reject(new Error(`meshca serve exited with ${code}: ${buf}`)));
    });

  /** SIGTERM, as an orchestrator stops it; resolves with its exit code. */
  const stopServer = async (): Promise<number | null> => {
    const s = server;
    if (s === undefined || s.exitCode !== null) return s?.exitCode ?? null;
    const code = await new Promise<number | null>((resolve) => {
      s.once('exit', (c) => resolve(c));
      s.kill('SIGTERM');
    });
    server = undefined;
    return code;
  };

  const leafOf = (name: string): { serial: string; notAfter: Date } | undefined => {
    const file = path.join(dir, name, 'cert-chain.pem');
    if (!existsSync(file)) return undefined;
    const leaf = parseCertificates(readFileSync(file, 'utf8'))[0];
    return leaf === undefined ? undefined : { serial: leaf.serialNumber, notAfter: leaf.notAfter };
  };

  const until = async (check: () => boolean, what: string, timeoutMs: number): Promise<void> => {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (check()) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`timed out waiting for ${what}`);
  };

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'meshca-e2e-'));
    home = path.join(dir, 'home');
    meshca('init');
    grpcPort = await startServer(0);
    for (const sa of ['frontend', 'backend']) {
      writeFileSync(path.join(dir, `${sa}.token`), meshca('token', 'create', '--namespace', 'demo', '--service-account', sa, '--ttl', '1h').trim());
      const agent = spawn(
        process.execPath,
        [BIN, 'agent', '--ca-address', `localhost:${grpcPort}`, '--root-cert', path.join(home, 'root-cert.pem'), '--token-file', path.join(dir, `${sa}.token`),
          '--namespace', 'demo', '--service-account', sa, '--out', path.join(dir, sa), '--requested-lifetime', `${LIFETIME_S}s`],
        { stdio: 'ignore' },
      );
      agents.push(agent);
    }
    await until(() => leafOf('frontend') !== undefined && leafOf('backend') !== undefined, 'both agents to get certificates', 20_000);
  }, 60_000);

  afterAll(async () => {
    for (const a of agents) a.kill('SIGTERM');
    await stopServer();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lets the two workloads complete mutual TLS through openssl s_server and s_client', async () => {
    const folder = (sa: string, f: string): string => path.join(dir, sa, f);
    const port = await freePort();
    const sServer = spawn('openssl', ['s_server', '-accept', String(port), '-naccept', '1', '-Verify', '2', '-verify_return_error',
      '-cert', folder('backend', 'cert-chain.pem'), '-cert_chain', folder('backend', 'cert-chain.pem'), '-key', folder('backend', 'key.pem'), '-CAfile', folder('backend', 'root-cert.pem')], { stdio: ['pipe', 'pipe', 'pipe'] });
    let serverOut = '';
    await new Promise<void>((resolve, reject) => {
      sServer.stdout.on('data', (d: Buffer) => {
        serverOut += d.toString();
        if (serverOut.includes('ACCEPT')) resolve();
      });
      sServer.stderr.on('data', (d: Buffer) => (serverOut += d.toString()));
      sServer.on('exit', (code) => reject(new Error(`s_server exited ${code}: ${serverOut}`)));
    });
    const client = spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-verify_return_error', '-CAfile', folder('frontend', 'root-cert.pem'),
      '-cert', folder('frontend', 'cert-chain.pem'), '-cert_chain', folder('frontend', 'cert-chain.pem'), '-key', folder('frontend', 'key.pem')], { input: 'ping\n', encoding: 'utf8', timeout: 15_000 });
    await new Promise((resolve) => (sServer.exitCode !== null ? resolve(undefined) : sServer.once('exit', resolve)));
    // The client verified the server's chain to the root, and the server verified the client's.
    expect(client.stdout).toContain('Verify return code: 0 (ok)');
    expect(serverOut).not.toMatch(/verify error|alert/i);
    expect(serverOut).toContain('ping');
  }, 30_000);

  it('keeps every valid certificate through a CA restart, and every agent renews once the CA is back', async () => {
    const before = { frontend: leafOf('frontend')!, backend: leafOf('backend')! };
    // It has issued (so its audit writer thread runs) and stops with exit code 0, not Node's 13.
    expect(await stopServer(), 'meshca serve exit code on SIGTERM').toBe(0);
    // Down past the renewal time (half the lifetime), but not past expiry.
    const downUntil = Math.max(before.frontend.notAfter.getTime(), before.backend.notAfter.getTime()) - (LIFETIME_S * 1000) / 2 + 4_000;
    while (Date.now() < downUntil) {
      for (const sa of ['frontend', 'backend'] as const) {
        const now = leafOf(sa);
        expect(now?.serial, `${sa}'s certificate is still in place while the CA is down`).toBe(before[sa].serial);
        expect(now!.notAfter.getTime()).toBeGreaterThan(Date.now());
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    for (const a of agents) expect(a.exitCode, 'no agent gave up').toBeNull();
    await startServer(grpcPort);
    await until(
      () => leafOf('frontend')?.serial !== before.frontend.serial && leafOf('backend')?.serial !== before.backend.serial,
      'both agents to renew after the restart',
      30_000,
    );
    for (const sa of ['frontend', 'backend'] as const) expect(leafOf(sa)!.notAfter.getTime()).toBeGreaterThan(Date.now());
  }, 90_000);
});
