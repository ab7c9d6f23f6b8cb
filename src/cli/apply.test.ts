import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Resource } from '../api/resource.js';
import { isMeshcaError } from '../errors/index.js';
import type { Store } from '../store/store.js';
import { applyObjects, planWrite } from './commands/apply.js';
import { readLimited } from './read-limited.js';
import { CliHarness } from './testing/cli-harness.js';

const REFERENCE_PLATFORM = path.resolve(import.meta.dirname, '../../examples/reference-platform');

let cli: CliHarness;
beforeEach(() => {
  cli = new CliHarness();
});
afterEach(() => cli.cleanup());

const write = (name: string, text: string): string => {
  const file = path.join(cli.dir, name);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  return name;
};

const issuer = (name: string, extra = ''): string => `apiVersion: cert-manager.io/v1
kind: Issuer
metadata:
  name: ${name}
spec:
  selfSigned: {}
${extra}`;

const certificate = (name: string, specExtra = ''): string => `apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: ${name}
  namespace: istio-system
spec:
  secretName: ${name}-tls
  commonName: ${name}.example.com
  issuerRef:
    name: selfsigned
${specExtra}`;

async function withStore<T>(fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await cli.openStore();
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

const countAll = (): Promise<number> =>
  withStore(async (store) => {
    let n = 0;
    for (const kind of ['Certificate', 'Issuer', 'Secret', 'ClusterIssuer']) {
      const apiVersion = kind === 'Secret' ? 'v1' : 'cert-manager.io/v1';
      n += (await store.list({ apiVersion, kind })).items.length;
    }
    return n;
  });

describe('meshca apply: the reference platform', () => {
  it('applies examples/reference-platform unchanged, in file order, and the resources exist', async () => {
    const run = await cli.run('apply', '-f', REFERENCE_PLATFORM);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(
      [
        'issuer.cert-manager.io/meshca-selfsigned created',
        'certificate.cert-manager.io/istio-root-ca created',
        'issuer.cert-manager.io/istio-intermediate-ca created',
        'certificate.cert-manager.io/istio-ca created',
        'issuer.cert-manager.io/istio-ca-issuer created',
        'certificate.cert-manager.io/ingress-gateway created',
        '',
      ].join('\n'),
    );
    const certs = await cli.run('get', 'certs');
    expect(certs.stdout).toMatch(/^istio-ca\s+Unknown\s+istio-ca\s+istio-intermediate-ca/m);
    expect(certs.stdout).toMatch(/^istio-root-ca\s+Unknown\s+istio-root-ca\s+meshca-selfsigned/m);
    const ca = JSON.parse((await cli.run('get', 'cert', 'istio-ca', '-o', 'json')).stdout) as {
      spec: { duration: string; isCA: boolean; commonName: string };
    };
    expect(ca.spec).toMatchObject({
      duration: '720h',
      isCA: true,
      commonName: 'istio-intermediate-ca.cluster.local',
    });
    expect((await cli.run('get', 'issuer', 'istio-ca-issuer', '-o', 'json')).stdout).toContain(
      '"secretName": "istio-ca"',
    );
  });

  it('says unchanged for every object when the folder is applied twice, and writes nothing', async () => {
    await cli.run('apply', '-f', REFERENCE_PLATFORM);
    const before = await withStore(
      async (s) => (await s.list({ apiVersion: 'cert-manager.io/v1', kind: 'Certificate' })).resourceVersion,
    );
    const again = await cli.run('apply', '-f', REFERENCE_PLATFORM);
    expect(again.code).toBe(0);
    expect(again.stdout.trim().split('\n')).toHaveLength(6);
    expect(
      again.stdout
        .trim()
        .split('\n')
        .every((l) => l.endsWith(' unchanged')),
    ).toBe(true);
    const after = await withStore(
      async (s) => (await s.list({ apiVersion: 'cert-manager.io/v1', kind: 'Certificate' })).resourceVersion,
    );
    expect(after).toBe(before);
  });

  it('applies the istiod cacerts variant next to the platform', async () => {
    await cli.run('apply', '-f', REFERENCE_PLATFORM);
    const run = await cli.run('apply', '-f', path.join(REFERENCE_PLATFORM, 'istiod-cacerts'));
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('certificate.cert-manager.io/istiod-cacerts created\n');
    const c = JSON.parse((await cli.run('get', 'cert', 'istiod-cacerts', '-o', 'json')).stdout) as {
      metadata: { annotations: Record<string, string> };
    };
    expect(c.metadata.annotations['meshca.io/istiod-cacerts']).toBe('true');
  });
});

describe('meshca apply: creating and updating', () => {
  it('updates a changed object as configured, keeps its status, and bumps its generation', async () => {
    write('a.yaml', `${issuer('selfsigned')}---\n${certificate('web')}`);
    expect((await cli.run('apply', '-f', 'a.yaml')).code).toBe(0);
    await withStore(async (store) => {
      const c = await store.get({
        apiVersion: 'cert-manager.io/v1',
        kind: 'Certificate',
        name: 'web',
        namespace: 'istio-system',
      });
      await store.updateStatus({
        ...c,
        status: { revision: 3, conditions: [{ type: 'Ready', status: 'True', reason: 'Ready' }] },
      });
    });
    write('a.yaml', `${issuer('selfsigned')}---\n${certificate('web', '  duration: 48h\n')}`);
    const run = await cli.run('apply', '-f', 'a.yaml');
    expect(run.stdout).toBe(
      'issuer.cert-manager.io/selfsigned unchanged\ncertificate.cert-manager.io/web configured\n',
    );
    const c = JSON.parse((await cli.run('get', 'cert', 'web', '-o', 'json')).stdout) as Resource & {
      spec: { duration: string };
      status: { revision: number };
    };
    expect(c.spec.duration).toBe('48h');
    expect(c.status.revision).toBe(3);
    expect(c.metadata.generation).toBe(2);
  });

  it('applies what `meshca get -o yaml` printed (uid, resourceVersion, status) as unchanged', async () => {
    write('a.yaml', `${issuer('selfsigned')}---\n${certificate('web')}`);
    await cli.run('apply', '-f', 'a.yaml');
    const yaml = (await cli.run('get', 'cert', 'web', '-o', 'yaml')).stdout;
    expect(yaml).toContain('resourceVersion');
    write('got.yaml', yaml);
    const run = await cli.run('apply', '-f', 'got.yaml');
    expect(run.stderr).toBe('');
    expect(run.stdout).toBe('certificate.cert-manager.io/web unchanged\n');
  });

  it('replaces labels and annotations but keeps owner references a controller set', async () => {
    write(
      's.yaml',
      'apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  labels: {a: "1"}\nstringData:\n  k: v\n',
    );
    await cli.run('apply', '-f', 's.yaml');
    await withStore(async (store) => {
      const s = await store.get({ apiVersion: 'v1', kind: 'Secret', name: 's', namespace: 'istio-system' });
      await store.update({
        ...s,
        metadata: {
          ...s.metadata,
          ownerReferences: [{ apiVersion: 'cert-manager.io/v1', kind: 'Certificate', name: 'c', uid: 'u1' }],
        },
      });
    });
    write(
      's.yaml',
      'apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  labels: {b: "2"}\nstringData:\n  k: v\n',
    );
    expect((await cli.run('apply', '-f', 's.yaml')).stdout).toBe('secret/s configured\n');
    const s = JSON.parse((await cli.run('get', 'secret', 's', '-o', 'json')).stdout) as Resource;
    expect(s.metadata.labels).toEqual({ b: '2' });
    expect(s.metadata.ownerReferences?.[0]?.uid).toBe('u1');
  });

  it('imports a CA key pair shaped like `kubectl create secret tls -o yaml`, stringData merged into data', async () => {
    write(
      'ca.yaml',
      [
        'apiVersion: v1',
        'kind: Secret',
        'type: kubernetes.io/tls',
        'metadata:',
        '  name: root-ca',
        '  namespace: cert-manager',
        '  creationTimestamp: null',
        'stringData:',
        '  tls.crt: "-----BEGIN CERTIFICATE-----\\n"',
        'data:',
        '  tls.key: LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCg==',
        '',
      ].join('\n'),
    );
    const run = await cli.run('apply', '-f', 'ca.yaml');
    expect(run.stdout).toBe('secret/root-ca created\n');
    const s = JSON.parse(
      (await cli.run('get', 'secret', 'root-ca', '-n', 'cert-manager', '-o', 'json')).stdout,
    ) as {
      data: Record<string, string>;
      stringData?: unknown;
    };
    expect(Buffer.from(s.data['tls.crt'] ?? '', 'base64').toString()).toBe('-----BEGIN CERTIFICATE-----\n');
    expect(s.stringData).toBeUndefined();
  });

  it('gives documents without a namespace -n, or $MESHCA_NAMESPACE, and a ClusterIssuer none', async () => {
    write(
      'i.yaml',
      `${issuer('one')}---\napiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata:\n  name: shared\n  namespace: ignored\nspec:\n  ca:\n    secretName: root-ca\n`,
    );
    expect((await cli.run('apply', '-f', 'i.yaml', '-n', 'mesh')).code).toBe(0);
    expect((await cli.run('get', 'issuer', 'one', '-n', 'mesh')).code).toBe(0);
    const envRun = await cli.runWith(
      { env: { MESHCA_HOME: cli.home, MESHCA_NAMESPACE: 'other' } },
      'apply',
      '-f',
      'i.yaml',
    );
    expect(envRun.stdout).toContain('issuer.cert-manager.io/one created');
    expect(envRun.stdout).toContain('clusterissuer.cert-manager.io/shared unchanged');
    const ci = JSON.parse((await cli.run('get', 'clusterissuer', 'shared', '-o', 'json')).stdout) as Resource;
    expect(ci.metadata.namespace).toBeUndefined();
    const d = await cli.run('describe', 'clusterissuer', 'shared');
    expect(d.stdout).toContain('Secrets namespace:  cert-manager (the cluster-resource namespace');
    expect(d.stdout).toContain(
      'CA Secret:          cert-manager/root-ca (not found: apply it in that namespace)',
    );
    const d2 = await cli.run(
      'describe',
      'clusterissuer',
      'shared',
      '--cluster-resource-namespace',
      'mesh-ca',
    );
    expect(d2.stdout).toContain('CA Secret:          mesh-ca/root-ca (not found');
  });

  it('reads standard input with -f -', async () => {
    const run = await cli.runWith({ stdin: () => Promise.resolve(issuer('from-stdin')) }, 'apply', '-f', '-');
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('issuer.cert-manager.io/from-stdin created\n');
  });

  it('says what would change with --dry-run and writes nothing', async () => {
    write('a.yaml', issuer('selfsigned'));
    const run = await cli.run('apply', '-f', 'a.yaml', '--dry-run');
    expect(run.stdout).toBe('issuer.cert-manager.io/selfsigned created (dry run)\n');
    expect(await countAll()).toBe(0);
  });
});

describe('meshca apply: all or nothing', () => {
  it('writes nothing when one document of a file is bad, and names the file, line and field meant', async () => {
    write(
      'mixed.yaml',
      `${issuer('selfsigned')}---\n${certificate('web')}  subject:\n    organisations: [Example]\n---\n${certificate('api', '  duration: 30d\n')}`,
    );
    const run = await cli.run('apply', '-f', 'mixed.yaml');
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('error: 2 errors in 1 of 1 file; nothing was applied');
    expect(run.stderr).toContain(
      '  mixed.yaml:19: spec.subject.organisations: unknown field; did you mean "organizations"?',
    );
    expect(run.stderr).toMatch(/ {2}mixed\.yaml:31: spec\.duration: .*"d"/);
    expect(await countAll()).toBe(0);
  });

  it('lists the errors of every file and writes none of the good files', async () => {
    write('dir/a-good.yaml', issuer('selfsigned'));
    write('dir/b-bad.yaml', `${certificate('web', '  isCa: true\n')}`);
    write('dir/c-bad.json', JSON.stringify({ apiVersion: 'v1', kind: 'Secrett', metadata: { name: 'x' } }));
    write('dir/notes.txt', 'not a manifest, not read');
    const run = await cli.run('apply', '-f', 'dir');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('error: 2 errors in 2 of 3 files; nothing was applied');
    expect(run.stderr).toContain('dir/b-bad.yaml:11: spec.isCa: unknown field; did you mean "isCA"?');
    expect(run.stderr).toContain(
      'dir/c-bad.json:1: kind: unknown kind "Secrett" in "v1"; did you mean "Secret"?',
    );
    expect(await countAll()).toBe(0);
  });

  it('refuses the same object defined in two files', async () => {
    write('a.yaml', issuer('selfsigned'));
    write('b.yaml', issuer('selfsigned'));
    const run = await cli.run('apply', '-f', 'a.yaml', '-f', 'b.yaml');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      'b.yaml: Issuer istio-system/selfsigned is also defined in a.yaml; keep one',
    );
    expect(await countAll()).toBe(0);
  });

  it('refuses one object written twice in a file, once with the default namespace and once with none, precisely', async () => {
    write('twice.yaml', `${issuer('x', '')}---\n${issuer('x').replace('  name: x\n', '  name: x\n  namespace: istio-system\n')}`);
    const run = await cli.run('apply', '-f', 'twice.yaml');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('error: 1 error in 1 of 1 file; nothing was applied\n');
    expect(run.stderr).toContain(
      'twice.yaml: Issuer istio-system/x appears twice, as objects 1 and 2 of the file (object 1 names no namespace and gets istio-system from the default namespace; object 2 names istio-system); keep one',
    );
    expect(run.stderr).not.toContain('already exists');
    expect(await countAll()).toBe(0);
    // With -n the message says where the namespace came from.
    const withFlag = await cli.run('apply', '-f', 'twice.yaml', '-n', 'istio-system');
    expect(withFlag.code).toBe(1);
    expect(withFlag.stderr).toContain('gets istio-system from -n; object 2 names istio-system');
    expect(await countAll()).toBe(0);
  });

  it.each([
    [['-f', 'dir', '-f', 'dir/x.yaml'], 'dir/x.yaml is named twice: by -f dir and by -f dir/x.yaml'],
    [['-f', 'dir', '-f', './dir/x.yaml'], './dir/x.yaml is named twice: by -f dir and by -f ./dir/x.yaml'],
    [['-f', 'dir/x.yaml', '-f', 'dir/x.yaml'], 'dir/x.yaml is named twice: by -f dir/x.yaml and by -f dir/x.yaml'],
  ])('refuses a file named twice (%j) as a usage error, and writes nothing', async (args, message) => {
    write('dir/x.yaml', issuer('x'));
    write('dir/y.yaml', issuer('y'));
    const run = await cli.run('apply', ...args);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`error: ${message}\n`);
    expect(run.stderr).not.toContain('already exists');
    expect(await countAll()).toBe(0);
  });

  it('refuses an object whose namespace contradicts -n', async () => {
    write('a.yaml', certificate('web'));
    const run = await cli.run('apply', '-f', 'a.yaml', '-n', 'other');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('a.yaml: Certificate web is in namespace istio-system, not other (-n)');
  });

  it('writes every object in one transaction: when the store refuses one, none is written', async () => {
    await withStore(async (store) => {
      const objects = [
        {
          resource: {
            apiVersion: 'cert-manager.io/v1',
            kind: 'Issuer',
            metadata: { name: 'ok', namespace: 'ns' },
            spec: { selfSigned: {} },
          },
        },
        // A name the store itself refuses (over 253 characters), as a failing write would.
        {
          resource: {
            apiVersion: 'v1',
            kind: 'Secret',
            metadata: { name: 'x'.repeat(300), namespace: 'ns' },
            type: 'Opaque',
          },
        },
      ].map((o) => ({
        ...o,
        source: 'test',
        kind: {
          apiVersion: o.resource.apiVersion,
          kind: o.resource.kind,
          plural: '',
          singular: o.resource.kind.toLowerCase(),
          shortNames: [],
          namespaced: true,
        },
      }));
      await expect(applyObjects(store, objects as never)).rejects.toThrow();
      expect((await store.list({ apiVersion: 'cert-manager.io/v1', kind: 'Issuer' })).items).toEqual([]);
    });
  });

  it('tries again from a fresh read when another writer created an object meanwhile', async () => {
    await withStore(async (store) => {
      let raced = false;
      const racing: Store = Object.create(store) as Store;
      racing.transaction = async (ops) => {
        if (!raced) {
          raced = true;
          await store.create({
            apiVersion: 'cert-manager.io/v1',
            kind: 'Issuer',
            metadata: { name: 'x', namespace: 'ns' },
            spec: { ca: { secretName: 'other' } },
          });
        }
        return store.transaction(ops);
      };
      const issuerX = {
        apiVersion: 'cert-manager.io/v1',
        kind: 'Issuer',
        metadata: { name: 'x', namespace: 'ns' },
        spec: { selfSigned: {} },
      };
      const kind = {
        apiVersion: 'cert-manager.io/v1',
        kind: 'Issuer',
        plural: 'issuers',
        singular: 'issuer',
        shortNames: [],
        namespaced: true,
      };
      const report = await applyObjects(racing, [{ resource: issuerX as never, kind, source: 't' }]);
      expect(report).toEqual([{ name: 'issuer.cert-manager.io/x', outcome: 'configured' }]);
      const stored = await store.get<Resource & { spec: unknown }>({
        apiVersion: 'cert-manager.io/v1',
        kind: 'Issuer',
        name: 'x',
        namespace: 'ns',
      });
      expect(stored.spec).toEqual({ selfSigned: {} });
    });
  });

  it('plans no write for an object equal to the stored one apart from status and store metadata', () => {
    const wanted: Resource = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'c', namespace: 'n', labels: {} },
      data: { a: 'b' },
    };
    const stored: Resource = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: 'c',
        namespace: 'n',
        uid: 'u',
        resourceVersion: '7',
        generation: 2,
        creationTimestamp: '2026-01-01T00:00:00Z',
      },
      data: { a: 'b' },
      status: { whatever: true },
    };
    expect(planWrite(wanted, stored)).toBeUndefined();
    expect(planWrite({ ...wanted, data: { a: 'c' } }, stored)?.outcome).toBe('configured');
  });
});

