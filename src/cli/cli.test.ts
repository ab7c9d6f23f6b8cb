import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CliHarness } from './testing/cli-harness.js';

let cli: CliHarness;
beforeEach(() => {
  cli = new CliHarness();
});
afterEach(() => cli.cleanup());

describe('a --home that holds no meshca store', () => {
  it.each([
    [['get', 'certificates']],
    [['describe', 'certificate', 'web']],
    [['status', 'certificate', 'web']],
    [['inspect', 'secret/web-tls']],
    [['audit']],
    [['renew', 'web']],
    [['approve', 'web-1']],
    [['delete', 'issuer', 'ca', '--ignore-not-found']],
    [['token', 'create', '--namespace', 'a', '--service-account', 'b']],
  ])('%j exits 1 naming the folder, and leaves no folder behind', async (args) => {
    const typo = path.join(cli.dir, 'hom');
    const run = await cli.run('--home', typo, ...args);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`error: ${typo} is not a meshca home: it has no store.db`);
    expect(run.stderr).toContain('hint: run `meshca init` to make one there, or point --home (or MESHCA_HOME) at the home you meant');
    expect(run.stdout).toBe('');
    expect(existsSync(typo)).toBe(false);
  });

  it('is made by init and by apply, which start homes', async () => {
    const viaApply = path.join(cli.dir, 'via-apply');
    writeFileSync(
      path.join(cli.dir, 'i.yaml'),
      'apiVersion: cert-manager.io/v1\nkind: Issuer\nmetadata:\n  name: a\nspec:\n  selfSigned: {}\n',
    );
    expect((await cli.run('--home', viaApply, 'apply', '-f', 'i.yaml')).code).toBe(0);
    expect((await cli.run('--home', viaApply, 'get', 'issuer', 'a')).code).toBe(0);
    const viaInit = path.join(cli.dir, 'via-init');
    expect((await cli.run('--home', viaInit, 'init')).code).toBe(0);
    expect((await cli.run('--home', viaInit, 'get', 'certificates', '-n', 'istio-system')).code).toBe(0);
  });
});

