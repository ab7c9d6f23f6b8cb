import { MeshcaError, isMeshcaError, toMeshcaError } from '../errors/index.js';
import {
  buildCsr,
  encodePrivateKey,
  generatePrivateKey,
  parsePrivateKey,
  workloadSpiffeId,
  type Certificate,
  type KeySpec,
} from '../pki/index.js';
import type { AgentCaClient } from './agent-ca-client.js';
import type { AgentMetrics } from './agent-metrics.js';
import type { Clock } from './clock.js';
import { CredentialFolder } from './credential-folder.js';
import { readRootCertFile, readTokenFile } from './read-inputs.js';
import {
  MISSING_BACKOFF,
  RENEWAL_BACKOFF,
  backoffDelay,
  checkGracePeriodRatio,
  nextRenewalAt,
  type Random,
} from './renewal-schedule.js';
import { validateAnswer, type IssuedCredentials } from './validate-answer.js';

/** What the agent is for: whose certificate, from where, kept where. */
export interface AgentConfig {
  readonly trustDomain: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  /** Sent as the `clusterid` header (Istio's default is "Kubernetes"). */
  readonly clusterId: string;
  readonly keySpec: KeySpec;
  /** Renew at `notAfter − ratio × lifetime` (0 < ratio < 1). */
  readonly gracePeriodRatio: number;
  /** Sent as `validity_duration`; the CA may grant less. */
  readonly requestedLifetimeMs: number;
  /** PEM root bundle the CA's serving certificate chains to. */
  readonly rootCertFile: string;
  /** The service-account token, read again before every request. */
  readonly tokenFile: string;
  /** The credential folder (cert-chain.pem, key.pem, root-cert.pem). */
  readonly outDir: string;
}

/** One structured log line; fields never hold key material. */
export type AgentLog = (level: 'info' | 'warn' | 'error', message: string, fields?: Readonly<Record<string, string | number | boolean>>) => void;

/** What the agent is given from outside: time, randomness, the CA, logs and metrics. */
export interface AgentDeps {
  readonly client: AgentCaClient;
  readonly clock: Clock;
  readonly random: Random;
  readonly log: AgentLog;
  readonly metrics?: AgentMetrics;
}

/** How `ensure` left the folder. */
export interface EnsureResult {
  /** `reused`: a valid certificate not yet due was already there; `issued`: a new one was written. */
  readonly action: 'reused' | 'issued';
  readonly credentials: IssuedCredentials;
  /** When the agent would renew it. */
  readonly renewAt: Date;
}

/** The longest single wait; the loop re-reads the clock after each, so suspends and clock steps are noticed. */
const MAX_WAIT_STEP_MS = 5 * 60_000;
/** After an issuance the next one is at least this far away, whatever the CA granted (no hot loop on tiny lifetimes). */
const MIN_RENEWAL_INTERVAL_MS = 10_000;

/**
 * The workload side of the Istio CA API: keeps a valid certificate for one SPIFFE ID in a
 * credential folder. Each issuance makes a new key and a CSR carrying only the URI SAN, reads the
 * token afresh, calls the CA over TLS verified against the union of the configured roots and the
 * roots of the last two answers, validates the answer and only then swaps the files in.
 */
export class WorkloadAgent {
  /** The SPIFFE ID this agent asks for. */
  readonly spiffeId: string;
  private readonly config: AgentConfig;
  private readonly deps: AgentDeps;
  private readonly folder: CredentialFolder;
  private current: IssuedCredentials | undefined;
  /** Root bundles of the current and previous answers, trusted for the CA connection during a rotation. */
  private answerRoots: readonly Certificate[] = [];
  private previousAnswerRoots: readonly Certificate[] = [];

  constructor(config: AgentConfig, deps: AgentDeps) {
    checkGracePeriodRatio(config.gracePeriodRatio);
    if (!(config.requestedLifetimeMs >= 1000)) {
      throw new MeshcaError('INVALID_INPUT', `the requested lifetime must be at least one second, got ${config.requestedLifetimeMs} ms`);
    }
    this.spiffeId = workloadSpiffeId(config.trustDomain, config.namespace, config.serviceAccount);
    this.config = config;
    this.deps = deps;
    this.folder = new CredentialFolder(config.outDir);
  }

