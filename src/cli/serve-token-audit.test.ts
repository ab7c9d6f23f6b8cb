import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readServeConfigFile, resolveServeOptions, SERVE_SETTINGS, type ServeSetting } from './commands/serve-options.js';
import { CliHarness } from './testing/cli-harness.js';

let cli: CliHarness;
beforeEach(() => {
  cli = new CliHarness();
});
afterEach(() => cli.cleanup());

const none = (): Record<ServeSetting, string | undefined> =>
  Object.fromEntries(Object.keys(SERVE_SETTINGS).map((k) => [k, undefined])) as Record<ServeSetting, string | undefined>;

describe('meshca serve settings', () => {
  it('defaults to the values the issue names', () => {
    const o = resolveServeOptions(none(), '/home');
    expect(o).toMatchObject({
      grpcHost: '0.0.0.0',
      grpcPort: 6443,
      httpHost: '0.0.0.0',
      httpPort: 9402,
      trustDomain: 'cluster.local',
      clusterId: 'Kubernetes',
      maxCertificateDurationMs: 24 * 3_600_000,
      issuerName: 'istio-ca-issuer',
      issuerKind: 'Issuer',
      certificateNamespace: 'istio-system',
      servingCertificateDurationMs: 3_600_000,
      tokenAudiences: ['istio-ca'],
    });
  });

  it.each<[Partial<Record<ServeSetting, string>>, string]>([
    [{ grpcAddress: '6443' }, '--grpc-address: "6443" is not HOST:PORT'],
    [{ httpAddress: 'localhost:99999' }, '--http-address: "localhost:99999" is not HOST:PORT'],
    [{ trustDomain: 'Bad_Domain!' }, '--trust-domain:'],
    [{ issuerKind: 'Vault' }, '--issuer-kind: "Vault" is neither Issuer nor ClusterIssuer'],
    [{ maxCertificateDuration: '1d' }, '--max-certificate-duration: invalid duration "1d"'],
    [{ certificateNamespace: 'Istio_System' }, '--certificate-namespace:'],
    [{ servingCertificateDnsNames: 'ok.example,bad name' }, '--serving-certificate-dns-names: "bad name"'],
    [{ servingCertificateIpAddresses: '300.1.1.1' }, '--serving-certificate-ip-addresses: "300.1.1.1"'],
    [{ clientCertificateAuth: 'yes' }, '--client-certificate-auth: "yes" is neither true nor false'],
    [{ rateLimit: '-1' }, '--rate-limit: "-1" is not a number'],
    [{ jwksFile: 'a.json', jwksUrl: 'https://x' }, 'give --jwks-file or --jwks-url, not both'],
    [{ jwksFile: 'a.json' }, 'an external JWKS needs --token-issuers'],
    [{ logLevel: 'loud' }, '--log-level: "loud"'],
  ])('refuses %j with a usage error naming the flag', (raw, message) => {
    expect(() => resolveServeOptions({ ...none(), ...raw }, '/home')).toThrow(message);
    try {
      resolveServeOptions({ ...none(), ...raw }, '/home');
    } catch (err) {
      expect((err as { code: string }).code).toBe('USAGE');
    }
  });

  it('reads a config file with camelCase keys and lists', () => {
    writeFileSync(path.join(cli.dir, 'c.yaml'), 'trustDomain: example.org\nrateLimit: 5\nservingCertificateDnsNames: [a.example, b.example]\n');
    expect(readServeConfigFile('c.yaml', cli.dir)).toEqual({ trustDomain: 'example.org', rateLimit: '5', servingCertificateDnsNames: 'a.example,b.example' });
  });

  it.each([
    ['trustDomian: x\n', 'trustDomian: unknown setting; did you mean "trustDomain"?'],
    ['- a\n- b\n', 'must be a mapping of settings'],
    ['trustDomain: [a: {b: c}]\n', 'must be a string, number, boolean or list of strings'],
    ['a: &x [1]\nb: *x\nc: : :\n', 'is not valid YAML'],
  ])('refuses the config file %j precisely', (text, message) => {
    writeFileSync(path.join(cli.dir, 'c.yaml'), text);
    let caught: unknown;
    try {
      readServeConfigFile('c.yaml', cli.dir);
    } catch (err) {
      caught = err;
    }
    const e = caught as { message: string; details: string[] };
    expect([e.message, ...e.details].join('\n')).toContain(message);
  });

  it('refuses an oversized config file', () => {
    writeFileSync(path.join(cli.dir, 'c.yaml'), `trustDomain: ${'a'.repeat(300 * 1024)}\n`);
    expect(() => readServeConfigFile('c.yaml', cli.dir)).toThrow(/the limit is 262144/);
  });

  it('lets a flag override the config file, through the command line', async () => {
    writeFileSync(path.join(cli.dir, 'c.yaml'), 'trustDomain: from-file.org\nclusterId: east\n');
    let seen: unknown;
    const run = await cli.runWith({ runServer: (o) => ((seen = o), Promise.resolve()) }, 'serve', '--config', 'c.yaml', '--trust-domain', 'from-flag.org');
    expect(run.stderr).toBe('');
    expect(seen).toMatchObject({ trustDomain: 'from-flag.org', clusterId: 'east', home: cli.home });
  });

  it('exits 2 for a bad flag value and never starts', async () => {
    let started = false;
    const run = await cli.runWith({ runServer: () => ((started = true), Promise.resolve()) }, 'serve', '--grpc-address', 'nope');
    expect(run.code).toBe(2);
    expect(started).toBe(false);
  });
});

