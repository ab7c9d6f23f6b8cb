import { availableParallelism } from 'node:os';
import { parse as parseYaml } from 'yaml';
import { parseGoDuration } from '../../api/go-duration.js';
import { suggestName } from '../../api/suggest.js';
import { checkDns1123Label, checkDnsName, checkIpAddress } from '../../api/value-rules.js';
import { MeshcaError } from '../../errors/index.js';
import { parseSpiffeId } from '../../pki/index.js';
import { readFileLimited } from '../read-limited.js';
import { usageError } from '../usage-error.js';

/** Everything `meshca serve` runs with, after flags and the config file are merged and checked. */
export interface ServeOptions {
  home: string;
  grpcHost: string;
  grpcPort: number;
  httpHost: string;
  httpPort: number;
  trustDomain: string;
  clusterId: string;
  maxCertificateDurationMs: number;
  issuerName: string;
  issuerKind: 'Issuer' | 'ClusterIssuer';
  certificateNamespace: string;
  clusterResourceNamespace: string;
  servingCertificateDnsNames: string[];
  servingCertificateIpAddresses: string[];
  servingCertificateDurationMs: number;
  jwksFile?: string;
  jwksUrl?: string;
  tokenIssuers: string[];
  tokenAudiences: string[];
  clientCertificateAuth: boolean;
  /** CSRs per second per identity; 0 turns the limit off. */
  rateLimit: number;
  rateLimitBurst: number;
  auditRetentionMs: number;
  /** Worker threads that parse, verify and sign CSRs; 0 signs on the main thread. */
  signingWorkers: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** Run the certificate lifecycle controllers (under leader election). */
  controller: boolean;
  /** The built-in approver leaves CertificateRequests for `meshca approve`/`deny`. */
  disableAutoApproval: boolean;
  /** Base of the failed-issuance backoff (1h × 2^(n−1), at most 32h). */
  issuanceBackoffBaseMs: number;
  /** How long the controller lease lasts unrenewed; the leader renews at a third of it. */
  leaderElectionLeaseDurationMs: number;
  /** Where meshca answers ACME HTTP-01 challenges itself (`host:port`); '' turns the listener off. */
  acmeHttp01Address: string;
}