  /** The credentials in use, if any. */
  get credentials(): IssuedCredentials | undefined {
    return this.current;
  }

  /**
   * Makes sure the folder holds a valid certificate not yet due for renewal: reuses one that is
   * there, else makes one request (no retry). Used by `meshca agent --once`.
   */
  async ensure(signal: AbortSignal): Promise<EnsureResult> {
    const existing = await this.loadExisting();
    if (existing !== undefined && existing.renewAt.getTime() > this.deps.clock.now().getTime()) {
      return { action: 'reused', credentials: existing.credentials, renewAt: existing.renewAt };
    }
    const credentials = await this.issue(signal);
    return { action: 'issued', credentials, renewAt: this.renewalAfterIssue(credentials) };
  }

  /**
   * Runs until `signal` aborts: reuses a valid certificate found at start, renews at the
   * grace period, and while the CA fails keeps the files in place and retries with backoff.
   */
  async run(signal: AbortSignal): Promise<void> {
    const { clock, random, log } = this.deps;
    const existing = await this.loadExisting();
    let nextAttempt = existing?.renewAt ?? clock.now();
    let failures = 0;
    let expiryReported = false;
    while (!signal.aborted) {
      await this.waitUntil(nextAttempt, signal);
      if (signal.aborted) break;
      try {
        const issued = await this.issue(signal);
        failures = 0;
        expiryReported = false;
        nextAttempt = this.renewalAfterIssue(issued);
        log('info', 'next renewal scheduled', { renewAt: nextAttempt.toISOString() });
      } catch (err) {
        if (signal.aborted) break;
        const e = toMeshcaError(err);
        failures++;
        const now = clock.now();
        const valid = this.current !== undefined && now.getTime() < this.current.leaf.notAfter.getTime();
        const delay = backoffDelay(failures, random, valid ? RENEWAL_BACKOFF : MISSING_BACKOFF);
        nextAttempt = new Date(now.getTime() + delay);
        log('warn', `certificate request failed; keeping the current files and retrying: ${e.message}`, {
          code: e.code,
          attempt: failures,
          retryInMs: delay,
          ...(this.current !== undefined && { currentNotAfter: this.current.leaf.notAfter.toISOString() }),
        });
        if (this.current !== undefined && !valid && !expiryReported) {
          expiryReported = true;
          log('error', `the workload certificate expired at ${this.current.leaf.notAfter.toISOString()} and could not be renewed`, {
            serial: this.current.leaf.serialNumber,
          });
        }
      }
    }
  }

  /**
   * One issuance: new key, CSR, call, validation, atomic write. Throws a MeshcaError when any step
   * fails; the folder is then exactly as it was. A problem after the new files are swapped in is
   * logged as a warning, not thrown: the new certificate is live and adopted.
   */
  async issue(signal: AbortSignal): Promise<IssuedCredentials> {
    const { clock, client, log } = this.deps;
    const token = await readTokenFile(this.config.tokenFile);
    const trustedRootsPem = await this.trustedRootsPem();
    const key = generatePrivateKey(this.config.keySpec);
    // Istio's CSR: the identity only as a URI SAN; no common name, no DNS names (DESIGN §3).
    const csr = buildCsr({ key, sans: { uris: [this.spiffeId] } });
    const answer = await client.createCertificate(
      {
        csr,
        validityDurationSeconds: Math.floor(this.config.requestedLifetimeMs / 1000),
        token,
        clusterId: this.config.clusterId,
        trustedRootsPem,
      },
      signal,
    );
    const now = clock.now();
    const issued = validateAnswer(answer, { key, spiffeId: this.spiffeId, now });
    const version = `${now.toISOString().replace(/[-:]/g, '_')}.${issued.leaf.serialNumber.slice(0, 16)}`;
    const warnings = await this.folder.write(
      {
        chainPem: issued.chain.map((c) => c.pem).join(''),
        keyPem: encodePrivateKey(key, 'PKCS8'),
        rootPem: issued.roots.map((c) => c.pem).join(''),
      },
      version,
    );
    const rootsChanged = this.answerRoots.length > 0 && fingerprints(this.answerRoots) !== fingerprints(issued.roots);
    this.adopt(issued);
    log('info', 'certificate issued', {
      spiffeId: this.spiffeId,
      serial: issued.leaf.serialNumber,
      notAfter: issued.leaf.notAfter.toISOString(),
      chainLength: issued.chain.length,
    });
    if (rootsChanged) log('info', 'the root bundle changed; root-cert.pem rewritten', { roots: fingerprints(issued.roots) });
    // The new set is live behind ..data; what failed after the swap is worth a look, not a new request.
    for (const warning of warnings) log('warn', `the new certificate is in place, but: ${warning}`, { serial: issued.leaf.serialNumber });
    return issued;
  }

