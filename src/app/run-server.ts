import {
  closeSync,
  fchmodSync,
  fsyncSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import type { Registry } from 'prom-client';
import { startCaServer, type RunningCaServer } from '../ca-server/ca-server.js';
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
import { MeshcaError, toMeshcaError } from '../errors/index.js';
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

/** The temporary file writeAtomic writes `file` through, in the same folder. */
function tempFileOf(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
}

/**
 * Writes a file atomically and durably: a temporary file in the same folder made exactly `mode`
 * (fchmod, whatever the umask), written and fsynced, renamed over `file`, then the folder fsynced
 * so the rename survives a crash. A failed write leaves no temporary file behind.
 */
export function writeAtomic(file: string, text: string, mode: number): void {
  const tmp = tempFileOf(file);
  try {
    const fd = openSync(tmp, 'w', mode);
    try {
      fchmodSync(fd, mode);
      writeFileSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  const dir = openSync(path.dirname(file), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

/** Whether a process with this id runs now (one of another user counts: EPERM). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the temporary files writeAtomic left for `file` in a process that died between writing
 * and renaming (`.root-cert.pem.<pid>.tmp`); a live process's one (another replica on the same
 * home, mid-write) is left alone.
 */
export function removeStaleTempFiles(file: string, logger: Logger): void {
  const dir = path.dirname(file);
  const prefix = `.${path.basename(file)}.`;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    logger.warn('cannot look for stale temporary files', { error: toMeshcaError(err).message });
    return;
  }
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith('.tmp')) continue;
    const digits = name.slice(prefix.length, -'.tmp'.length);
    if (!/^\d{1,10}$/.test(digits)) continue;
    const pid = Number(digits);
    if (pid !== process.pid && processAlive(pid)) continue;
    try {
      rmSync(path.join(dir, name), { force: true });
      logger.info('removed a stale temporary file', { file: path.join(dir, name) });
    } catch (err) {
      logger.warn('cannot remove a stale temporary file', {
        file: path.join(dir, name),
        error: toMeshcaError(err).message,
      });
    }
  }
}

/** One step of a shutdown: its name for the log, and what it does (absent: nothing to do). */
type ShutdownStep = readonly [name: string, run: (() => Promise<void> | void) | undefined];

/**
 * Runs every step in order, each even when an earlier one failed; logs each failure, and throws
 * one error naming every step that failed (none: resolves).
 */
async function runShutdownSteps(steps: readonly ShutdownStep[], logger: Logger): Promise<void> {
  const failed: string[] = [];
  for (const [name, run] of steps) {
    if (run === undefined) continue;
    try {
      await run();
    } catch (err) {
      const message = toMeshcaError(err).message;
      logger.error(`shutdown: ${name} failed`, { error: message });
      failed.push(`${name}: ${message}`);
    }
  }
  if (failed.length > 0) {
    throw new MeshcaError('INTERNAL', `shutdown incomplete: ${failed.join('; ')}`, {
      hint: 'every other step ran; see the log lines above',
    });
  }
}

/** A running meshca server: both listeners and how to stop them. */
export interface RunningServer {
  /** `host:port` of the gRPC API, once a signing CA exists. */
  grpcAddress(): string | undefined;
  readonly httpAddress: string;
  /**
   * Resolves (never rejects) with the error that stopped the server for good after it started
   * (the gRPC listener could not start once a signing CA appeared); the caller should close it.
   */
  readonly failed: Promise<MeshcaError>;
  /**
   * Shuts down: /readyz answers 503 "shutting down" at once, then the gRPC server stops accepting
   * and drains, the controllers stop, the ACME solver closes, the audit log is flushed, the HTTP
   * server closes, and the store last. Every step runs even if an earlier one failed; rejects
   * naming the steps that failed.
   */
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
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<undefined>((resolve) => {
    onAbort = () => resolve(undefined);
    if (signal.aborted) resolve(undefined);
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  const failure = await Promise.race([aborted, server.failed]);
  if (onAbort !== undefined) signal.removeEventListener('abort', onAbort);
  if (failure === undefined) {
    await server.close();
    return;
  }
  // The server cannot go on (its gRPC port is taken): close the rest, then fail with that cause.
  await server.close().catch(() => undefined);
  throw failure;
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
  const rootFile = path.join(options.home, 'root-cert.pem');
  let sequence = Math.floor(clock() / 1000);
  let roots: readonly Certificate[] = [];

  let reportFailure: (err: MeshcaError) => void = () => undefined;
  const failed = new Promise<MeshcaError>((resolve) => (reportFailure = resolve));

  let ca: RunningCaServer;
  try {
    removeStaleTempFiles(rootFile, logger);
    ca = await startCaServer(
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
            writeAtomic(rootFile, next.map((c) => c.pem).join(''), 0o644);
          } catch (err) {
            logger.error('cannot write root-cert.pem', { error: toMeshcaError(err).message });
          }
        },
        onFatal: (err) => reportFailure(err),
      },
    );
  } catch (err) {
    await runShutdownSteps([['closing the store', () => store.close()]], logger).catch(() => undefined);
    throw err;
  }

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
    await runShutdownSteps(
      [
        ['stopping the controllers', controllers && (() => controllers?.stop())],
        ['closing the CA server', () => ca.close()],
        ['closing the store', () => store.close()],
      ],
      logger,
    ).catch(() => undefined);
    throw err;
  }

  let shuttingDown = false;
  const http = createHttpServer({
    metrics: registry,
    // From the first moment of a shutdown, so that load balancers stop sending before the
    // listeners close.
    readiness: () => (shuttingDown ? { ready: false, reasons: ['shutting down'] } : ca.readiness()),
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
    await runShutdownSteps(
      [
        ['stopping the controllers', controllers && (() => controllers?.stop())],
        ['closing the acme http-01 solver', http01 && (() => http01?.close())],
        ['closing the CA server', () => ca.close()],
        ['closing the store', () => store.close()],
      ],
      logger,
    ).catch(() => undefined);
    throw err;
  }
  const grpcAddress = (): string | undefined => {
    const g = ca.grpcAddress();
    return g === undefined ? undefined : `${g.address}:${g.port}`;
  };
  const grpc = grpcAddress();
  deps.onListening?.({ http: httpAddress, ...(grpc !== undefined && { grpc }) });
  let closing: Promise<void> | undefined;
  return {
    grpcAddress,
    httpAddress,
    failed,
    close: () =>
      (closing ??= (async () => {
        shuttingDown = true;
        logger.info('shutting down');
        const c = controllers;
        const solver = http01;
        await runShutdownSteps(
          [
            ['stopping the gRPC server', () => ca.stopAccepting()],
            ['stopping the controllers', c && (() => c.stop())],
            ['closing the acme http-01 solver', solver && (() => solver.close())],
            ['flushing the audit log', () => ca.close()],
            ['closing the HTTP server', () => http.close()],
            ['closing the store', () => store.close()],
          ],
          logger,
        );
        logger.info('shut down');
      })()),
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