/** The raw settings: every key both a flag (kebab-case) and a config-file key (camelCase). */
export const SERVE_SETTINGS = {
  grpcAddress: { flag: 'grpc-address', default: '0.0.0.0:6443', help: 'address of the Istio CA gRPC API' },
  httpAddress: { flag: 'http-address', default: '0.0.0.0:9402', help: 'address of metrics, health and the trust bundle' },
  trustDomain: { flag: 'trust-domain', default: 'cluster.local', help: 'SPIFFE trust domain of the workloads' },
  clusterId: { flag: 'cluster-id', default: 'Kubernetes', help: 'this cluster\'s ID; a clusterid header must match it' },
  maxCertificateDuration: { flag: 'max-certificate-duration', default: '24h', help: 'longest workload certificate lifetime' },
  issuerName: { flag: 'issuer-name', default: 'istio-ca-issuer', help: 'issuer that signs workload CSRs' },
  issuerKind: { flag: 'issuer-kind', default: 'Issuer', help: 'Issuer or ClusterIssuer' },
  certificateNamespace: { flag: 'certificate-namespace', default: 'istio-system', help: 'namespace of the Issuer and of the audit log' },
  clusterResourceNamespace: { flag: 'cluster-resource-namespace', default: 'cert-manager', help: 'where ClusterIssuers\' Secrets live' },
  servingCertificateDnsNames: { flag: 'serving-certificate-dns-names', default: 'meshca.istio-system.svc,localhost', help: 'DNS names of the gRPC serving certificate (comma-separated)' },
  servingCertificateIpAddresses: { flag: 'serving-certificate-ip-addresses', default: '127.0.0.1', help: 'IP addresses of the gRPC serving certificate (comma-separated)' },
  servingCertificateDuration: { flag: 'serving-certificate-duration', default: '1h', help: 'lifetime of the serving certificate (renewed at 2/3)' },
  jwksFile: { flag: 'jwks-file', default: undefined, help: 'JWKS of an external token issuer (a cluster\'s service-account issuer)' },
  jwksUrl: { flag: 'jwks-url', default: undefined, help: 'URL of an external token issuer\'s JWKS' },
  tokenIssuers: { flag: 'token-issuers', default: '', help: 'accepted iss of external tokens (comma-separated); meshca\'s own is always accepted' },
  tokenAudiences: { flag: 'token-audiences', default: 'istio-ca', help: 'accepted token audiences (comma-separated)' },
  clientCertificateAuth: { flag: 'client-certificate-auth', default: 'true', help: 'accept meshca-issued client certificates for renewals (true|false)' },
  rateLimit: { flag: 'rate-limit', default: '50', help: 'CSRs per second per identity (0 = no limit)' },
  rateLimitBurst: { flag: 'rate-limit-burst', default: '500', help: 'burst of CSRs per identity' },
  auditRetention: { flag: 'audit-retention', default: '2160h', help: 'how long audit records are kept (0s keeps all)' },
  signingWorkers: { flag: 'signing-workers', default: 'auto', help: 'worker threads that verify and sign CSRs: a number, 0 (sign on the main thread) or auto (one per core beyond the first, at least 1)' },
  logLevel: { flag: 'log-level', default: 'info', help: 'debug, info, warn or error' },
  controller: { flag: 'controller', default: 'true', help: 'run the certificate controllers, leader-elected among replicas on one store (true|false)', boolean: true },
  disableAutoApproval: { flag: 'disable-auto-approval', default: 'false', help: 'leave CertificateRequests to meshca approve/deny instead of the built-in approver (true|false)', boolean: true },
  issuanceBackoffBase: { flag: 'issuance-backoff-base', default: '1h', help: 'first wait after a failed issuance; doubles per failure, at most 32h' },
  acmeHttp01Address: { flag: 'acme-http01-address', default: '0.0.0.0:8089', help: 'address where meshca answers ACME HTTP-01 challenges (cert-manager\'s solver port); empty turns it off' },
  leaderElectionLeaseDuration: { flag: 'leader-election-lease-duration', default: '15s', help: 'how long the controller lease lasts unrenewed: how soon a replica takes over from a dead leader' },
} as const satisfies Record<string, { flag: string; default: string | undefined; help: string; boolean?: true }>;

/** A setting's key. */
export type ServeSetting = keyof typeof SERVE_SETTINGS;

const MAX_CONFIG_BYTES = 256 * 1024;