  /** The credentials already in the folder when they are valid now for our identity, with their renewal time. */
  private async loadExisting(): Promise<{ credentials: IssuedCredentials; renewAt: Date } | undefined> {
    const { log, clock, random } = this.deps;
    const read = await this.folder.read();
    if (!read.ok) {
      log('info', `no certificate to reuse in ${this.config.outDir} (${read.reason}); requesting one`);
      return undefined;
    }
    try {
      const key = parsePrivateKey(read.texts.keyPem);
      const credentials = validateAnswer([read.texts.chainPem, read.texts.rootPem], { key, spiffeId: this.spiffeId, now: clock.now() });
      this.adopt(credentials);
      const renewAt = nextRenewalAt(credentials.leaf, this.config.gracePeriodRatio, random);
      log('info', 'reusing the certificate in the credential folder', {
        serial: credentials.leaf.serialNumber,
        notAfter: credentials.leaf.notAfter.toISOString(),
        renewAt: renewAt.toISOString(),
      });
      await this.repairLinks();
      return { credentials, renewAt };
    } catch (err) {
      const reason = isMeshcaError(err) ? err.message.replace(/^the CA's answer /, 'the saved chain ') : String(err);
      log('info', `not reusing the files in ${this.config.outDir}: ${reason}; requesting a new certificate`);
      return undefined;
    }
  }

  /**
   * Points the top-level names at the set just reused: a process killed after the `..data` swap
   * but before the links leaves them missing or naming another set, and nothing else would mend
   * them before the next renewal. Not fatal: the set behind `..data` is valid either way.
   */
  private async repairLinks(): Promise<void> {
    const { log } = this.deps;
    try {
      const repaired = await this.folder.repairLinks();
      if (repaired.length > 0) log('info', 'repaired the top-level links of the credential folder', { files: repaired.join(', ') });
    } catch (err) {
      log('warn', `cannot repair the top-level links of the credential folder: ${toMeshcaError(err).message}`);
    }
  }

  private adopt(credentials: IssuedCredentials): void {
    if (fingerprints(credentials.roots) !== fingerprints(this.answerRoots)) {
      this.previousAnswerRoots = this.answerRoots;
      this.answerRoots = credentials.roots;
    }
    this.current = credentials;
    this.deps.metrics?.setCertificates(
      credentials.leaf.notAfter,
      credentials.roots.map((c) => c.notAfter),
      [...credentials.chain, ...credentials.roots].map((c) => c.notAfter),
    );
  }

  private renewalAfterIssue(issued: IssuedCredentials): Date {
    const renewAt = nextRenewalAt(issued.leaf, this.config.gracePeriodRatio, this.deps.random).getTime();
    return new Date(Math.max(renewAt, this.deps.clock.now().getTime() + MIN_RENEWAL_INTERVAL_MS));
  }

  private async trustedRootsPem(): Promise<string> {
    const configured = await readRootCertFile(this.config.rootCertFile);
    const seen = new Set<string>();
    let pem = '';
    for (const cert of [...configured, ...this.answerRoots, ...this.previousAnswerRoots]) {
      if (seen.has(cert.fingerprintSha256)) continue;
      seen.add(cert.fingerprintSha256);
      pem += cert.pem;
    }
    return pem;
  }

  private async waitUntil(target: Date, signal: AbortSignal): Promise<void> {
    const { clock } = this.deps;
    for (;;) {
      const left = target.getTime() - clock.now().getTime();
      if (left <= 0 || signal.aborted) return;
      await clock.sleep(Math.min(left, MAX_WAIT_STEP_MS), signal);
    }
  }
}

const fingerprints = (certs: readonly Certificate[]): string => certs.map((c) => c.fingerprintSha256).sort().join(',');
