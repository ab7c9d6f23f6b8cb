import path from 'node:path';
import type { Command } from 'commander';
import { Registry } from 'prom-client';
import {
  DEFAULT_GRACE_PERIOD_RATIO,
  GRACE_PERIOD_RATIO_JITTER,
  GrpcCaClient,
  MAX_GRACE_PERIOD_RATIO,
  MIN_GRACE_PERIOD_RATIO,
  WorkloadAgent,
  checkOutFolder,
  createAgentMetrics,
  hostNameProblem,
  parseHostPort,
  readRootCertFile,
  startMetricsServer,
  systemClock,
  tokenFileWarning,
  type AgentConfig,
  type AgentLog,
  type MetricsServer,
} from '../../agent/index.js';
import { isMeshcaError } from '../../errors/index.js';
import { workloadSpiffeId, type KeySpec } from '../../pki/index.js';
import type { CliContext } from '../context.js';
import { parseDurationFlag } from '../flags.js';
import { usageError } from '../usage-error.js';

interface AgentFlags {
  caAddress: string;
  rootCert: string;
  tokenFile: string;
  namespace: string;
  serviceAccount: string;
  out: string;
  trustDomain: string;
  keyType: string;
  gracePeriodRatio: string;
  clusterId: string;
  caServerName?: string;
  requestedLifetime: string;
  metricsAddress?: string;
  once?: boolean;
}

// A Map, not an object literal: `--key-type constructor` (or toString, __proto__) must not find
// something on Object.prototype.
const KEY_TYPES: ReadonlyMap<string, KeySpec> = new Map<string, KeySpec>([
  ['ec-p256', { algorithm: 'ECDSA', size: 256 }],
  ['rsa-2048', { algorithm: 'RSA', size: 2048 }],
]);

/** `meshca agent`: the workload side of the Istio CA API, keeping cert-chain.pem, key.pem and root-cert.pem current. */
export function registerAgent(program: Command, ctx: CliContext): void {
  program
    .command('agent')
    .description('keep a workload certificate for spiffe://<trust-domain>/ns/<ns>/sa/<sa> in a folder, renewing it from the CA')
    .requiredOption('--ca-address <host:port>', 'the CA\'s gRPC endpoint (Istio CA API)')
    .requiredOption('--root-cert <file>', 'PEM root(s) the CA\'s serving certificate chains to')
    .requiredOption('--token-file <file>', 'service-account token (JWT, audience istio-ca), read before every request')
    .requiredOption('--namespace <ns>', 'the workload\'s namespace')
    .requiredOption('--service-account <sa>', 'the workload\'s service account')
    .requiredOption('--out <dir>', 'folder for cert-chain.pem, key.pem (0600) and root-cert.pem')
    .option('--trust-domain <domain>', 'SPIFFE trust domain', 'cluster.local')
    .option('--key-type <type>', 'workload key: ec-p256 or rsa-2048', 'ec-p256')
    .option(
      '--grace-period-ratio <ratio>',
      `renew when this fraction of the lifetime is left, ${MIN_GRACE_PERIOD_RATIO} to ${MAX_GRACE_PERIOD_RATIO} (±${GRACE_PERIOD_RATIO_JITTER} jitter)`,
      String(DEFAULT_GRACE_PERIOD_RATIO),
    )
    .option('--cluster-id <id>', 'sent as the clusterid header', 'Kubernetes')
    .option('--ca-server-name <name>', 'name the CA\'s serving certificate must carry (default: the host of --ca-address)')
    .option('--requested-lifetime <duration>', 'lifetime to ask for (Go duration); the CA may grant less', '24h')
    .option('--metrics-address <host:port>', 'serve Prometheus metrics at http://<host:port>/metrics')
    .option('--once', 'make sure a valid certificate not yet due is in --out (reuse or fetch once), then exit')
    .action(async (flags: AgentFlags) => {
      const config = agentConfigFromFlags(flags, ctx.cwd);
      parseHostPort('--ca-address', flags.caAddress);
      const metricsAddress = flags.metricsAddress === undefined ? undefined : parseHostPort('--metrics-address', flags.metricsAddress);
      if (flags.caServerName !== undefined) {
        const problem = hostNameProblem(flags.caServerName);
        if (problem !== undefined) {
          throw usageError(`--ca-server-name must be a DNS name or an IPv4 address, got ${JSON.stringify(flags.caServerName.slice(0, 80))}: ${problem}`);
        }
      }
      // Fail at once on a root file or an --out that cannot work; later reads (before each request) pick up changes.
      await readRootCertFile(config.rootCertFile);
      await checkOutFolder(config.outDir);

      const once = flags.once === true;
      const log = jsonLog(ctx, once);
      // A missing token is only a warning: a projected token may appear a moment later, and it is read before each request.
      const tokenWarning = await tokenFileWarning(config.tokenFile);
      if (tokenWarning !== undefined) log('warn', tokenWarning);
      const registry = new Registry();
      const client = new GrpcCaClient({
        address: flags.caAddress,
        ...(flags.caServerName !== undefined && { serverName: flags.caServerName }),
      });
      let metricsServer: MetricsServer | undefined;
      try {
        if (metricsAddress !== undefined) {
          metricsServer = await startMetricsServer(metricsAddress, registry);
          log('info', 'serving metrics', { url: metricsServer.url });
        }
        const agent = new WorkloadAgent(config, {
          client,
          clock: systemClock,
          random: Math.random,
          log,
          metrics: createAgentMetrics(registry, ctx.now),
        });
        const signal = ctx.signal ?? new AbortController().signal;
        if (once) {
          const result = await agent.ensure(signal);
          const leaf = result.credentials.leaf;
          ctx.stdout.write(
            `${result.action} ${agent.spiffeId} (serial ${leaf.serialNumber}), valid until ${leaf.notAfter.toISOString()}, ` +
              `renew after ${result.renewAt.toISOString()}; files in ${config.outDir}\n`,
          );
        } else {
          log('info', 'agent started', { spiffeId: agent.spiffeId, caAddress: flags.caAddress, out: config.outDir });
          await agent.run(signal);
          log('info', 'agent stopped');
        }
      } finally {
        client.close();
        await metricsServer?.close();
      }
    });
}