/** Reads a YAML config file of serve settings; unknown keys are errors naming the key meant. */
export function readServeConfigFile(file: string, cwd: string): Partial<Record<ServeSetting, string>> {
  const text = readFileLimited(file, {
    cwd,
    limit: MAX_CONFIG_BYTES,
    label: `config file ${file}`,
    notFileHint: 'give --config the name of a YAML file',
  });
  let doc: unknown;
  try {
    doc = parseYaml(text, { maxAliasCount: 10, uniqueKeys: true });
  } catch (err) {
    throw new MeshcaError('INVALID_INPUT', `config file ${file} is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new MeshcaError('INVALID_INPUT', `config file ${file} must be a mapping of settings, like "trustDomain: example.org"`);
  }
  const out: Partial<Record<ServeSetting, string>> = {};
  const errors: string[] = [];
  for (const [key, value] of Object.entries(doc as Record<string, unknown>)) {
    if (!Object.hasOwn(SERVE_SETTINGS, key)) {
      const close = suggestName(key, Object.keys(SERVE_SETTINGS));
      errors.push(`${file}: ${key}: unknown setting${close === undefined ? '' : `; did you mean "${close}"?`}`);
      continue;
    }
    if (Array.isArray(value) && value.every((v) => typeof v === 'string')) out[key as ServeSetting] = value.join(',');
    else if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') out[key as ServeSetting] = String(value);
    else errors.push(`${file}: ${key}: must be a string, number, boolean or list of strings`);
  }
  if (errors.length > 0) {
    throw new MeshcaError('INVALID_INPUT', `config file ${file} has ${errors.length} error(s)`, { details: errors });
  }
  return out;
}

function parseAddress(setting: string, value: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]*):(\d{1,5})$/.exec(value);
  const port = m === null ? NaN : Number(m[2]);
  if (m === null || !(port >= 0 && port <= 65535)) {
    throw usageError(`--${setting}: ${JSON.stringify(value)} is not HOST:PORT`, 'for example 0.0.0.0:6443 or [::]:6443');
  }
  const host = (m[1] ?? '').replace(/^\[|\]$/g, '');
  return { host: host === '' ? '0.0.0.0' : host, port };
}

function list(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function duration(setting: string, value: string, allowZero = false): number {
  let ms: number;
  try {
    ms = parseGoDuration(value);
  } catch (err) {
    throw usageError(`--${setting}: ${(err as Error).message}`, 'write a Go duration such as "24h" or "90m"');
  }
  if (ms === 0 && !allowZero) throw usageError(`--${setting} must be longer than zero`);
  return ms;
}

function count(setting: string, value: string, min: number): number {
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || !(n >= min)) throw usageError(`--${setting}: ${JSON.stringify(value)} is not a number ≥ ${min}`);
  return n;
}

/** At most this many signing workers: more threads than cores only add memory. */
const MAX_SIGNING_WORKERS = 64;

function signingWorkers(value: string): number {
  // auto: the main thread keeps one core for HTTP/2, each other core gets a worker.
  if (value === 'auto') return Math.max(1, availableParallelism() - 1);
  if (!/^\d+$/.test(value) || Number(value) > MAX_SIGNING_WORKERS) {
    throw usageError(`--signing-workers: ${JSON.stringify(value)} is not auto or a whole number from 0 to ${MAX_SIGNING_WORKERS}`);
  }
  return Number(value);
}

function leaseDuration(value: string): number {
  const ms = duration('leader-election-lease-duration', value);
  if (ms < 1000 || ms > 3_600_000) throw usageError(`--leader-election-lease-duration: ${JSON.stringify(value)} is not between 1s and 1h`);
  return ms;
}

/** Checks and types the merged settings; every bad value is a usage error naming the flag. */
export function resolveServeOptions(raw: Record<ServeSetting, string | undefined>, home: string): ServeOptions {
  const get = (k: ServeSetting): string => raw[k] ?? SERVE_SETTINGS[k].default ?? '';
  const grpc = parseAddress('grpc-address', get('grpcAddress'));
  const http = parseAddress('http-address', get('httpAddress'));
  const acmeHttp01 = get('acmeHttp01Address') === '' ? undefined : parseAddress('acme-http01-address', get('acmeHttp01Address'));
  const trustDomain = get('trustDomain');
  try {
    parseSpiffeId(`spiffe://${trustDomain}`);
  } catch (err) {
    throw usageError(`--trust-domain: ${(err as Error).message}`);
  }
  const issuerKind = get('issuerKind');
  if (issuerKind !== 'Issuer' && issuerKind !== 'ClusterIssuer') {
    throw usageError(`--issuer-kind: ${JSON.stringify(issuerKind)} is neither Issuer nor ClusterIssuer`);
  }
  for (const k of ['certificateNamespace', 'clusterResourceNamespace'] as const) {
    const problem = checkDns1123Label(get(k));
    if (problem !== undefined) throw usageError(`--${SERVE_SETTINGS[k].flag}: ${problem}`);
  }
  const dnsNames = list(get('servingCertificateDnsNames'));
  for (const name of dnsNames) {
    const problem = checkDnsName(name);
    if (problem !== undefined) throw usageError(`--serving-certificate-dns-names: ${JSON.stringify(name)}: ${problem}`);
  }
  const ips = list(get('servingCertificateIpAddresses'));
  for (const ip of ips) {
    const problem = checkIpAddress(ip);
    if (problem !== undefined) throw usageError(`--serving-certificate-ip-addresses: ${JSON.stringify(ip)}: ${problem}`);
  }
  if (dnsNames.length === 0 && ips.length === 0) throw usageError('the serving certificate needs at least one DNS name or IP address');
  const clientAuth = get('clientCertificateAuth');
  if (clientAuth !== 'true' && clientAuth !== 'false') throw usageError(`--client-certificate-auth: ${JSON.stringify(clientAuth)} is neither true nor false`);
  const bool = (k: 'controller' | 'disableAutoApproval'): boolean => {
    const v = get(k);
    if (v !== 'true' && v !== 'false') throw usageError(`--${SERVE_SETTINGS[k].flag}: ${JSON.stringify(v)} is neither true nor false`);
    return v === 'true';
  };
  const logLevel = get('logLevel');
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel)) throw usageError(`--log-level: ${JSON.stringify(logLevel)} is not debug, info, warn or error`);
  const jwksFile = raw.jwksFile;
  const jwksUrl = raw.jwksUrl;
  if (jwksFile !== undefined && jwksUrl !== undefined) throw usageError('give --jwks-file or --jwks-url, not both');
  const tokenIssuers = list(get('tokenIssuers'));
  if ((jwksFile !== undefined || jwksUrl !== undefined) && tokenIssuers.length === 0) {
    throw usageError('an external JWKS needs --token-issuers: the iss its tokens carry', 'for a cluster, the service-account issuer, e.g. https://kubernetes.default.svc.cluster.local');
  }
  const audiences = list(get('tokenAudiences'));
  if (audiences.length === 0) throw usageError('--token-audiences needs at least one audience');
  return {
    home,
    grpcHost: grpc.host,
    grpcPort: grpc.port,
    httpHost: http.host,
    httpPort: http.port,
    trustDomain,
    clusterId: get('clusterId'),
    maxCertificateDurationMs: duration('max-certificate-duration', get('maxCertificateDuration')),
    issuerName: get('issuerName'),
    issuerKind,
    certificateNamespace: get('certificateNamespace'),
    clusterResourceNamespace: get('clusterResourceNamespace'),
    servingCertificateDnsNames: dnsNames,
    servingCertificateIpAddresses: ips,
    servingCertificateDurationMs: duration('serving-certificate-duration', get('servingCertificateDuration')),
    ...(jwksFile !== undefined && { jwksFile }),
    ...(jwksUrl !== undefined && { jwksUrl }),
    tokenIssuers,
    tokenAudiences: audiences,
    clientCertificateAuth: clientAuth === 'true',
    rateLimit: count('rate-limit', get('rateLimit'), 0),
    rateLimitBurst: count('rate-limit-burst', get('rateLimitBurst'), 1),
    auditRetentionMs: duration('audit-retention', get('auditRetention'), true),
    signingWorkers: signingWorkers(get('signingWorkers')),
    logLevel: logLevel as ServeOptions['logLevel'],
    controller: bool('controller'),
    disableAutoApproval: bool('disableAutoApproval'),
    issuanceBackoffBaseMs: duration('issuance-backoff-base', get('issuanceBackoffBase')),
    leaderElectionLeaseDurationMs: leaseDuration(get('leaderElectionLeaseDuration')),
    acmeHttp01Address: acmeHttp01 === undefined ? '' : `${acmeHttp01.host.includes(':') ? `[${acmeHttp01.host}]` : acmeHttp01.host}:${acmeHttp01.port}`,
  };
}
