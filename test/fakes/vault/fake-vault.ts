import { randomBytes, type KeyObject } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import {
  encodePrivateKey,
  generatePrivateKey,
  issueCertificate,
  parseCsr,
  verifyCsr,
  type Certificate,
  type SubjectAltNames,
} from '../../../src/pki/index.js';

/*
 * A small fake of HashiCorp Vault's HTTP API (https://developer.hashicorp.com/vault/api-docs),
 * for exactly what meshca's Vault issuer uses: sys/health, auth/token/lookup-self, the approle,
 * kubernetes and cert login endpoints, and the PKI sign endpoints (sign/<role>, sign-verbatim,
 * root/sign-intermediate), which really sign with a CA made by src/pki. Errors follow Vault's
 * `{"errors": [...]}` format. No real Vault can run on this machine; this is not one.
 */

const HOUR = 3_600_000;

/** A CA certificate with its key. */
export interface FakeCa {
  readonly certificate: Certificate;
  readonly key: KeyObject;
}

/** A PKI mount of the fake: the CA it signs with, the chain above it, and its roles. */
export interface FakePkiMount {
  /** The issuing CA. */
  readonly ca: FakeCa;
  /** Certificates above the issuing CA, nearest first (the root last); empty when Vault holds no root. */
  readonly chainAbove: readonly Certificate[];
  /** Role name → its maximum TTL, ms. */
  readonly roles: Readonly<Record<string, { readonly maxTtlMs: number }>>;
}

/** How the fake misbehaves, switchable during a test. */
export type FakeVaultMode =
  | 'up'
  /** Every request answers 500 with an errors array. */
  | 'error500'
  /** sys/health answers 503 sealed, everything else 503 "Vault is sealed". */
  | 'sealed'
  /** Every authenticated request answers 403 permission denied. */
  | 'forbidden'
  /** Answers only after `slowMs`. */
  | 'slow';

/** One request the fake saw. */
export interface FakeVaultRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Record<string, unknown> | undefined;
}

/** Options of the fake. */
export interface FakeVaultOptions {
  /** The fake's clock (token leases, certificate validity). */
  readonly now: () => Date;
  /** Serve TLS with a certificate for 127.0.0.1 and localhost (its CA in `tlsCaPem`). */
  readonly tls?: boolean;
  /** With tls: ask for a client certificate (mTLS and the cert auth method). */
  readonly requestClientCertificate?: boolean;
  /** Requests must carry this X-Vault-Namespace (Vault Enterprise); sys/health is exempt. */
  readonly namespace?: string;
  /** The lease of tokens handed out by logins, seconds (default 3600). */
  readonly tokenTtlSeconds?: number;
  /** Tokens valid from the start (tokenSecretRef), with no expiry. */
  readonly staticTokens?: readonly string[];
  /** AppRole credentials: role_id → secret_id. */
  readonly appRoles?: Readonly<Record<string, string>>;
  /** Kubernetes auth roles: role → the service account `system:serviceaccount:<ns>:<name>` it accepts (any when undefined). */
  readonly kubernetesRoles?: Readonly<Record<string, string | undefined>>;
  /** Cert auth roles: name → fingerprint (SHA-256, hex) of the client certificate it accepts. */
  readonly certRoles?: Readonly<Record<string, string>>;
  /** PKI mounts by mount path (`pki_int`). */
  readonly mounts: Readonly<Record<string, FakePkiMount>>;
  /** Delay of the `slow` mode. */
  readonly slowMs?: number;
}

/** A running fake Vault. */
export interface FakeVault {
  /** `http://127.0.0.1:<port>` or `https://…`. */
  readonly url: string;
  /** PEM of the CA of its serving certificate (with tls). */
  readonly tlsCaPem: string | undefined;
  /** Every request seen, in order. */
  readonly requests: FakeVaultRequest[];
  /** Logins that succeeded, by method. */
  readonly logins: { approle: number; kubernetes: number; cert: number };
  /** Certificates signed. */
  readonly signed: Certificate[];
  mode: FakeVaultMode;
  /** Replaces the answer to a request path when it returns one (hostile answers); undefined restores. */
  override:
    | ((path: string) => { status: number; text: string; headers?: Record<string, string> } | undefined)
    | undefined;
  /** Revokes every token handed out so far (as `vault token revoke` would). */
  revokeAll(): void;
  /** Stops listening: connections are refused, as when Vault is down. */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
  close(): Promise<void>;
}

