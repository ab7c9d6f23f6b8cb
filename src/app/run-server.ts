import { renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Registry } from 'prom-client';
import { startCaServer } from '../ca-server/ca-server.js';
import { ISSUER_LOGIN_TOKEN_USE, mintServiceAccountToken } from '../ca-server/index.js';
import type { ServeOptions } from '../cli/commands/serve-options.js';
import { createAcmeControllers, startHttp01Solver, type Http01Solver } from '../controller/acme/index.js';
import {
  createCertificateControllers,
  createEventTtlController,
  createIssuerControllers,
} from '../controller/index.js';
import {
  startControllerRuntime,
  withCrashPoint,
  type ControllerRuntime,
} from '../controller/runtime/index.js';
import { toMeshcaError } from '../errors/index.js';
import { UpstreamTokenCache, type IssuerDependencies } from '../issuers/index.js';
import { ClientRateLimiter, createHttpServer, DEFAULT_CLIENT_RATE_LIMIT } from '../http/index.js';
import type { Certificate } from '../pki/index.js';
import type { Store } from '../store/store.js';
import {
  createCaServerMetrics,
  createCertManagerMetrics,
  createJsonLogger,
  createMetricsRegistry,
  type Logger,
  type LogSink,
} from '../telemetry/index.js';

/** What the server process needs from outside. */
export interface RunServerDeps {
  readonly openStore: (home: string) => Promise<Store>;
  readonly now: () => Date;
  readonly logSink: LogSink;
  /** Called once both servers listen (the demo and tests read the bound ports from here). */
  readonly onListening?: (addresses: { grpc?: string; http: string }) => void;
  /** A crash point (MESHCA_CRASH_AT) at which the process SIGKILLs itself: for crash tests only. */
  readonly crashAt?: string;
}

/** Writes a file atomically: a temporary file in the same folder, then rename. */
function writeAtomic(file: string, text: string, mode: number): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  writeFileSync(tmp, text, { mode });
  renameSync(tmp, file);
}

/** A running meshca server: both listeners and how to stop them. */
export interface RunningServer {
  /** `host:port` of the gRPC API, once a signing CA exists. */
  grpcAddress(): string | undefined;
  readonly httpAddress: string;
  close(): Promise<void>;
}

/**
 * `meshca serve`: the CA server (gRPC) and the HTTP server (metrics, health, trust bundle) on one
 * store, until `signal` aborts.
 */
export async function runServer(
  options: ServeOptions,
  signal: AbortSignal,
  deps: RunServerDeps,
): Promise<void> {
  const server = await startServer(options, deps);
  await new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
  await server.close();
}