describe('meshca init', () => {
  it('creates the root, the intermediate istio-ca and the issuers of DESIGN §1 in istio-system', async () => {
    const run = await cli.run('init');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('created the CA hierarchy in namespace istio-system');
    for (const line of [
      'Issuer istio-system/meshca-selfsigned',
      'Certificate istio-system/istio-root-ca',
      'Secret istio-system/istio-root-ca',
      'Issuer istio-system/istio-intermediate-ca',
      'Certificate istio-system/istio-ca',
      'Secret istio-system/istio-ca',
      'Issuer istio-system/istio-ca-issuer',
    ]) {
      expect(run.stdout).toContain(line);
    }
    const get = await cli.run('get', 'issuers');
    expect(get.stdout).toMatch(/istio-ca-issuer\s+ca/);
    expect(get.stdout).toMatch(/istio-intermediate-ca\s+ca/);
    expect(get.stdout).toMatch(/meshca-selfsigned\s+selfSigned/);
  });

  it('changes nothing on a second run and says so', async () => {
    expect((await cli.run('init')).code).toBe(0);
    const before = await cli.run('get', 'secret', 'istio-ca', '-o', 'json');
    const again = await cli.run('init');
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('already initialized');
    expect(again.stdout).toContain('nothing changed');
    const after = await cli.run('get', 'secret', 'istio-ca', '-o', 'json');
    expect(after.stdout).toBe(before.stdout);
  });

  it('makes a 720h intermediate under a 30-year root, with the names and trust domain asked for', async () => {
    const run = await cli.run('init', '-n', 'mesh', '--trust-domain', 'example.org', '--root-cn', 'Example Root');
    expect(run.code).toBe(0);
    const inspect = await cli.run('inspect', 'secret/istio-ca', '-n', 'mesh');
    expect(inspect.code).toBe(0);
    expect(inspect.stdout).toContain('CN=istio-intermediate-ca.example.org');
    expect(inspect.stdout).toContain('URI:spiffe://example.org');
    expect(inspect.stdout).toContain('not after:    2026-12-22T12:00:00.000Z (in 30d 0h)');
    expect(inspect.stdout).toContain('chain: OK (CN=istio-intermediate-ca.example.org → CN=Example Root)');
    const root = await cli.run('inspect', 'secret/istio-root-ca', '-n', 'mesh');
    expect(root.stdout).toMatch(/not after: {4}2056-11-14T12:00:00\.000Z/);
  });

  it('imports a root with its key and signs the intermediate with it', async () => {
    const source = new CliHarness();
    try {
      expect((await source.run('init')).code).toBe(0);
      const secret = JSON.parse((await source.run('get', 'secret', 'istio-root-ca', '-o', 'json')).stdout) as {
        data: Record<string, string>;
      };
      const rootPem = Buffer.from(secret.data['tls.crt'] ?? '', 'base64').toString();
      const keyPem = Buffer.from(secret.data['tls.key'] ?? '', 'base64').toString();
      writeFileSync(path.join(cli.dir, 'root.pem'), rootPem);
      writeFileSync(path.join(cli.dir, 'root-key.pem'), keyPem, { mode: 0o600 });
      const run = await cli.run('init', '--root-cert', 'root.pem', '--root-key', 'root-key.pem');
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.stdout).not.toContain('meshca-selfsigned');
      const inspect = await cli.run('inspect', 'secret/istio-ca');
      expect(inspect.stdout).toContain('chain: OK');
      const imported = await cli.run('inspect', 'secret/istio-root-ca');
      const original = await source.run('inspect', 'secret/istio-root-ca');
      const fingerprint = (s: string): string | undefined => /SHA-256: +(\S+)/.exec(s)?.[1];
      expect(fingerprint(imported.stdout)).toBe(fingerprint(original.stdout));
    } finally {
      source.cleanup();
    }
  });

  it('keeps the root key out entirely when given a root and an intermediate made elsewhere', async () => {
    const source = new CliHarness();
    try {
      expect((await source.run('init')).code).toBe(0);
      const secret = JSON.parse((await source.run('get', 'secret', 'istio-ca', '-o', 'json')).stdout) as {
        data: Record<string, string>;
      };
      const text = (k: string): string => Buffer.from(secret.data[k] ?? '', 'base64').toString();
      writeFileSync(path.join(cli.dir, 'root.pem'), text('ca.crt'));
      writeFileSync(path.join(cli.dir, 'int.pem'), text('tls.crt'));
      writeFileSync(path.join(cli.dir, 'int-key.pem'), text('tls.key'), { mode: 0o600 });
      const run = await cli.run('init', '--root-cert', 'root.pem', '--intermediate-cert', 'int.pem', '--intermediate-key', 'int-key.pem');
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('Secret istio-system/istio-ca');
      expect(run.stdout).toContain('Issuer istio-system/istio-ca-issuer');
      expect(run.stdout).not.toContain('istio-root-ca');
      expect(run.stdout).not.toContain('Issuer istio-system/istio-intermediate-ca');
      const root = await cli.run('get', 'secret', 'istio-root-ca');
      expect(root.code).toBe(1);
      expect((await cli.run('inspect', 'secret/istio-ca')).stdout).toContain('chain: OK');
    } finally {
      source.cleanup();
    }
  });

  it('refuses an intermediate whose key is not its own, and stores nothing', async () => {
    const a = new CliHarness();
    const b = new CliHarness();
    try {
      await a.run('init');
      await b.run('init');
      const sa = JSON.parse((await a.run('get', 'secret', 'istio-ca', '-o', 'json')).stdout) as { data: Record<string, string> };
      const sb = JSON.parse((await b.run('get', 'secret', 'istio-ca', '-o', 'json')).stdout) as { data: Record<string, string> };
      const text = (s: { data: Record<string, string> }, k: string): string => Buffer.from(s.data[k] ?? '', 'base64').toString();
      writeFileSync(path.join(cli.dir, 'root.pem'), text(sa, 'ca.crt'));
      writeFileSync(path.join(cli.dir, 'int.pem'), text(sa, 'tls.crt'));
      writeFileSync(path.join(cli.dir, 'other-key.pem'), text(sb, 'tls.key'));
      const run = await cli.run('init', '--root-cert', 'root.pem', '--intermediate-cert', 'int.pem', '--intermediate-key', 'other-key.pem');
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('error: the intermediate key (--intermediate-key) is not the key of the intermediate certificate');
      const list = await cli.run('get', 'secrets');
      expect(list.stderr).toContain('no secrets found');
    } finally {
      a.cleanup();
      b.cleanup();
    }
  });

  it('refuses an intermediate that does not chain to the root given', async () => {
    const a = new CliHarness();
    const b = new CliHarness();
    try {
      await a.run('init');
      await b.run('init');
      const sa = JSON.parse((await a.run('get', 'secret', 'istio-ca', '-o', 'json')).stdout) as { data: Record<string, string> };
      const sb = JSON.parse((await b.run('get', 'secret', 'istio-ca', '-o', 'json')).stdout) as { data: Record<string, string> };
      const text = (s: { data: Record<string, string> }, k: string): string => Buffer.from(s.data[k] ?? '', 'base64').toString();
      writeFileSync(path.join(cli.dir, 'root.pem'), text(sb, 'ca.crt'));
      writeFileSync(path.join(cli.dir, 'int.pem'), text(sa, 'tls.crt'));
      writeFileSync(path.join(cli.dir, 'int-key.pem'), text(sa, 'tls.key'));
      const run = await cli.run('init', '--root-cert', 'root.pem', '--intermediate-cert', 'int.pem', '--intermediate-key', 'int-key.pem');
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('error: the intermediate does not chain to the root');
      expect(run.stderr).toContain('hint: --intermediate-cert must be signed by a certificate of --root-cert');
    } finally {
      a.cleanup();
      b.cleanup();
    }
  });

  it.each([
    [['init', '--root-key', 'k.pem'], '--root-key, --intermediate-cert and --intermediate-key need --root-cert'],
    [['init', '--root-cert', 'r.pem'], '--root-cert needs either --root-key, or --intermediate-cert with --intermediate-key'],
    [['init', '--root-duration', '30d'], '--root-duration: invalid duration "30d"'],
    [['init', '--intermediate-duration', '0s'], '--intermediate-duration must be longer than zero'],
    [['init', '--root-key-algorithm', 'dsa'], '--root-key-algorithm: unknown key algorithm "dsa"'],
    [['init', '--root-key-algorithm', 'constructor'], '--root-key-algorithm: unknown key algorithm "constructor"'],
    [['init', '--intermediate-key-algorithm', '__proto__'], '--intermediate-key-algorithm: unknown key algorithm "__proto__"'],
    [['init', '--no-such-flag'], "unknown option '--no-such-flag'"],
  ])('exits 2 with a precise message for the usage error %j', async (args, message) => {
    const run = await cli.run(...args);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
  });

  it('names the file and the reason when a file cannot be read', async () => {
    const run = await cli.run('init', '--root-cert', 'missing.pem', '--root-key', 'missing-key.pem');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('error: cannot read --root-cert missing.pem: ENOENT');
  });

  it('refuses a root certificate file that holds no certificate', async () => {
    writeFileSync(path.join(cli.dir, 'junk.pem'), 'this is not PEM\n');
    writeFileSync(path.join(cli.dir, 'key.pem'), 'neither is this\n');
    const run = await cli.run('init', '--root-cert', 'junk.pem', '--root-key', 'key.pem');
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^error: .+/);
    expect(run.stderr).not.toContain('    at ');
  });
});

