import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { GrpcCaClient, systemClock, WorkloadAgent, type AgentLog } from '../agent/index.js';
import { mintServiceAccountToken } from '../ca-server/auth/mint-service-account-token.js';
import { ensureTokenSigningKey, MESHCA_TOKEN_ISSUER } from '../ca-server/auth/token-signing-key-store.js';
import { resolveServeOptions, SERVE_SETTINGS, type ServeSetting } from '../cli/commands/serve-options.js';
import type { Output } from '../cli/context.js';
import { defaultHierarchyOptions, initHierarchy } from '../controller/bootstrap/init-hierarchy.js';
import { MeshcaError, toMeshcaError } from '../errors/index.js';
import { workloadSpiffeId } from '../pki/index.js';
import type { Store } from '../store/store.js';
import { startServer, type RunningServer } from './run-server.js';

/** Options of the demo. */
export interface DemoOptions {
  /** How long the demo runs; long enough by default to show a renewal. */
  readonly durationMs: number;
  /** Lifetime the agents ask for: short, so renewals show within a minute. */
  readonly lifetimeMs: number;
  readonly home?: string;
}

/** What the demo needs from outside. */
export interface DemoDeps {
  readonly out: Output;
  readonly openStore: (home: string) => Promise<Store>;
  readonly signal: AbortSignal;
}

const TRUST_DOMAIN = 'cluster.local';
const NS = 'demo';

/** One workload of the demo: its identity and its credential folder. */
interface Workload {
  readonly name: string;
  readonly spiffeId: string;
  readonly dir: string;
}

/** The SPIFFE ID in a peer certificate's subjectAltName (`URI:spiffe://…`), or undefined. */
function peerSpiffeId(cert: tls.PeerCertificate | undefined): string | undefined {
  const san = cert?.subjectaltname ?? '';
  return /URI:(spiffe:\/\/[^,\s]+)/.exec(san)?.[1];
}

/** The credentials an agent keeps, read fresh (the agent may have rotated them). */
function credentials(w: Workload): { key: string; cert: string; ca: string } {
  return {
    key: readFileSync(path.join(w.dir, 'key.pem'), 'utf8'),
    cert: readFileSync(path.join(w.dir, 'cert-chain.pem'), 'utf8'),
    ca: readFileSync(path.join(w.dir, 'root-cert.pem'), 'utf8'),
  };
}

/**
 * The README's first command: meshca on its embedded store serving workloads. It creates the CA,
 * serves the Istio CA API, runs two agents that get and renew certificates, and two services
 * that talk mutual TLS, each checking the peer's SPIFFE ID against an allow list (as Istio's
 * AuthorizationPolicy principals do); a third workload with a valid certificate is refused.
 */
