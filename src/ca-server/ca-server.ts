import type { AddressInfo } from 'node:net';
import { createLocalJWKSet, type JWTVerifyGetKey } from 'jose';
import { MeshcaError, toMeshcaError } from '../errors/index.js';
import { parseWorkloadSpiffeId, type Certificate } from '../pki/index.js';
import type { Store } from '../store/store.js';
import { AuditBatcher } from './audit-batcher.js';
import type { Authenticator } from './auth/authenticator.js';
import { createCallerAuthenticator } from './auth/caller-authenticator.js';
import { createClientCertificateAuthenticator } from './auth/client-certificate-authenticator.js';
import { createJwksSource, type JwksLocation } from './auth/jwks-source.js';
import { createJwtAuthenticator } from './auth/jwt-authenticator.js';
import { tokenJwks } from './auth/token-jwks.js';
import {
  ensureTokenSigningKey,
  MESHCA_TOKEN_ISSUER,
  type StoredTokenKey,
} from './auth/token-signing-key-store.js';
import { createGrpcServer, type GrpcLimits, type GrpcServer } from './grpc/grpc-server.js';
import {
  CREATE_CERTIFICATE_PATH,
  createIstioCertificateService,
  type CaServerEvent,
} from './istio-certificate-service.js';
import { TokenBucketLimiter } from './rate-limit/token-bucket-limiter.js';
import { issueServingCertificate, type ServingMaterial } from './serving-certificate.js';
import { backoffDelay, nodeSetTimer, type SetTimer } from './set-timer.js';
import { SigningAuthoritySource, type IssuerRef } from './signing/signing-authority-source.js';
import { createWorkloadSigner, type SigningAuthority } from './signing/workload-signer.js';
import { DEFAULT_KEY_POLICY, type KeyPolicy } from './signing/workload-csr-policy.js';
import { SigningWorkerPool } from './signing/signing-worker-pool.js';

/** Everything `meshca serve` is configured with (flags or config file). */
export interface CaServerConfig {
  readonly grpcHost: string;
  readonly grpcPort: number;
  readonly trustDomain: string;
  readonly clusterId: string;
  readonly maxCertificateDurationMs: number;
  readonly issuerRef: IssuerRef;
  /** Where the Issuer and the audit log live. */
  readonly certificateNamespace: string;
  readonly clusterResourceNamespace: string;
  readonly servingDnsNames: readonly string[];
  readonly servingIpAddresses: readonly string[];
  readonly servingDurationMs: number;
  /** External token issuers' keys (a cluster's service-account issuer); meshca's own are always trusted. */
  readonly jwks?: JwksLocation;
  /** Accepted `iss` values besides meshca's own. */
  readonly tokenIssuers: readonly string[];
  readonly tokenAudiences: readonly string[];
  /** Accept client certificates (meshca-issued SPIFFE certificates) for renewals. */
  readonly clientCertificateAuth: boolean;
  /** Per identity; undefined turns the limit off. */
  readonly rateLimit?: { readonly perSecond: number; readonly burst: number };
  readonly auditRetentionMs: number;
  readonly keyPolicy?: KeyPolicy;
  /** Worker threads that parse, verify and sign CSRs (`--signing-workers`); 0 or absent signs on the main thread. */
  readonly signingWorkers?: number;
  readonly grpcLimits?: Partial<GrpcLimits>;
}

/** What the server needs from outside. */
export interface CaServerDeps {
  readonly store: Store;
  readonly now: () => Date;
  /** Schedules renewals and retries on the clock `now` (default: Node's timers). */
  readonly setTimer?: SetTimer;
  /** Counts events under istiod's metric names. */
  readonly onEvent?: (event: CaServerEvent) => void;
  /** Wraps the answer to each CSR, to time it and count its outcome (citadel_server_csr_count{error}). */
  readonly observeCsr?: <T>(answer: () => Promise<T>) => Promise<T>;
  /** Log lines: never given keys or tokens. */
  readonly log?: (
    level: 'info' | 'warn' | 'error',
    message: string,
    fields?: Record<string, unknown>,
  ) => void;
  /** Called with the root bundle whenever it changes (to write root-cert.pem, update gauges). */
  readonly onBundle?: (roots: readonly Certificate[], chain: readonly Certificate[]) => void;
  /**
   * Called once if the gRPC server cannot start after startCaServer returned (the port was taken
   * while the server waited for its first signing CA): the server never retries, so the process
   * should stop. A failure while startCaServer runs rejects it instead.
   */
  readonly onFatal?: (error: MeshcaError) => void;
}