describe('meshca get and describe', () => {
  it('prints a Secret Kubernetes-shaped with base64 data, like kubectl', async () => {
    await cli.run('init');
    const run = await cli.run('get', 'secret', 'istio-ca', '-o', 'json');
    expect(run.code).toBe(0);
    const secret = JSON.parse(run.stdout) as { apiVersion: string; kind: string; type: string; data: Record<string, string> };
    expect(secret.apiVersion).toBe('v1');
    expect(secret.kind).toBe('Secret');
    expect(secret.type).toBe('kubernetes.io/tls');
    expect(Object.keys(secret.data).sort()).toEqual(['ca.crt', 'tls.crt', 'tls.key']);
    expect(Buffer.from(secret.data['tls.crt'] ?? '', 'base64').toString()).toMatch(/^-----BEGIN CERTIFICATE-----/);
    const yaml = await cli.run('get', 'secret', 'istio-ca', '-o', 'yaml');
    expect(yaml.stdout).toContain('kind: Secret');
  });

  it('lists certificates with readiness, secret and issuer', async () => {
    await cli.run('init');
    const run = await cli.run('get', 'certs');
    expect(run.stdout).toMatch(/^NAME\s+READY\s+SECRET\s+ISSUER\s+NOT AFTER\s+AGE$/m);
    expect(run.stdout).toMatch(/^istio-ca\s+True\s+istio-ca\s+istio-intermediate-ca\s+2026-12-22T12:00:00Z\s+0s$/m);
  });

  it('describes a certificate with its conditions and renewal time', async () => {
    await cli.run('init');
    const run = await cli.run('describe', 'certificate', 'istio-ca');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Kind:         Certificate');
    expect(run.stdout).toMatch(/Ready\s+True\s+Ready/);
    expect(run.stdout).toContain('renewalTime: 2026-12-12T12:00:00Z (in 20d 0h)');
  });

  it('describes a Secret without printing its values', async () => {
    await cli.run('init');
    const run = await cli.run('describe', 'secret', 'istio-ca');
    expect(run.stdout).toMatch(/tls\.key: \d+ bytes/);
    expect(run.stdout).not.toContain('PRIVATE KEY');
  });

  it('exits 2 for an unknown kind and suggests the one meant', async () => {
    const run = await cli.run('get', 'certificats');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('unknown resource type "certificats"; did you mean "certificate"?');
  });

  it('exits 1 with the name when a resource does not exist', async () => {
    await cli.createHome();
    const run = await cli.run('get', 'secret', 'nope');
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^error: .*nope/);
  });

  it('exits 2 for an unknown output format', async () => {
    const run = await cli.run('get', 'secrets', '-o', 'xml');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('-o: unknown output format "xml"');
  });
});

