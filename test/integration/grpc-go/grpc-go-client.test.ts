import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCsr, generatePrivateKey, parseCertificates, workloadSpiffeId } from '../../../src/pki/index.js';
import { meshca, startServe, until, type ServeProcess } from '../controller/serve-process.js';
import { requirePeer } from '../peer.js';

// The Istio agent is a grpc-go program. This test builds a CA client the way the agent's citadel
// client is built (grpc-go over TLS verified against the root, the token file read per call as
// `authorization: Bearer`, the `clusterid` metadata) with Debian's grpc-go, and runs it against a
// real `meshca serve` process: the issued chain must pass `openssl verify`, calls in flight
// together on one connection must all succeed, a renewal over mTLS without a token must work, and
// each refusal must reach grpc-go as its gRPC status code with meshca's message intact.

const run = promisify(execFile);
const SOURCE = fileURLToPath(new URL('./istio-ca-client.go', import.meta.url));
const GOPATH = '/usr/share/gocode';

/** One call's outcome as the Go client prints it. */
interface CallResult {
  code: number;
  message: string;
  chain: string[] | null;
}

const peers = requirePeer('go', 'golang-go golang-google-grpc-dev golang-google-protobuf-dev');

describe.runIf(peers && requirePeer('openssl', 'openssl'))(
  'grpc-go, as the Istio agent uses it, against meshca serve',
  () => {
    let dir: string;
    let home: string;
    let client: string;
    let serve: ServeProcess;
    let address: string;
    const id = workloadSpiffeId('cluster.local', 'shop', 'cart');

    const file = (name: string, text: string, mode?: number): string => {
      const f = path.join(dir, name);
      writeFileSync(f, text, mode === undefined ? {} : { mode });
      return f;
    };

    /** Runs the Go client with `flags` (and the root, address and CSR unless given) and parses its lines. */
    const call = async (flags: Record<string, string | number>): Promise<CallResult[]> => {
      const args = Object.entries({
        addr: address,
        root: path.join(home, 'root-cert.pem'),
        ...flags,
      }).flatMap(([k, v]) => [`-${k}`, String(v)]);
      const { stdout } = await run(client, args, { encoding: 'utf8', timeout: 30_000 });
      return stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as CallResult);
    };

    const csrFor = (name: string, sans: Parameters<typeof buildCsr>[0]['sans']): string =>
      file(`${name}.csr`, buildCsr({ key: generatePrivateKey(), sans }));

    beforeAll(async () => {
      dir = mkdtempSync(path.join(tmpdir(), 'meshca-grpc-go-'));
      home = path.join(dir, 'home');
      // Debian's grpc-go is a GOPATH tree; a build cache under the temp folder is reused by later runs.
      const cache = path.join(tmpdir(), 'meshca-go-build-cache');
      mkdirSync(cache, { recursive: true });
      client = path.join(dir, 'istio-ca-client');
      const built = spawnSync('go', ['build', '-o', client, SOURCE], {
        cwd: path.dirname(SOURCE),
        encoding: 'utf8',
        env: { ...process.env, GO111MODULE: 'off', GOPATH, GOCACHE: cache, GOFLAGS: '' },
        timeout: 240_000,
      });
      if (built.status !== 0) throw new Error(`go build failed: ${built.stderr}`);
      meshca(home, 'init');
      serve = startServe(home, ['--cluster-id', 'east']);
      await until(() => /"msg":"CA server listening"/.test(serve.logs()), 'meshca serve to listen', 20_000);
      const port = /"msg":"CA server listening"[^\n]*"address":"127\.0\.0\.1:(\d+)"/.exec(serve.logs())?.[1];
      address = `127.0.0.1:${port}`;
      file('cart.token', meshca(home, 'token', 'create', '--namespace', 'shop', '--service-account', 'cart'));
    }, 300_000);

    afterAll(async () => {
      await serve?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('gets a certificate for its SPIFFE ID whose chain openssl verify accepts against root-cert.pem', async () => {
      const [r] = await call({
        'token-file': path.join(dir, 'cart.token'),
        'cluster-id': 'east',
        csr: csrFor('cart', { uris: [id] }),
        validity: 600,
      });
      expect(r?.code, r?.message).toBe(0);
      const chain = r?.chain ?? [];
      // [leaf, intermediate, root], the root being the one the home publishes.
      expect(chain).toHaveLength(3);
      const root = readFileSync(path.join(home, 'root-cert.pem'), 'utf8');
      expect(chain[2]?.trim()).toBe(root.trim());
      const leaf = parseCertificates(chain[0] ?? '')[0];
      expect(leaf?.sans.uris).toEqual([id]);
      // The lifetime asked for in validity_duration (field 3), not the 24 h default.
      const lifetime = (leaf!.notAfter.getTime() - leaf!.notBefore.getTime()) / 1000;
      expect(lifetime).toBeGreaterThanOrEqual(600);
      expect(lifetime).toBeLessThanOrEqual(600 + 300);
      const verify = spawnSync(
        'openssl',
        [
          'verify',
          '-x509_strict',
          '-CAfile',
          file('root.pem', root),
          '-untrusted',
          file('int.pem', chain[1] ?? ''),
          file('leaf.pem', chain[0] ?? ''),
        ],
        { encoding: 'utf8' },
      );
      expect(verify.stdout + verify.stderr).toMatch(/leaf\.pem: OK/);
    });

    it('makes 40 calls on one connection, 8 in flight at once, and every one gets its own certificate', async () => {
      const results = await call({
        'token-file': path.join(dir, 'cart.token'),
        'cluster-id': 'east',
        csr: csrFor('cart-many', { uris: [id] }),
        n: 40,
        c: 8,
      });
      expect(results.map((r) => r.code)).toEqual(Array.from({ length: 40 }, () => 0));
      const serials = new Set(results.map((r) => parseCertificates(r.chain?.[0] ?? '')[0]?.serialNumber));
      expect(serials.size).toBe(40);
    });

    it('renews over mTLS with its meshca certificate and no token', async () => {
      const key = generatePrivateKey();
      const [first] = await call({
        'token-file': path.join(dir, 'cart.token'),
        csr: file('renew.csr', buildCsr({ key, sans: { uris: [id] } })),
      });
      expect(first?.code, first?.message).toBe(0);
      const cert = file('client-chain.pem', (first?.chain ?? []).slice(0, 2).join(''));
      const keyFile = file('client-key.pem', key.export({ type: 'pkcs8', format: 'pem' }).toString(), 0o600);
      const [renewed] = await call({ cert, key: keyFile, csr: csrFor('renewed', { uris: [id] }) });
      expect(renewed?.code, renewed?.message).toBe(0);
      expect(parseCertificates(renewed?.chain?.[0] ?? '')[0]?.sans.uris).toEqual([id]);
    });

    // gRPC codes: 3 INVALID_ARGUMENT, 7 PERMISSION_DENIED, 16 UNAUTHENTICATED.
    const refusals: {
      name: string;
      flags: () => Record<string, string | number>;
      code: number;
      message: RegExp;
    }[] = [
      {
        name: 'no token',
        flags: () => ({ csr: csrFor('no-token', { uris: [id] }) }),
        code: 16,
        message: /token/i,
      },
      {
        name: 'a token that is not a JWT',
        flags: () => ({ 'token-file': file('junk.token', 'not-a-jwt'), csr: csrFor('junk', { uris: [id] }) }),
        code: 16,
        message: /token/i,
      },
      {
        name: 'another cluster ID',
        flags: () => ({
          'token-file': path.join(dir, 'cart.token'),
          'cluster-id': 'west',
          csr: csrFor('west', { uris: [id] }),
        }),
        code: 7,
        message: /west/,
      },
      {
        name: "a CSR for another workload's identity",
        flags: () => ({
          'token-file': path.join(dir, 'cart.token'),
          csr: csrFor('other', { uris: [workloadSpiffeId('cluster.local', 'shop', 'payments')] }),
        }),
        code: 7,
        message: /payments/,
      },
      {
        name: 'a CSR with a DNS name',
        flags: () => ({
          'token-file': path.join(dir, 'cart.token'),
          csr: csrFor('dns', { uris: [id], dnsNames: ['cart.shop.svc'] }),
        }),
        code: 3,
        message: /DNS|dns/,
      },
      {
        name: 'text that is not a CSR',
        flags: () => ({
          'token-file': path.join(dir, 'cart.token'),
          csr: file(
            'garbage.csr',
            '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n',
          ),
        }),
        code: 3,
        message: /certificationRequest/,
      },
      {
        name: 'a CSR over 64 KiB',
        flags: () => ({
          'token-file': path.join(dir, 'cart.token'),
          csr: file('huge.csr', 'A'.repeat(70 * 1024)),
        }),
        code: 3,
        message: /64 KiB|65536|too large/i,
      },
    ];

    it.each(refusals)('refuses $name with its status code and says why', async ({ flags, code, message }) => {
      const [r] = await call(flags());
      expect(r?.code, r?.message).toBe(code);
      expect(r?.message).toMatch(message);
      expect(r?.chain).toBeNull();
    });

    it('keeps its one connection working across a server restart on the same port: calls fail UNAVAILABLE while it is down, then succeed', async () => {
      const progress = path.join(dir, 'restart-progress');
      const codes = (): string[] =>
        existsSync(progress) ? readFileSync(progress, 'utf8').trim().split('\n') : [];
      const port = address.split(':')[1] ?? '';
      const args = Object.entries({
        addr: address,
        root: path.join(home, 'root-cert.pem'),
        'token-file': path.join(dir, 'cart.token'),
        csr: csrFor('restart', { uris: [id] }),
        n: 120,
        interval: '100ms',
        progress,
      }).flatMap(([k, v]) => [`-${k}`, String(v)]);
      const done = run(client, args, { encoding: 'utf8', timeout: 60_000 });
      await until(() => codes().length >= 3, 'three calls before the restart', 20_000);
      await serve.stop();
      await until(() => codes().includes('14'), 'a call while the server is down', 20_000);
      serve = startServe(home, ['--cluster-id', 'east', '--grpc-address', `127.0.0.1:${port}`]);
      const { stdout } = await done;
      const results = stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as CallResult);
      const byCode = new Set(results.map((r) => r.code));
      // Only successes and UNAVAILABLE (the server was down), which the agent retries.
      expect([...byCode].sort()).toEqual([0, 14]);
      expect(results[0]?.code).toBe(0);
      // It reconnected on its own, well before the end.
      expect(results.slice(-10).map((r) => r.code)).toEqual(Array.from({ length: 10 }, () => 0));
    }, 90_000);

    it('kept serving through every refusal: the server is still up and signs the next call', async () => {
      const [r] = await call({
        'token-file': path.join(dir, 'cart.token'),
        csr: csrFor('after', { uris: [id] }),
      });
      expect(r?.code, r?.message).toBe(0);
      expect(serve.child.exitCode).toBeNull();
    });
  },
);