/** Readiness and why not. */
export interface Readiness {
  readonly ready: boolean;
  readonly reasons: readonly string[];
}

/** A running CA server. */
export interface RunningCaServer {
  /** The bound gRPC address, once the server listens (after a signing CA first became ready). */
  grpcAddress(): AddressInfo | undefined;
  /**
   * Ready only with a loaded signing CA and a valid serving certificate, not one whose renewal has
   * kept failing past 5/6 of its life.
   */
  readiness(): Readiness;
  /**
   * The trust bundle: the roots of the signing CA, or, while none is ready (an issuer swap whose
   * Secret is not issued yet, a CA that expired), the roots of the last one that was: workloads
   * still trust them, and a bundle endpoint that went empty then would fail its consumers exactly
   * when they need it. Empty only before any CA was ever loaded.
   */
  roots(): readonly Certificate[];
  /** meshca's token-signing key (its public half is published in the SPIFFE bundle as a JWT key). */
  tokenSigningKey(): StoredTokenKey;
  /** The signing CA now. */
  authority(): SigningAuthority;
  /** Re-reads the signing CA from the store now. */
  refresh(): Promise<void>;
  /** Renews the serving certificate now (also done by its timer at 2/3 of its life). */
  renewServingCertificate(): void;
  /**
   * Why the server stopped for good (the gRPC listener could not start), or undefined while it has
   * not: the same error as onFatal.
   */
  failure(): MeshcaError | undefined;
  /** Stops accepting gRPC connections and waits for the calls in flight (the first step of close). */
  stopAccepting(): Promise<void>;
  /** Stops: no new calls, calls in flight finish, audit flushed. Every step runs even if one fails. */
  close(): Promise<void>;
}

/** What the common listen errors mean, for the one-line message. */
const LISTEN_ERRORS: Readonly<Record<string, string>> = {
  EADDRINUSE: 'the address is already in use',
  EACCES: 'permission denied',
  EADDRNOTAVAIL: 'the address is not one of this host',
};

/**
 * The error of a gRPC listener that could not start: names the address and the cause
 * (`cannot listen for gRPC on 0.0.0.0:6443: the address is already in use (EADDRINUSE)`).
 */
export function grpcListenError(host: string, port: number, err: unknown): MeshcaError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const address = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const what =
    code === undefined
      ? toMeshcaError(err).message
      : LISTEN_ERRORS[code] === undefined
        ? code
        : `${LISTEN_ERRORS[code]} (${code})`;
  const hint =
    code === 'EACCES'
      ? 'ports below 1024 need privileges (CAP_NET_BIND_SERVICE): pick another --grpc-address, or grant them'
      : 'pick another --grpc-address, or stop the process that holds this one';
  return new MeshcaError('INVALID_INPUT', `cannot listen for gRPC on ${address}: ${what}`, {
    hint,
    cause: err,
  });
}

/** Retries of a due serving-certificate renewal that failed: 5 s doubled up to 1 min. */
const SERVING_RETRY_INITIAL_MS = 5_000;
const SERVING_RETRY_MAX_MS = 60_000;

/**
 * When a serving certificate whose renewal keeps failing makes the server not ready: halfway
 * between its renewal time (2/3 of its life) and its notAfter, i.e. at 5/6 of its life (50 min
 * into the default 1 h). Retries and the CA coming back get the first half; the second half is
 * left for someone to act before new handshakes fail.
 */
function overdueAt(serving: ServingMaterial): number {
  const renewAt = serving.renewAt.getTime();
  return renewAt + (serving.notAfter.getTime() - renewAt) / 2;
}

/**
 * Starts the Istio CA server: resolves the signing CA from the store (and follows it), serves
 * CreateCertificate over TLS with a certificate of its own CA renewed at 2/3 of its life without
 * dropping connections, and batches audit records. With no CA yet it waits, not ready, and starts
 * listening as soon as one exists.
 */