/** Starts the CA server and the HTTP server; writes the current roots to `<home>/root-cert.pem`. */
export async function startServer(options: ServeOptions, deps: RunServerDeps): Promise<RunningServer> {
  const clock = (): number => deps.now().getTime();
  const logger = createJsonLogger({
    sink: deps.logSink,
    level: options.logLevel,
    clock,
    fields: { component: 'meshca-serve' },
  });
  const registry = createMetricsRegistry({
    processMetrics: true,
    defaultLabels: { cluster_id: options.clusterId },
  });
  const metrics = createCaServerMetrics(registry);
  const store = await deps.openStore(options.home);
  let sequence = Math.floor(clock() / 1000);
  let roots: readonly Certificate[] = [];

  const ca = await startCaServer(
    {
      grpcHost: options.grpcHost,
      grpcPort: options.grpcPort,
      trustDomain: options.trustDomain,
      clusterId: options.clusterId,
      maxCertificateDurationMs: options.maxCertificateDurationMs,
      issuerRef: { name: options.issuerName, kind: options.issuerKind },
      certificateNamespace: options.certificateNamespace,
      clusterResourceNamespace: options.clusterResourceNamespace,
      servingDnsNames: options.servingCertificateDnsNames,
      servingIpAddresses: options.servingCertificateIpAddresses,
      servingDurationMs: options.servingCertificateDurationMs,
      ...(options.jwksFile !== undefined && { jwks: { file: path.resolve(options.jwksFile) } }),
      ...(options.jwksUrl !== undefined && { jwks: { url: options.jwksUrl } }),
      tokenIssuers: options.tokenIssuers,
      tokenAudiences: options.tokenAudiences,
      clientCertificateAuth: options.clientCertificateAuth,
      ...(options.rateLimit > 0 && {
        rateLimit: { perSecond: options.rateLimit, burst: options.rateLimitBurst },
      }),
      auditRetentionMs: options.auditRetentionMs,
      signingWorkers: options.signingWorkers,
    },
    {
      store,
      now: deps.now,
      onEvent: (e) => metrics.recordEvent(e),
      observeCsr: (answer) => metrics.observeCsr(answer),
      log: (level, message, fields) => logger[level](message, fields),
      onBundle: (next, chain) => {
        const changed =
          next.map((c) => c.fingerprintSha256).join() !== roots.map((c) => c.fingerprintSha256).join();
        roots = next;
        if (changed) sequence = Math.max(sequence + 1, Math.floor(clock() / 1000));
        const earliestRoot = next.reduce<Date | undefined>(
          (m, c) => (m === undefined || c.notAfter < m ? c.notAfter : m),
          undefined,
        );
        if (earliestRoot !== undefined) metrics.setRootCertExpiry(earliestRoot);
        const earliestChain = chain.reduce<Date | undefined>(
          (m, c) => (m === undefined || c.notAfter < m ? c.notAfter : m),
          undefined,
        );
        if (earliestChain !== undefined) metrics.setCertChainExpiry(earliestChain);
        try {
          writeAtomic(path.join(options.home, 'root-cert.pem'), next.map((c) => c.pem).join(''), 0o644);
        } catch (err) {
          logger.error('cannot write root-cert.pem', { error: toMeshcaError(err).message });
        }
      },
    },
  );

  let controllers: ControllerRuntime | undefined;
  let http01: Http01Solver | undefined;
  try {
    // Vault's kubernetes auth with serviceAccountRef logs in with a token meshca mints (iss "meshca"),
    // marked as an issuer's login token so the CA server never takes it as a workload's.
    const issuerDependencies: IssuerDependencies = {
      upstreamTokens: new UpstreamTokenCache(),
      tokenMinter: ({ namespace, serviceAccount, audiences, ttlMs }) => {
        const signing = ca.tokenSigningKey();
        return mintServiceAccountToken({
          key: signing.key,
          kid: signing.kid,
          issuer: 'meshca',
          namespace,
          serviceAccount,
          audience: audiences,
          ttlMs,
          now: deps.now().getTime(),
          tokenUse: ISSUER_LOGIN_TOKEN_USE,
        });
      },
    };
    controllers = options.controller
      ? startControllers(options, deps, store, registry, logger, issuerDependencies)
      : undefined;
    // Every replica answers HTTP-01: the ACME server may reach any of them.
    if (options.controller && options.acmeHttp01Address !== '') {
      // A busy port must not stop the CA: HTTP-01 orders then fail with the ACME server's problem.
      // A request reads the solver's in-memory answers, never the store; each client IP is limited
      // as on the HTTP server (10/s, bursts of 50), which an ACME server's few validations never reach.
      http01 = await startHttp01Solver(store, options.acmeHttp01Address, {
        rateLimiter: new ClientRateLimiter(DEFAULT_CLIENT_RATE_LIMIT, clock),
        onError: (err) =>
          logger.warn('cannot read the acme challenges for http-01; retrying', {
            error: toMeshcaError(err).message,
          }),
      }).catch((err: unknown) => {
        logger.error('cannot answer acme http-01 challenges; give --acme-http01-address a free address', {
          address: options.acmeHttp01Address,
          error: toMeshcaError(err).message,
        });
        return undefined;
      });
      if (http01 !== undefined) logger.info('answering acme http-01 challenges', { address: http01.address });
    }
  } catch (err) {
    await controllers?.stop();
    await ca.close();
    await store.close();
    throw err;
  }

  const http = createHttpServer({
    metrics: registry,
    readiness: () => ca.readiness(),
    bundle: () => {
      const current = ca.roots();
      if (current.length === 0) return undefined;
      const token = ca.tokenSigningKey();
      return {
        roots: current,
        sequence,
        refreshHintSeconds: 300,
        jwtKeys: [{ kid: token.kid, key: token.key }],
      };
    },
    clock,
    logger,
  });
  let httpAddress: string;
  try {
    const bound = await http.listen(
      `${options.httpHost.includes(':') ? `[${options.httpHost}]` : options.httpHost}:${options.httpPort}`,
    );
    httpAddress = `${bound.host}:${bound.port}`;
  } catch (err) {
    await controllers?.stop();
    await http01?.close();
    await ca.close();
    await store.close();
    throw err;
  }
  const grpcAddress = (): string | undefined => {
    const g = ca.grpcAddress();
    return g === undefined ? undefined : `${g.address}:${g.port}`;
  };
  const grpc = grpcAddress();
  deps.onListening?.({ http: httpAddress, ...(grpc !== undefined && { grpc }) });
  return {
    grpcAddress,
    httpAddress,
    close: async () => {
      logger.info('shutting down');
      await controllers?.stop();
      await http01?.close();
      await http.close();
      await ca.close();
      await store.close();
    },
  };
}

/**
 * The certificate lifecycle controllers under leader election: of several `meshca serve` on one
 * store, only the lease holder acts. Readiness does not depend on leadership.
 */
function startControllers(
  options: ServeOptions,
  deps: RunServerDeps,
  store: Store,
  registry: Registry,
  logger: Logger,
  issuerDependencies: IssuerDependencies,
): ControllerRuntime {
  const metrics = createCertManagerMetrics(registry);
  const log = logger.child({ component: 'meshca-controller' });
  const controllerStore =
    deps.crashAt === undefined
      ? store
      : withCrashPoint(store, deps.crashAt, (point) => {
          process.stderr.write(`meshca: crash point ${point} reached: SIGKILL\n`);
          process.kill(process.pid, 'SIGKILL');
        });
  return startControllerRuntime({
    store: controllerStore,
    controllers: [
      ...createCertificateControllers({
        approval: !options.disableAutoApproval,
        clusterResourceNamespace: options.clusterResourceNamespace,
        backoffBase: options.issuanceBackoffBaseMs,
        metrics,
        issuerDependencies,
      }),
      ...createIssuerControllers({
        clusterResourceNamespace: options.clusterResourceNamespace,
        metrics,
        issuerDependencies,
      }),
      ...createAcmeControllers({ clusterResourceNamespace: options.clusterResourceNamespace }),
      createEventTtlController(),
    ],
    leaseNamespace: options.certificateNamespace,
    // client-go's proportions (15 s / 10 s / 5 s / 2 s), scaled to the lease duration.
    leaderElection: {
      leaseDurationMs: options.leaderElectionLeaseDurationMs,
      renewDeadlineMs: Math.round((options.leaderElectionLeaseDurationMs * 2) / 3),
      renewIntervalMs: Math.round(options.leaderElectionLeaseDurationMs / 3),
      retryIntervalMs: Math.round((options.leaderElectionLeaseDurationMs * 2) / 15),
    },
    now: deps.now,
    log: (level, message, fields) => log[level](message, fields),
  });
}