/** Checks the flags (exit 2 on a bad one) and builds the agent's configuration. */
export function agentConfigFromFlags(flags: AgentFlags, cwd: string): AgentConfig {
  try {
    workloadSpiffeId(flags.trustDomain, flags.namespace, flags.serviceAccount);
  } catch (err) {
    if (!isMeshcaError(err)) throw err;
    throw usageError(`--trust-domain, --namespace and --service-account do not make a SPIFFE ID: ${err.message}`, err.hint);
  }
  const keySpec = KEY_TYPES.get(flags.keyType);
  if (keySpec === undefined) {
    throw usageError(`--key-type: unknown key type ${JSON.stringify(flags.keyType.slice(0, 40))}`, `choose one of: ${[...KEY_TYPES.keys()].join(', ')}`);
  }
  const ratio = /^\d*\.?\d+$/.test(flags.gracePeriodRatio) ? Number(flags.gracePeriodRatio) : Number.NaN;
  // Inside Istio's (0, 1) with room for the ±0.01 jitter: renewal stays at least 1% of the lifetime before notAfter.
  if (!(ratio >= MIN_GRACE_PERIOD_RATIO && ratio <= MAX_GRACE_PERIOD_RATIO)) {
    throw usageError(
      `--grace-period-ratio must be a number from ${MIN_GRACE_PERIOD_RATIO} to ${MAX_GRACE_PERIOD_RATIO}, got ${JSON.stringify(flags.gracePeriodRatio.slice(0, 40))}`,
      `use 0.5 to renew at half the lifetime, as Istio does; the ±${GRACE_PERIOD_RATIO_JITTER} jitter needs room on both sides`,
    );
  }
  const requestedLifetimeMs = parseDurationFlag('--requested-lifetime', flags.requestedLifetime);
  if (requestedLifetimeMs < 1000) throw usageError(`--requested-lifetime must be at least 1s, got ${JSON.stringify(flags.requestedLifetime)}`);
  if (flags.clusterId === '' || !/^[\x21-\x7e]{1,253}$/.test(flags.clusterId)) {
    throw usageError(`--cluster-id must be 1 to 253 printable characters without spaces, got ${JSON.stringify(flags.clusterId.slice(0, 40))}`);
  }
  return {
    trustDomain: flags.trustDomain,
    namespace: flags.namespace,
    serviceAccount: flags.serviceAccount,
    clusterId: flags.clusterId,
    keySpec,
    gracePeriodRatio: ratio,
    requestedLifetimeMs,
    rootCertFile: path.resolve(cwd, flags.rootCert),
    tokenFile: path.resolve(cwd, flags.tokenFile),
    outDir: path.resolve(cwd, flags.out),
  };
}

/** Structured log lines (JSON, one per line) on stderr; with --once only warnings and errors. */
function jsonLog(ctx: CliContext, quiet: boolean): AgentLog {
  return (level, message, fields = {}) => {
    if (quiet && level === 'info') return;
    ctx.stderr.write(`${JSON.stringify({ time: ctx.now().toISOString(), level, msg: message, ...fields })}\n`);
  };
}