/** Makes a root and an intermediate for a PKI mount, valid from `now`. */
export function makeFakePki(
  now: Date,
  options: { withRoot?: boolean; roles?: Record<string, { maxTtlMs: number }> } = {},
): FakePkiMount {
  const rootKey = generatePrivateKey();
  const root = issueCertificate(
    {
      publicKey: rootKey,
      subject: { commonName: 'Vault Fake Root' },
      isCA: true,
      lifetimeMs: 10 * 8760 * HOUR,
    },
    { selfSigned: rootKey },
    { now },
  );
  const intKey = generatePrivateKey();
  const intermediate = issueCertificate(
    {
      publicKey: intKey,
      subject: { commonName: 'Vault Fake Intermediate' },
      isCA: true,
      lifetimeMs: 5 * 8760 * HOUR,
    },
    { certificate: root, key: rootKey },
    { now },
  );
  return {
    ca: { certificate: intermediate, key: intKey },
    chainAbove: options.withRoot === false ? [] : [root],
    roles: options.roles ?? { mesh: { maxTtlMs: 8760 * HOUR } },
  };
}

const json = (res: http.ServerResponse, status: number, body: unknown): void => {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
};
const errors = (res: http.ServerResponse, status: number, ...messages: string[]): void =>
  json(res, status, { errors: messages });

/** Vault's TTL forms: a number of seconds, or a Go duration of s/m/h. */
function parseTtl(value: unknown): number | undefined {
  if (typeof value === 'number') return value * 1000;
  if (typeof value !== 'string' || value === '') return undefined;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const m = /^(\d+)(s|m|h)$/.exec(value);
  if (m === null) return Number.NaN;
  return Number(m[1]) * { s: 1000, m: 60_000, h: HOUR }[m[2] as 's' | 'm' | 'h'];
}

const list = (value: unknown): string[] =>
  typeof value === 'string'
    ? value
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '')
    : [];

/** A JWT is three base64url parts whose first two are JSON objects (the fake checks no signature). */
function jwtSubject(jwt: unknown): string | undefined {
  if (typeof jwt !== 'string') return undefined;
  const parts = jwt.split('.');
  if (parts.length !== 3) return undefined;
  try {
    JSON.parse(Buffer.from(parts[0] ?? '', 'base64url').toString('utf8'));
    const payload = JSON.parse(Buffer.from(parts[1] ?? '', 'base64url').toString('utf8')) as {
      sub?: unknown;
    };
    return typeof payload.sub === 'string' ? payload.sub : '';
  } catch {
    return undefined;
  }
}