describe('meshca inspect', () => {
  it('refuses a file that holds no certificate with a one-line error and no stack', async () => {
    writeFileSync(path.join(cli.dir, 'junk.pem'), '-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n');
    const run = await cli.run('inspect', 'junk.pem');
    expect(run.code).toBe(1);
    expect(run.stderr.split('\n')[0]).toMatch(/^error: /);
    expect(run.stderr).not.toContain('    at ');
  });

  it('prints the stack trace only with --debug', async () => {
    writeFileSync(path.join(cli.dir, 'junk.pem'), 'junk');
    const run = await cli.run('--debug', 'inspect', 'junk.pem');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('    at ');
  });

  it('names a missing file', async () => {
    const run = await cli.run('inspect', 'nothere.pem');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('error: cannot read the file to inspect nothere.pem: ENOENT');
  });

  it('verifies a chain file against its own root and reports a broken one with the reason', async () => {
    await cli.run('init');
    const secret = JSON.parse((await cli.run('get', 'secret', 'istio-ca', '-o', 'json')).stdout) as { data: Record<string, string> };
    const text = (k: string): string => Buffer.from(secret.data[k] ?? '', 'base64').toString();
    writeFileSync(path.join(cli.dir, 'chain.pem'), text('tls.crt') + text('ca.crt'));
    const ok = await cli.run('inspect', 'chain.pem');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('chain: OK');
    expect(ok.stdout).toMatch(/SHA-256: +([0-9A-F]{2}:){31}[0-9A-F]{2}/);
    cli.now = new Date('2027-01-01T00:00:00Z');
    const late = await cli.run('inspect', 'chain.pem');
    expect(late.stdout).toContain('chain: FAILED');
    expect(late.stdout).toContain('expired');
  });
});

describe('meshca --help and version', () => {
  it.each([[[]], [['--help']], [['init', '--help']], [['get', '--help']], [['inspect', '--help']], [['describe', '--help']]])(
    'prints help for %j and exits 0 or 2 as commander decides, never 1',
    async (args) => {
      const run = await cli.run(...args);
      expect(run.stdout + run.stderr).toContain('Usage: meshca');
      expect([0, 2]).toContain(run.code);
    },
  );

  it('prints the version', async () => {
    const run = await cli.run('version');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^meshca 0\.0\.0-test \(node /);
    expect(run.stdout).toMatch(/^native ECDSA path: on, loaded from .*meshca_native\.node$/m);
  });
});