describe('meshca apply: idempotence', () => {
  it('says unchanged on a second apply of any object it created, and configured after any change', async () => {
    const key = fc.stringMatching(/^[a-z]([a-z0-9-]{0,7}[a-z0-9])?$/);
    const objects = fc.record({
      labels: fc.dictionary(key, fc.stringMatching(/^[a-z0-9]{0,5}$/), { maxKeys: 3 }),
      annotations: fc.dictionary(key, fc.string({ maxLength: 20 }), { maxKeys: 3 }),
      data: fc.dictionary(key, fc.string({ maxLength: 30 }), { minKeys: 1, maxKeys: 4 }),
    });
    const kind = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      plural: 'configmaps',
      singular: 'configmap',
      shortNames: [],
      namespaced: true,
    };
    await withStore(async (store) => {
      let n = 0;
      await fc.assert(
        fc.asyncProperty(objects, async ({ labels, annotations, data }) => {
          const resource = {
            apiVersion: 'v1',
            kind: 'ConfigMap',
            metadata: { name: `cm-${n++}`, namespace: 'ns', labels, annotations },
            data,
          };
          const apply = async (r: Resource): Promise<string | undefined> =>
            (await applyObjects(store, [{ resource: r as never, kind, source: 'p' }]))[0]?.outcome;
          expect(await apply(resource)).toBe('created');
          expect(await apply(resource)).toBe('unchanged');
          expect(await apply({ ...resource, data: { ...data, extra: 'x' } })).toBe('configured');
        }),
        { numRuns: 40 },
      );
    });
  });
});