describe('meshca token create', () => {
  it('prints a JWT shaped like a projected service-account token, signed by a key meshca keeps', async () => {
    await cli.createHome();
    const run = await cli.run('token', 'create', '--namespace', 'default', '--service-account', 'web', '--ttl', '2h');
    expect(run.code).toBe(0);
    const jwt = run.stdout.trim();
    const claims = decodeJwt(jwt);
    expect(claims).toMatchObject({
      iss: 'meshca',
      sub: 'system:serviceaccount:default:web',
      aud: ['istio-ca'],
      'kubernetes.io': { namespace: 'default', serviceaccount: { name: 'web' } },
    });
    expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBe(7200);
    expect(decodeProtectedHeader(jwt).alg).toBe('ES256');
    // The same key signs the next token.
    const again = await cli.run('token', 'create', '--namespace', 'default', '--service-account', 'db');
    expect(decodeProtectedHeader(again.stdout.trim()).kid).toBe(decodeProtectedHeader(jwt).kid);
  });

  it.each([
    [['token', 'create', '--service-account', 'web'], 2, "required option '--namespace <ns>' not specified"],
    [['token', 'create', '--namespace', 'Bad_NS', '--service-account', 'web'], 1, 'cannot mint a token'],
    [['token', 'create', '--namespace', 'a', '--service-account', 'b', '--ttl', '10y'], 2, '--ttl: invalid duration'],
    [['token', 'create', '--namespace', 'a', '--service-account', 'b', '--ttl', '9000h'], 2, '--ttl is over a year'],
  ])('refuses %j', async (args, code, message) => {
    await cli.createHome();
    const run = await cli.run(...args);
    expect(run.code).toBe(code);
    expect(run.stderr).toContain(message);
  });
});

describe('meshca audit', () => {
  it('lists records newest first, filtered by identity and time', async () => {
    const store = await cli.openStore();
    const rec = (serial: string, identity: string, issuedAt: string) => ({
      serialNumber: serial,
      identity,
      caller: 'jwt:x@127.0.0.1:1',
      clusterId: 'Kubernetes',
      notBefore: issuedAt,
      notAfter: issuedAt,
      fingerprintSha256: serial.padStart(64, '0'),
      issuer: 'Issuer/istio-system/istio-ca-issuer',
      issuedAt,
    });
    await store.appendAudit([
      rec('a1', 'spiffe://cluster.local/ns/default/sa/web', '2026-11-22T10:00:00Z'),
      rec('a2', 'spiffe://cluster.local/ns/default/sa/db', '2026-11-22T11:00:00Z'),
      rec('a3', 'spiffe://cluster.local/ns/default/sa/web', '2026-11-22T11:30:00Z'),
    ]);
    await store.close();
    const all = await cli.run('audit');
    expect(all.stdout.split('\n').slice(1, 4).map((l) => l.split(/\s+/)[2])).toEqual(['a3', 'a2', 'a1']);
    const web = await cli.run('audit', '--identity', 'spiffe://cluster.local/ns/default/sa/web', '-o', 'json');
    expect((JSON.parse(web.stdout) as { serialNumber: string }[]).map((r) => r.serialNumber)).toEqual(['a3', 'a1']);
    const recent = await cli.run('audit', '--since', '1h', '-o', 'json');
    expect((JSON.parse(recent.stdout) as { serialNumber: string }[]).map((r) => r.serialNumber)).toEqual(['a3', 'a2']);
  });

  it.each([
    [['audit', '--since', 'yesterday'], '--since: "yesterday" is neither an RFC 3339 time nor a duration'],
    [['audit', '--limit', '0'], '--limit: "0" is not a whole number from 1 to 10000'],
  ])('exits 2 for %j', async (args, message) => {
    const run = await cli.run(...args);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
  });
});