export async function runDemo(options: DemoOptions, deps: DemoDeps): Promise<void> {
  const started = Date.now();
  const say = (who: string, text: string): void => {
    const t = ((Date.now() - started) / 1000).toFixed(1).padStart(5);
    deps.out.write(`[${t}s] ${who.padEnd(9)} ${text}\n`);
  };
  const ownHome = options.home === undefined;
  const home = options.home ?? mkdtempSync(path.join(tmpdir(), 'meshca-demo-'));
  deps.out.write(`meshca demo: a CA for a service mesh, on the embedded store in ${home}\n\n`);

  // Everything the demo opens, closed on every way out (finished, interrupted, failed).
  let store: Store | undefined;
  let server: RunningServer | undefined;
  let service: tls.Server | undefined;
  const agents = new AbortController();
  const stopAgents = (): void => agents.abort();
  deps.signal.addEventListener('abort', stopAgents, { once: true });
  const runs: Promise<void>[] = [];
  /** Set once the final report is printed: the home it names is then kept. */
  let finished = false;
  let failure: Error | undefined;
  // The demo itself; it returns early when interrupted (Ctrl-C) before its end.
  const run = async (): Promise<void> => {
    const interrupted = (): boolean => deps.signal.aborted;

    // 1. The CA hierarchy (what `meshca init` makes).
    store = await deps.openStore(home);
    const made = await initHierarchy(store, defaultHierarchyOptions(TRUST_DOMAIN), new Date());
    say(
      'ca',
      `root "${made.root.subjectString}" → intermediate "${made.intermediate.subjectString}" → Issuer istio-system/istio-ca-issuer`,
    );
    if (interrupted()) return;

    // 2. The CA server (what `meshca serve` runs), on free loopback ports.
    const raw = Object.fromEntries(Object.keys(SERVE_SETTINGS).map((k) => [k, undefined])) as Record<
      ServeSetting,
      string | undefined
    >;
    raw.grpcAddress = '127.0.0.1:0';
    raw.httpAddress = '127.0.0.1:0';
    raw.logLevel = 'error';
    // The demo needs no ACME solver; leaving it off keeps port 8089 free for a real meshca serve.
    raw.acmeHttp01Address = '';
    const serveOptions = resolveServeOptions(raw, home);
    server = await startServer(serveOptions, {
      openStore: deps.openStore,
      now: () => new Date(),
      logSink: { write: (line: string) => deps.out.write(`          server: ${line}`) },
    });
    const grpcAddress = server.grpcAddress() ?? '';
    say(
      'ca',
      `Istio CA API (gRPC, TLS) on ${grpcAddress}; metrics, health and trust bundle on http://${server.httpAddress}`,
    );
    if (interrupted()) return;

    // 3. Three workloads, each with a token (what `meshca token create` prints) and an agent.
    const { key: tokenKey, kid } = await ensureTokenSigningKey(store, 'istio-system');
    const workloads: Workload[] = ['frontend', 'backend', 'intruder'].map((name) => ({
      name,
      spiffeId: workloadSpiffeId(TRUST_DOMAIN, NS, name),
      dir: path.join(home, 'workloads', name),
    }));
    const rootFile = path.join(home, 'root-cert.pem');
    const issuedOnce = new Map<string, number>();
    for (const w of workloads) {
      const tokenFile = path.join(home, `${w.name}.token`);
      writeFileSync(
        tokenFile,
        await mintServiceAccountToken({
          key: tokenKey,
          kid,
          issuer: MESHCA_TOKEN_ISSUER,
          namespace: NS,
          serviceAccount: w.name,
          ttlMs: 3_600_000,
          now: Date.now(),
        }),
        { mode: 0o600 },
      );
      const log: AgentLog = (level, message, fields) => {
        if (message === 'certificate issued') {
          const n = (issuedOnce.get(w.name) ?? 0) + 1;
          issuedOnce.set(w.name, n);
          const notAfter = new Date(String(fields?.['notAfter']));
          say(
            w.name,
            `${n === 1 ? 'issued ' : 'RENEWED'} ${w.spiffeId}, serial ${String(fields?.['serial']).slice(0, 12)}…, valid until ${notAfter.toISOString().slice(11, 19)}Z`,
          );
        } else if (level !== 'info') {
          say(w.name, `agent ${level}: ${message}`);
        }
      };
      const agent = new WorkloadAgent(
        {
          trustDomain: TRUST_DOMAIN,
          namespace: NS,
          serviceAccount: w.name,
          clusterId: 'Kubernetes',
          keySpec: { algorithm: 'ECDSA', size: 256 },
          gracePeriodRatio: 0.5,
          requestedLifetimeMs: options.lifetimeMs,
          rootCertFile: rootFile,
          tokenFile,
          outDir: w.dir,
        },
        {
          client: new GrpcCaClient({ address: grpcAddress, serverName: 'localhost' }),
          clock: systemClock,
          random: Math.random,
          log,
        },
      );
      try {
        await agent.ensure(agents.signal);
      } catch (err) {
        // Ctrl-C cancels the request in flight: that is the interruption, not a failure.
        if (interrupted()) return;
        throw err;
      }
      if (interrupted()) return;
      runs.push(
        agent
          .run(agents.signal)
          .catch((err: unknown) => say(w.name, `agent stopped: ${toMeshcaError(err).message}`)),
      );
    }
    const [frontend, backend, intruder] = workloads as [Workload, Workload, Workload];

    // 4. The backend service: mutual TLS with meshca certificates, and an allow list of peers.
    const allowed = new Set([frontend.spiffeId]);
    say('backend', `listening with mTLS; allows ${[...allowed].join(', ')}`);
    const backendService = tls.createServer({
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.3',
      // A fresh context per handshake, so a rotated certificate or root is used at once.
      SNICallback: (_name, cb) => {
        try {
          cb(null, tls.createSecureContext(credentials(backend)));
        } catch (err) {
          cb(err as Error);
        }
      },
      ...credentials(backend),
    });
    service = backendService;
    backendService.on('secureConnection', (socket) => {
      const peer = peerSpiffeId(socket.getPeerCertificate());
      if (peer === undefined || !allowed.has(peer)) {
        say('backend', `REFUSED ${peer ?? 'a peer without a SPIFFE ID'}: not in the allow list`);
        socket.end('403 forbidden\n');
        return;
      }
      socket.end(`hello ${peer}\n`);
    });
    backendService.on('tlsClientError', (err) => say('backend', `handshake refused: ${err.message}`));
    await new Promise<void>((resolve, reject) => {
      backendService.once('error', reject);
      backendService.listen(0, '127.0.0.1', () => {
        backendService.off('error', reject);
        resolve();
      });
    });
    const port = (backendService.address() as { port: number }).port;

    // 5. A client call: verify the server's SPIFFE ID (not a host name), print what happened.
    const callBackend = (from: Workload): Promise<void> =>
      new Promise((resolve) => {
        const socket = tls.connect({
          host: '127.0.0.1',
          port,
          servername: 'backend.demo',
          minVersion: 'TLSv1.3',
          ...credentials(from),
          checkServerIdentity: (_host, cert) => {
            const id = peerSpiffeId(cert);
            return id === backend.spiffeId
              ? undefined
              : new Error(`server is ${id ?? 'unknown'}, expected ${backend.spiffeId}`);
          },
        });
        let answer = '';
        socket.on('secureConnect', () => {
          const server = peerSpiffeId(socket.getPeerCertificate());
          say(
            'mTLS',
            `${from.name} → backend: handshake OK (${socket.getProtocol() ?? 'TLS'}), server is ${server ?? '?'}`,
          );
        });
        socket.on('data', (d: Buffer) => (answer += d.toString()));
        socket.on('end', () => {
          say(from.name, `backend answered: ${answer.trim()}`);
          resolve();
        });
        socket.on('error', (err) => {
          say(from.name, `call failed: ${toMeshcaError(err).message}`);
          resolve();
        });
      });

    // Resolves after `ms`, or at once when the demo is interrupted; leaves no listener behind.
    const wait = (ms: number): Promise<void> =>
      new Promise((resolve) => {
        if (deps.signal.aborted) return resolve();
        const done = (): void => {
          clearTimeout(t);
          deps.signal.removeEventListener('abort', done);
          resolve();
        };
        const t = setTimeout(done, ms);
        deps.signal.addEventListener('abort', done, { once: true });
      });
    const deadline = started + options.durationMs;
    let round = 0;
    while (!deps.signal.aborted && Date.now() < deadline) {
      await callBackend(frontend);
      if (round % 4 === 0) await callBackend(intruder);
      round++;
      await wait(Math.min(10_000, Math.max(0, deadline - Date.now())));
    }

    const renewals = [...issuedOnce.values()].reduce((a, n) => a + n - 1, 0);
    deps.out.write(
      `\nmeshca demo done: ${round} rounds, ${renewals} renewal(s). Inspect the certificates with:\n`,
    );
    deps.out.write(
      `  node bin/meshca.js --home ${home} audit\n  node bin/meshca.js inspect ${path.join(frontend.dir, 'cert-chain.pem')} --ca-file ${rootFile}\n`,
    );
    finished = true;
  };
  try {
    await run();
  } catch (err) {
    failure = err instanceof Error ? err : toMeshcaError(err);
  } finally {
    if (!finished && failure === undefined) deps.out.write('\nmeshca demo interrupted: shutting down\n');
    const problems = await closeAll([
      [
        'stopping the agents',
        async () => {
          deps.signal.removeEventListener('abort', stopAgents);
          stopAgents();
          await Promise.all(runs);
        },
      ],
      ['closing the backend service', service && closeTlsServer(service)],
      ['closing the CA server', server && (() => server?.close())],
      ['closing the store', store && (() => store?.close())],
      // A temporary home the final report does not name is of no use to anyone.
      [
        'removing the temporary home',
        ownHome && !finished ? () => rmSync(home, { recursive: true, force: true }) : undefined,
      ],
    ]);
    for (const p of problems) deps.out.write(`meshca demo: ${p}\n`);
    if (failure === undefined && problems.length > 0)
      failure = new MeshcaError('INTERNAL', `the demo did not shut down cleanly: ${problems.join('; ')}`);
  }
  if (failure !== undefined) throw failure;
}

/** Runs every step, each even when an earlier one failed; returns what failed, one line a step. */
async function closeAll(
  steps: readonly (readonly [string, (() => unknown) | undefined | false])[],
): Promise<string[]> {
  const problems: string[] = [];
  for (const [name, run] of steps) {
    if (run === undefined || run === false) continue;
    try {
      await run();
    } catch (err) {
      problems.push(`${name} failed: ${toMeshcaError(err).message}`);
    }
  }
  return problems;
}

/** Stops a TLS server and waits for its connections to end. */
function closeTlsServer(server: tls.Server): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      if (!server.listening) return resolve();
      server.close(() => resolve());
    });
}