describe('meshca apply: hostile and malformed input', () => {
  it('refuses a file over 4 MiB before reading it, and writes nothing', async () => {
    write('big.yaml', `${issuer('selfsigned')}# ${'x'.repeat(4 * 1024 * 1024)}\n`);
    const run = await cli.run('apply', '-f', 'big.yaml');
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/big\.yaml is \d+ bytes; a manifest file may be at most 4194304 bytes/);
    expect(await countAll()).toBe(0);
  });

  it('names a missing file with its error code', async () => {
    const run = await cli.run('apply', '-f', 'nope.yaml');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('error: cannot read nope.yaml: ENOENT');
  });

  it('refuses a file with no objects', async () => {
    write('empty.yaml', '# nothing here\n---\n');
    const run = await cli.run('apply', '-f', 'empty.yaml');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('error: no objects in empty.yaml');
  });

  it('refuses YAML that is not YAML, a YAML alias bomb and a scalar document, each with its line', async () => {
    write('broken.yaml', 'apiVersion: v1\nkind: [Secret\n');
    write(
      'bomb.yaml',
      'a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n',
    );
    write('scalar.yaml', 'just a string\n');
    const run = await cli.run('apply', '-f', 'broken.yaml', '-f', 'bomb.yaml', '-f', 'scalar.yaml');
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/broken\.yaml:\d+: yaml: /);
    expect(run.stderr).toContain('bomb.yaml:1: yaml: more than 100 aliases expanded');
    expect(run.stderr).toContain(
      'scalar.yaml:1: <document>: a resource must be a mapping with apiVersion, kind and metadata, not a string',
    );
  });

  it('exits 2 without -f, and when - is given twice', async () => {
    expect((await cli.run('apply')).code).toBe(2);
    const twice = await cli.runWith({ stdin: () => Promise.resolve('') }, 'apply', '-f', '-', '-f', '-');
    expect(twice.code).toBe(2);
    expect(twice.stderr).toContain('-f - (standard input) may be given only once');
  });

  it('exits 2 when standard input is asked for where there is none', async () => {
    const run = await cli.run('apply', '-f', '-');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('standard input is not available here');
  });
});

describe('readLimited', () => {
  it('reads a stream of buffers and strings to the end', async () => {
    expect(await readLimited(Readable.from([Buffer.from('ab'), 'cd']), 10)).toBe('abcd');
  });

  it('refuses a stream that passes the limit, as soon as it does', async () => {
    let pulled = 0;
    async function* endless(): AsyncGenerator<Buffer> {
      for (;;) {
        pulled++;
        yield Buffer.alloc(1024);
      }
    }
    const err: unknown = await readLimited(endless(), 4096).catch((e: unknown) => e);
    expect(isMeshcaError(err, 'INPUT_TOO_LARGE')).toBe(true);
    expect((err as Error).message).toBe(
      'standard input is over 4096 bytes; a manifest may be at most 4096 bytes',
    );
    expect(pulled).toBe(5);
  });
});