/** Starts the fake on 127.0.0.1 and an ephemeral port. */
export async function startFakeVault(options: FakeVaultOptions): Promise<FakeVault> {
  const tokenTtl = options.tokenTtlSeconds ?? 3600;
  // token → when it stops working (undefined: never).
  const tokens = new Map<string, Date | undefined>((options.staticTokens ?? []).map((t) => [t, undefined]));
  const sockets = new Set<Socket>();
  let tlsCaPem: string | undefined;
  let tlsOptions: https.ServerOptions | undefined;
  if (options.tls === true) {
    const realNow = new Date();
    const caKey = generatePrivateKey();
    const ca = issueCertificate(
      { publicKey: caKey, subject: { commonName: 'fake vault TLS CA' }, isCA: true, lifetimeMs: 48 * HOUR },
      { selfSigned: caKey },
      { now: realNow, backdateMs: HOUR },
    );
    const serverKey = generatePrivateKey();
    const serverCert = issueCertificate(
      {
        publicKey: serverKey,
        subject: { commonName: 'vault.test' },
        sans: { dnsNames: ['localhost', 'vault.test'], ipAddresses: ['127.0.0.1'] },
        extKeyUsages: ['serverAuth'],
        lifetimeMs: 24 * HOUR,
      },
      { certificate: ca, key: caKey },
      { now: realNow, backdateMs: HOUR },
    );
    tlsCaPem = ca.pem;
    tlsOptions = {
      key: encodePrivateKey(serverKey, 'PKCS8'),
      cert: serverCert.pem,
      requestCert: options.requestClientCertificate === true,
      rejectUnauthorized: false,
    };
  }

  const fake: FakeVault = {
    url: '',
    tlsCaPem,
    requests: [],
    logins: { approle: 0, kubernetes: 0, cert: 0 },
    signed: [],
    mode: 'up',
    override: undefined,
    revokeAll: () => tokens.forEach((_, t) => tokens.set(t, new Date(0))),
    stop: async () => {},
    start: async () => {},
    close: async () => {},
  };

  const newToken = (): { client_token: string; lease_duration: number; renewable: boolean } => {
    const token = `hvs.${randomBytes(18).toString('base64url')}`;
    tokens.set(token, new Date(options.now().getTime() + tokenTtl * 1000));
    return { client_token: token, lease_duration: tokenTtl, renewable: true };
  };

  const authorized = (req: http.IncomingMessage): boolean => {
    const token = req.headers['x-vault-token'];
    if (typeof token !== 'string' || !tokens.has(token)) return false;
    const until = tokens.get(token);
    return until === undefined || options.now().getTime() < until.getTime();
  };

  const sign = (res: http.ServerResponse, path: string, body: Record<string, unknown>): void => {
    const m = /^(.+?)\/(?:sign\/([^/]+)|sign-verbatim(?:\/([^/]+))?|(root\/sign-intermediate))$/.exec(path);
    const mount = m === null ? undefined : options.mounts[m[1] ?? ''];
    if (m === null || mount === undefined) {
      errors(res, 404, `no handler for route "${path}". route entry not found.`);
      return;
    }
    const roleName = m[2] ?? m[3];
    const role = roleName === undefined ? undefined : mount.roles[roleName];
    if (roleName !== undefined && role === undefined) {
      errors(res, 400, `unknown role: ${roleName}`);
      return;
    }
    if (typeof body['csr'] !== 'string') {
      errors(res, 400, 'missing csr');
      return;
    }
    let csr;
    try {
      csr = parseCsr(body['csr']);
      verifyCsr(csr);
    } catch (err) {
      errors(res, 400, `certificate request could not be parsed: ${(err as Error).message}`);
      return;
    }
    const ttl = parseTtl(body['ttl']);
    if (ttl !== undefined && !(ttl > 0)) {
      errors(res, 400, `invalid ttl: ${JSON.stringify(body['ttl'])}`);
      return;
    }
    const maxTtl = role?.maxTtlMs ?? 8760 * HOUR;
    const lifetimeMs = Math.min(ttl ?? maxTtl, maxTtl);
    const intermediate = m[4] !== undefined;
    const verbatim = path.includes('/sign-verbatim');
    let sans: Partial<SubjectAltNames>;
    let commonName: string | undefined;
    if (verbatim) {
      sans = csr.sans;
      commonName = csr.subject.commonName;
    } else {
      commonName =
        typeof body['common_name'] === 'string' && body['common_name'] !== ''
          ? body['common_name']
          : undefined;
      const alt = list(body['alt_names']);
      const dnsNames = alt.filter((n) => !n.includes('@'));
      if (commonName !== undefined && body['exclude_cn_from_sans'] !== true && !commonName.includes('@')) {
        dnsNames.unshift(commonName);
      }
      sans = {
        dnsNames,
        emailAddresses: alt.filter((n) => n.includes('@')),
        ipAddresses: list(body['ip_sans']),
        uris: list(body['uri_sans']),
      };
      if (!intermediate && commonName === undefined && Object.values(sans).every((v) => v.length === 0)) {
        errors(
          res,
          400,
          'the common_name field is required, or must be provided in a CSR with "use_csr_common_name" set to true',
        );
        return;
      }
    }
    const pathLen =
      typeof body['max_path_length'] === 'number' && body['max_path_length'] >= 0
        ? body['max_path_length']
        : undefined;
    const certificate = issueCertificate(
      {
        publicKey: csr.publicKey,
        ...(commonName !== undefined && { subject: { commonName } }),
        sans,
        isCA: intermediate,
        ...(intermediate && pathLen !== undefined && { pathLen }),
        ...(!intermediate && { extKeyUsages: ['serverAuth', 'clientAuth'] }),
        lifetimeMs,
      },
      mount.ca,
      { now: options.now() },
    );
    fake.signed.push(certificate);
    const chain = [mount.ca.certificate, ...mount.chainAbove];
    json(res, 200, {
      request_id: randomBytes(8).toString('hex'),
      lease_id: '',
      renewable: false,
      lease_duration: 0,
      data: {
        certificate: certificate.pem.trim(),
        issuing_ca: mount.ca.certificate.pem.trim(),
        ca_chain: chain.map((c) => c.pem.trim()),
        serial_number: certificate.serialNumber.match(/../g)?.join(':') ?? '',
        expiration: Math.floor(certificate.notAfter.getTime() / 1000),
      },
      warnings: null,
      auth: null,
    });
  };

  const handle = (req: http.IncomingMessage, res: http.ServerResponse, raw: string): void => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const path = url.pathname;
    let body: Record<string, unknown> | undefined;
    if (raw !== '') {
      try {
        body = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        errors(res, 400, 'failed to parse JSON input');
        return;
      }
    }
    fake.requests.push({ method: req.method ?? '', path, headers: req.headers, body });
    const hostile = fake.override?.(path);
    if (hostile !== undefined) {
      res.writeHead(hostile.status, { 'content-type': 'application/json', ...hostile.headers });
      res.end(hostile.text);
      return;
    }
    if (fake.mode === 'error500') {
      errors(res, 500, 'internal error');
      return;
    }
    if (path === '/v1/sys/health') {
      if (fake.mode === 'sealed') json(res, 503, { initialized: true, sealed: true, standby: true });
      else json(res, 200, { initialized: true, sealed: false, standby: false, version: '1.15.0-fake' });
      return;
    }
    if (fake.mode === 'sealed') {
      errors(res, 503, 'Vault is sealed');
      return;
    }
    if (options.namespace !== undefined && req.headers['x-vault-namespace'] !== options.namespace) {
      errors(res, 403, 'permission denied');
      return;
    }
    if (!path.startsWith('/v1/')) {
      errors(res, 404, 'not found');
      return;
    }
    const route = path.slice('/v1/'.length);
    if (req.method === 'POST' && route === 'auth/approle/login') {
      const roleId = body?.['role_id'];
      if (typeof roleId !== 'string' || options.appRoles?.[roleId] === undefined) {
        errors(res, 400, 'invalid role ID');
        return;
      }
      if (body?.['secret_id'] !== options.appRoles[roleId]) {
        errors(res, 400, 'invalid secret id');
        return;
      }
      fake.logins.approle++;
      json(res, 200, { auth: { ...newToken(), policies: ['pki'] } });
      return;
    }
    if (req.method === 'POST' && route === 'auth/kubernetes/login') {
      const role = body?.['role'];
      if (
        typeof role !== 'string' ||
        options.kubernetesRoles === undefined ||
        !(role in options.kubernetesRoles)
      ) {
        errors(res, 400, `invalid role name "${String(role)}"`);
        return;
      }
      const subject = jwtSubject(body?.['jwt']);
      if (subject === undefined) {
        errors(res, 400, 'not a compact JWS');
        return;
      }
      const wanted = options.kubernetesRoles[role];
      if (wanted !== undefined && subject !== wanted) {
        errors(res, 403, 'permission denied');
        return;
      }
      fake.logins.kubernetes++;
      json(res, 200, { auth: { ...newToken(), policies: ['pki'] } });
      return;
    }
    if (req.method === 'POST' && route === 'auth/cert/login') {
      const peer = (req.socket as TLSSocket).getPeerCertificate?.();
      const fingerprint = peer?.fingerprint256?.replace(/:/g, '').toLowerCase();
      const name = body?.['name'];
      const accepted = Object.entries(options.certRoles ?? {}).filter(
        ([n, fp]) => fp === fingerprint && (typeof name !== 'string' || name === '' || name === n),
      );
      if (fingerprint === undefined || accepted.length === 0) {
        errors(res, 400, 'invalid certificate or no client certificate supplied');
        return;
      }
      fake.logins.cert++;
      json(res, 200, { auth: { ...newToken(), policies: ['pki'] } });
      return;
    }
    if (!authorized(req) || fake.mode === 'forbidden') {
      errors(res, 403, 'permission denied');
      return;
    }
    if (req.method === 'GET' && route === 'auth/token/lookup-self') {
      json(res, 200, { data: { id: req.headers['x-vault-token'], ttl: 0, policies: ['pki'] } });
      return;
    }
    if (req.method === 'POST') {
      sign(res, route, body ?? {});
      return;
    }
    errors(res, 405, 'unsupported operation');
  };

  const listener = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const go = (): void => handle(req, res, Buffer.concat(chunks).toString('utf8'));
      if (fake.mode === 'slow') setTimeout(go, options.slowMs ?? 2000);
      else go();
    });
  };
  const server =
    tlsOptions === undefined ? http.createServer(listener) : https.createServer(tlsOptions, listener);
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  let port = 0;
  const listen = (): Promise<void> =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        port = (server.address() as AddressInfo).port;
        resolve();
      });
    });
  const stop = (): Promise<void> =>
    new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      if (!server.listening) resolve();
      else server.close(() => resolve());
    });
  await listen();
  Object.assign(fake, {
    url: `${tlsOptions === undefined ? 'http' : 'https'}://127.0.0.1:${port}`,
    stop,
    start: listen,
    close: stop,
  });
  return fake;
}