export async function startCaServer(config: CaServerConfig, deps: CaServerDeps): Promise<RunningCaServer> {
  const log = deps.log ?? (() => undefined);
  const clock = (): number => deps.now().getTime();
  let grpc: GrpcServer | undefined;
  let address: AddressInfo | undefined;
  let serving: ServingMaterial | undefined;
  let cancelRenewal: (() => void) | undefined;
  /** Failed renewals in a row, and why the last one failed. */
  let renewalFailures = 0;
  let renewalError: string | undefined;
  let closed = false;
  /** The roots of the last signing CA that was ready (see roots()). */
  let lastRoots: readonly Certificate[] = [];
  const setTimer = deps.setTimer ?? nodeSetTimer(deps.now);
  let listening: Promise<void> | undefined;
  /** Set once the gRPC listener could not start: the server then never listens. */
  let failure: MeshcaError | undefined;
  /** True once startCaServer returned: a later listen failure goes to onFatal. */
  let started = false;

  // Records dropped because the queue is full are logged at most every 10 s, with their count:
  // during a store outage that would otherwise be one error line per CSR.
  let droppedUnlogged = 0;
  let lastDropLogMs = Number.NEGATIVE_INFINITY;
  const audit = new AuditBatcher({
    store: deps.store,
    now: deps.now,
    setTimer,
    retentionMs: config.auditRetentionMs,
    onError: (err, info) =>
      info.retryInMs === undefined
        ? log('error', 'audit batch refused by the store; its records are dropped', {
            error: toMeshcaError(err).message,
          })
        : log('warn', 'audit batch not written yet; will retry', {
            error: toMeshcaError(err).message,
            pending: info.pending,
            retryInMs: info.retryInMs,
          }),
    onDropped: (n, reason) => {
      if (reason === 'shutdown') {
        log('error', 'audit records lost: the store could not take them before shutdown', { lost: n });
      } else if (reason === 'invalid') {
        log('error', 'audit records dropped: the store refused them as invalid', { dropped: n });
      } else {
        droppedUnlogged += n;
        if (clock() - lastDropLogMs >= 10_000) {
          log('error', 'audit queue full while the store is unavailable; records dropped', {
            dropped: droppedUnlogged,
          });
          droppedUnlogged = 0;
          lastDropLogMs = clock();
        }
      }
    },
  });

  // meshca's own token issuer: its key lives in the store, made on first start.
  const tokenKey = await ensureTokenSigningKey(deps.store, config.certificateNamespace);
  const ownJwks = await tokenJwks([{ key: tokenKey.key, kid: tokenKey.kid }]);
  const ownGetKey = createLocalJWKSet(ownJwks);
  let externalGetKey: JWTVerifyGetKey | undefined;
  if (config.jwks !== undefined) {
    const source = createJwksSource({ ...config.jwks, clock });
    await source.refresh();
    externalGetKey = source.getKey;
  }
  const getKey: JWTVerifyGetKey = async (header, token) => {
    if (header.kid === tokenKey.kid || externalGetKey === undefined) return ownGetKey(header, token);
    return externalGetKey(header, token);
  };
  const jwt = createJwtAuthenticator({
    getKey,
    issuers: [MESHCA_TOKEN_ISSUER, ...config.tokenIssuers],
    audiences: config.tokenAudiences,
    clock,
  });
  const authenticate: Authenticator = createCallerAuthenticator({
    jwt,
    ...(config.clientCertificateAuth && {
      clientCertificate: createClientCertificateAuthenticator({
        trustDomains: [config.trustDomain],
        parseWorkloadSpiffeId,
      }),
    }),
  });

  const source = new SigningAuthoritySource({
    store: deps.store,
    issuerRef: config.issuerRef,
    namespace: config.certificateNamespace,
    clusterResourceNamespace: config.clusterResourceNamespace,
    now: deps.now,
    setTimer,
    onChange: (a) => onAuthority(a),
    onError: (err) =>
      log('warn', 'reading or watching the signing CA failed; retrying', {
        error: toMeshcaError(err).message,
      }),
  });

  const pool =
    config.signingWorkers !== undefined && config.signingWorkers > 0
      ? new SigningWorkerPool({
          workers: config.signingWorkers,
          policy: config.keyPolicy ?? DEFAULT_KEY_POLICY,
          onWorkerExit: ({ threadId, exitCode, error }) =>
            log('error', 'a signing worker stopped; starting another', {
              threadId,
              exitCode,
              ...(error !== undefined && { error: error.message }),
            }),
          onGaveUp: () =>
            log(
              'error',
              'the signing workers kept stopping; CSRs are signed on the main thread from now on',
              {
                hint: 'see the errors above for why the workers stop; --signing-workers 0 signs on the main thread by design',
              },
            ),
        })
      : undefined;
  const signer = createWorkloadSigner({
    ...(pool !== undefined && { pool }),
    authority: () => source.current(),
    trustDomain: config.trustDomain,
    maxLifetimeMs: config.maxCertificateDurationMs,
    ...(config.keyPolicy !== undefined && { keyPolicy: config.keyPolicy }),
    audit: (r) => audit.add(r),
  });
  const service = createIstioCertificateService({
    authenticate,
    sign: signer,
    clusterId: config.clusterId,
    clock,
    defaultValiditySeconds: Math.floor(Math.min(config.maxCertificateDurationMs, 24 * 3_600_000) / 1000),
    ...(config.rateLimit !== undefined && {
      rateLimit: new TokenBucketLimiter({
        ratePerSecond: config.rateLimit.perSecond,
        burst: config.rateLimit.burst,
        maxKeys: 100_000,
        clock,
      }),
    }),
    ...(deps.onEvent !== undefined && { onEvent: deps.onEvent }),
  });

  const observe = deps.observeCsr ?? (<T>(answer: () => Promise<T>): Promise<T> => answer());

  /**
   * Issues a new serving certificate. When that fails (no signing CA ready right now, or signing
   * failed) and the current one is due, it is retried with backoff until it works, and also as
   * soon as a signing CA becomes ready (onAuthority): a due renewal is never dropped.
   */
  const renewServing = (): void => {
    if (closed) return;
    const authority = source.current();
    let next: ServingMaterial;
    try {
      next = issueServingCertificate(
        authority,
        {
          dnsNames: config.servingDnsNames,
          ipAddresses: config.servingIpAddresses,
          lifetimeMs: config.servingDurationMs,
        },
        deps.now(),
      );
    } catch (err) {
      renewalError = toMeshcaError(err).message;
      // An early renewal (renewServingCertificate) that fails keeps the scheduled one.
      if (serving !== undefined && clock() < serving.renewAt.getTime()) {
        log('warn', 'serving certificate not renewed early', { error: renewalError });
        return;
      }
      renewalFailures++;
      const delay = backoffDelay(renewalFailures, SERVING_RETRY_INITIAL_MS, SERVING_RETRY_MAX_MS);
      log('error', 'serving certificate not issued; retrying', {
        error: renewalError,
        ...(serving !== undefined && { notAfter: serving.notAfter.toISOString() }),
        retryInMs: delay,
      });
      scheduleServingRenewal(new Date(clock() + delay));
      return;
    }
    serving = next;
    renewalFailures = 0;
    renewalError = undefined;
    // setSecureContext changes what new handshakes get; open connections keep theirs.
    grpc?.setSecureContext({ key: serving.keyPem, cert: serving.certChainPem, ca: serving.caPem });
    log('info', 'serving certificate issued', {
      notAfter: serving.notAfter.toISOString(),
      renewAt: serving.renewAt.toISOString(),
    });
    scheduleServingRenewal(serving.renewAt);
  };

  const scheduleServingRenewal = (at: Date): void => {
    cancelRenewal?.();
    cancelRenewal = setTimer(at, () => {
      cancelRenewal = undefined;
      renewServing();
    });
  };

  const startListening = async (): Promise<void> => {
    if (grpc !== undefined || serving === undefined) return;
    grpc = createGrpcServer({
      tls: {
        key: serving.keyPem,
        cert: serving.certChainPem,
        ca: serving.caPem,
        requestCert: config.clientCertificateAuth,
      },
      methods:
        deps.observeCsr === undefined
          ? service.methods
          : { [CREATE_CERTIFICATE_PATH]: (call) => observe(() => service.createCertificate(call)) },
      ...(config.grpcLimits !== undefined && { limits: config.grpcLimits }),
      onError: (err, context) => log('warn', `grpc ${context} error`, { error: toMeshcaError(err).message }),
    });
    const bound = await grpc.listen(config.grpcPort, config.grpcHost);
    if (closed) return; // close() came while it was binding: it closes the listener.
    address = bound;
    log('info', 'CA server listening', { address: `${address.address}:${address.port}` });
  };

  function onAuthority(a: SigningAuthority): void {
    if (a.ready) {
      lastRoots = a.issuer.ca;
      log('info', 'signing CA loaded', {
        issuer: a.name,
        subject: a.issuer.certificate.subjectString,
        notAfter: a.issuer.certificate.notAfter.toISOString(),
      });
      deps.onBundle?.(a.issuer.ca, [
        a.issuer.certificate,
        ...a.issuer.chain.filter((c) => c !== a.issuer.certificate),
      ]);
      // A new CA, or the same one back after it was not ready when the renewal fell due.
      if (
        serving === undefined ||
        serving.signedBy !== a.issuer.certificate.fingerprintSha256 ||
        clock() >= serving.renewAt.getTime()
      )
        renewServing();
      if (grpc === undefined && !closed && failure === undefined) {
        // A listener that cannot start is fatal (not retried): a busy or forbidden port does not
        // free itself, and a CA that stays up without its API would only report not ready forever.
        listening = startListening().catch((err: unknown) => {
          grpc = undefined;
          failure = grpcListenError(config.grpcHost, config.grpcPort, err);
          log('error', 'CA server cannot listen', { error: failure.message });
          if (started && !closed) deps.onFatal?.(failure);
        });
      }
    } else {
      log('warn', 'no signing CA', { reason: a.reason });
    }
  }

  let stopping: Promise<void> | undefined;
  const stopAccepting = (): Promise<void> =>
    (stopping ??= (async () => {
      closed = true;
      source.close();
      cancelRenewal?.();
      cancelRenewal = undefined;
      // A listen in progress: wait for it, so the listener it may still open is closed below.
      await listening;
      await grpc?.close();
    })());
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      const errors: unknown[] = [];
      for (const step of [stopAccepting, () => pool?.close(), () => audit.close()]) {
        try {
          await step();
        } catch (err) {
          errors.push(err);
        }
      }
      if (errors.length === 1) throw errors[0];
      if (errors.length > 1) throw new AggregateError(errors, 'the CA server did not close cleanly');
    })());

  try {
    await source.start();
    await listening;
  } catch (err) {
    await close().catch(() => undefined);
    throw err;
  }
  if (failure !== undefined) {
    await close().catch(() => undefined);
    throw failure;
  }
  started = true;

  return {
    grpcAddress: () => address,
    readiness: () => {
      const reasons: string[] = [];
      const a = source.current();
      const now = clock();
      if (!a.ready) reasons.push(`no signing CA loaded: ${a.reason}`);
      else if (a.issuer.certificate.notAfter.getTime() <= now)
        reasons.push(`the signing CA expired at ${a.issuer.certificate.notAfter.toISOString()}`);
      if (serving === undefined) reasons.push('no serving certificate yet');
      else if (serving.notAfter.getTime() <= now)
        reasons.push(`the serving certificate expired at ${serving.notAfter.toISOString()}`);
      else if (now >= overdueAt(serving))
        reasons.push(
          `the serving certificate was due for renewal at ${serving.renewAt.toISOString()} and is not renewed` +
            `${renewalError === undefined ? '' : ` (${renewalError})`}; it expires at ${serving.notAfter.toISOString()}`,
        );
      if (failure !== undefined) reasons.push(failure.message);
      else if (address === undefined) reasons.push('the gRPC server is not listening yet');
      return { ready: reasons.length === 0, reasons };
    },
    roots: () => {
      const a = source.current();
      return a.ready ? a.issuer.ca : lastRoots;
    },
    tokenSigningKey: () => tokenKey,
    authority: () => source.current(),
    refresh: () => source.refresh(),
    renewServingCertificate: renewServing,
    failure: () => failure,
    stopAccepting,
    close,
  };
}
