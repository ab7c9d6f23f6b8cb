import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Condition } from '../api/common-schemas.js';
import type { Event } from '../api/event.js';
import type { Resource } from '../api/resource.js';
import type { Store } from '../store/store.js';
import { deleteObjects } from './commands/delete.js';
import { CliHarness } from './testing/cli-harness.js';

let cli: CliHarness;
beforeEach(() => {
  cli = new CliHarness();
});
afterEach(() => cli.cleanup());

const NS = 'istio-system';
const CERT = { apiVersion: 'cert-manager.io/v1', kind: 'Certificate' } as const;
const CR = { apiVersion: 'cert-manager.io/v1', kind: 'CertificateRequest' } as const;

async function withStore<T>(fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await cli.openStore();
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

const conditionsOf = (r: Resource): Condition[] =>
  (r['status'] as { conditions?: Condition[] } | undefined)?.conditions ?? [];

/** A Certificate `web` with a request per revision, a next-key Secret and its own Secret, as the controller leaves them. */
async function certificateWithDependents(): Promise<void> {
  await withStore(async (store) => {
    const cert = await store.create<Resource>({
      ...CERT,
      metadata: { name: 'web', namespace: NS },
      spec: {
        secretName: 'web-tls',
        commonName: 'web',
        issuerRef: { name: 'ca', kind: 'Issuer', group: 'cert-manager.io' },
      },
    });
    const owner = [
      {
        apiVersion: CERT.apiVersion,
        kind: 'Certificate',
        name: 'web',
        uid: cert.metadata.uid ?? '',
        controller: true,
      },
    ];
    for (const rev of ['1', '2']) {
      await store.create({
        ...CR,
        metadata: {
          name: `web-${rev}`,
          namespace: NS,
          ownerReferences: owner,
          annotations: {
            'cert-manager.io/certificate-revision': rev,
            'cert-manager.io/certificate-name': 'web',
          },
        },
        spec: { request: 'eA==', issuerRef: { name: 'ca' } },
      });
    }
    await store.create({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'web-next-key', namespace: NS, ownerReferences: owner },
      type: 'Opaque',
    });
    // Owned too (as with --enable-certificate-owner-ref) but the Certificate's own Secret stays.
    await store.create({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'web-tls', namespace: NS, ownerReferences: owner },
      type: 'Opaque',
    });
    // Someone else's request, of the same name pattern.
    await store.create({
      ...CR,
      metadata: { name: 'other-1', namespace: NS },
      spec: { request: 'eA==', issuerRef: { name: 'ca' } },
    });
  });
}

describe('meshca delete', () => {
  it('deletes a Certificate with its requests and next-key Secret, but not its own Secret', async () => {
    await certificateWithDependents();
    const run = await cli.run('delete', 'certificate', 'web');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(
      [
        'certificate.cert-manager.io/web deleted',
        'certificaterequest.cert-manager.io/web-1 deleted (owned by certificate.cert-manager.io/web)',
        'certificaterequest.cert-manager.io/web-2 deleted (owned by certificate.cert-manager.io/web)',
        'secret/web-next-key deleted (owned by certificate.cert-manager.io/web)',
        '',
      ].join('\n'),
    );
    const left = await withStore(async (store) => ({
      crs: (await store.list(CR)).items.map((r) => r.metadata.name),
      secrets: (await store.list({ apiVersion: 'v1', kind: 'Secret' })).items.map((r) => r.metadata.name),
    }));
    expect(left).toEqual({ crs: ['other-1'], secrets: ['web-tls'] });
  });

  it('reads again and deletes when a controller wrote the Certificate between the read and the delete', async () => {
    await certificateWithDependents();
    await withStore(async (store) => {
      let raced = false;
      const racing: Store = Object.create(store) as Store;
      racing.transaction = async (ops) => {
        if (!raced) {
          raced = true;
          const c = await store.get({ ...CERT, name: 'web', namespace: NS });
          await store.updateStatus({ ...c, status: { revision: 2 } });
        }
        return store.transaction(ops);
      };
      const deleted = await deleteObjects(racing, [{ ...CERT, name: 'web', namespace: NS }], false);
      expect(raced).toBe(true);
      expect(deleted.map((d) => d.name)).toContain('certificate.cert-manager.io/web');
      expect(await store.tryGet({ ...CERT, name: 'web', namespace: NS })).toBeUndefined();
    });
  });

  it('deletes nothing when one of the names does not exist, and says which', async () => {
    await certificateWithDependents();
    const run = await cli.run('delete', 'cert', 'web', 'ghost');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      'error: not found: certificate "ghost" in namespace istio-system; nothing was deleted',
    );
    expect((await cli.run('get', 'cert', 'web')).code).toBe(0);
  });

  it('treats a missing object as deleted with --ignore-not-found', async () => {
    await cli.createHome();
    const run = await cli.run('delete', 'issuer', 'ghost', '--ignore-not-found');
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('nothing to delete\n');
  });

  it('deletes what a file defines', async () => {
    writeFileSync(
      path.join(cli.dir, 'i.yaml'),
      'apiVersion: cert-manager.io/v1\nkind: Issuer\nmetadata:\n  name: a\nspec:\n  selfSigned: {}\n',
    );
    await cli.run('apply', '-f', 'i.yaml');
    const run = await cli.run('delete', '-f', 'i.yaml');
    expect(run.stdout).toBe('issuer.cert-manager.io/a deleted\n');
    expect((await cli.run('get', 'issuer', 'a')).code).toBe(1);
  });

  it.each([
    [['delete'], 'give a kind and a name'],
    [['delete', 'certificate'], 'give the name of the certificate to delete'],
    [['delete', 'certificate', 'x', '-f', 'a.yaml'], 'give either -f or a kind and names, not both'],
    [['delete', 'deployment', 'x'], 'unknown resource type "deployment"'],
  ])('exits 2 for %j', async (args, message) => {
    const run = await cli.run(...args);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
  });
});

describe('meshca renew', () => {
  it('sets Issuing=True with reason ManuallyTriggered at the injected time, like cmctl renew', async () => {
    await cli.run('init');
    cli.now = new Date('2026-11-23T08:30:00Z');
    const run = await cli.run('renew', 'istio-ca');
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('Manually triggered issuance of Certificate istio-system/istio-ca\n');
    const cert = await withStore((s) => s.get({ ...CERT, name: 'istio-ca', namespace: NS }));
    expect(conditionsOf(cert).find((c) => c.type === 'Issuing')).toEqual({
      type: 'Issuing',
      status: 'True',
      reason: 'ManuallyTriggered',
      message: 'Certificate re-issuance manually triggered',
      lastTransitionTime: '2026-11-23T08:30:00Z',
    });
    // The rest of the status is kept.
    expect(conditionsOf(cert).find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(cert['status']).toMatchObject({ revision: 1 });
  });

  it('refuses a Certificate already issuing, naming the condition', async () => {
    await cli.run('init');
    await cli.run('renew', 'istio-ca');
    const again = await cli.run('renew', 'istio-ca');
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(
      'error: Certificate istio-system/istio-ca is already being issued (condition Issuing=True)',
    );
  });

  it('renews every Certificate of the namespace with --all, skipping those already issuing', async () => {
    await cli.run('init');
    await cli.run('renew', 'istio-ca');
    const run = await cli.run('renew', '--all');
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(
      'Skipped Certificate istio-system/istio-ca: an issuance is already in progress\nManually triggered issuance of Certificate istio-system/istio-root-ca\n',
    );
  });

  it('renews across namespaces with --all -A and finds none in an empty namespace', async () => {
    await cli.run('init', '-n', 'mesh-a');
    await cli.run('init', '-n', 'mesh-b');
    const all = await cli.run('renew', '--all', '-A');
    expect(all.stdout.trim().split('\n')).toHaveLength(4);
    const none = await cli.run('renew', '--all', '-n', 'empty');
    expect(none.code).toBe(0);
    expect(none.stderr).toBe('no certificates found in namespace empty\n');
  });

  it('exits 1 naming a Certificate that does not exist', async () => {
    await cli.createHome();
    const run = await cli.run('renew', 'ghost');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('error: Certificate istio-system/ghost not found');
  });

  it.each([
    [['renew'], 'give the names of the Certificates to renew, or --all'],
    [['renew', 'a', '--all'], 'give either names or --all, not both'],
    [['renew', 'a', '-A'], '-A needs --all'],
    [['renew', '--all', '-A', '-n', 'x'], 'give either -n or -A, not both'],
  ])('exits 2 for %j', async (args, message) => {
    const run = await cli.run(...args);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
  });
});

describe('meshca approve and deny', () => {
  it('approves a request with cert-manager.io as the reason and a cmctl-like message', async () => {
    await certificateWithDependents();
    cli.now = new Date('2026-11-22T13:00:00Z');
    const run = await cli.run('approve', 'web-2');
    expect(run.code).toBe(0);
    expect(run.stdout).toBe("Approved CertificateRequest 'istio-system/web-2'\n");
    const cr = await withStore((s) => s.get({ ...CR, name: 'web-2', namespace: NS }));
    expect(conditionsOf(cr)).toEqual([
      {
        type: 'Approved',
        status: 'True',
        reason: 'cert-manager.io',
        message: 'manually approved by "meshca"',
        lastTransitionTime: '2026-11-22T13:00:00Z',
      },
    ]);
    expect((await cli.run('get', 'cr', 'web-2')).stdout).toMatch(/^web-2\s+True\s+Unknown/m);
  });

  it('denies with the reason and message given', async () => {
    await certificateWithDependents();
    const run = await cli.run(
      'deny',
      'web-1',
      '--reason',
      'NotAllowed',
      '--message',
      'no wildcard names here',
    );
    expect(run.stdout).toBe("Denied CertificateRequest 'istio-system/web-1'\n");
    const cr = await withStore((s) => s.get({ ...CR, name: 'web-1', namespace: NS }));
    expect(conditionsOf(cr)[0]).toMatchObject({
      type: 'Denied',
      status: 'True',
      reason: 'NotAllowed',
      message: 'no wildcard names here',
    });
  });

  it.each([
    [
      'approve',
      'deny',
      'error: CertificateRequest istio-system/web-1 is already denied (reason cert-manager.io); it cannot also be approved',
    ],
    [
      'deny',
      'approve',
      'error: CertificateRequest istio-system/web-1 is already approved (reason cert-manager.io); it cannot also be denied',
    ],
    [
      'approve',
      'approve',
      'error: CertificateRequest istio-system/web-1 is already approved (reason cert-manager.io)',
    ],
  ])('refuses to %s a request already decided by %s, and changes nothing', async (second, first, message) => {
    await certificateWithDependents();
    expect((await cli.run(first, 'web-1')).code).toBe(0);
    const before = await withStore((s) => s.get({ ...CR, name: 'web-1', namespace: NS }));
    const run = await cli.run(second, 'web-1');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(message);
    expect(run.stderr).toContain('hint: an approval or denial is final');
    const after = await withStore((s) => s.get({ ...CR, name: 'web-1', namespace: NS }));
    expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
  });

  it('exits 1 for a request that does not exist and 2 for an empty or oversized reason', async () => {
    expect((await cli.run('approve', 'ghost')).code).toBe(1);
    const empty = await cli.run('approve', 'x', '--reason', ' ');
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain('--reason must not be empty');
    const long = await cli.run('deny', 'x', '--message', 'm'.repeat(5000));
    expect(long.code).toBe(2);
    expect(long.stderr).toContain('--message must be at most 4096 characters');
  });
});

async function addEvent(store: Store, over: Partial<Event> & { name: string }): Promise<void> {
  const { name, ...rest } = over;
  await store.create({
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name, namespace: NS },
    involvedObject: { apiVersion: CERT.apiVersion, kind: 'Certificate', name: 'istio-ca', namespace: NS },
    reason: 'Issuing',
    message: 'Issuing certificate as Secret does not exist',
    type: 'Normal',
    count: 1,
    source: { component: 'meshca' },
    ...rest,
  });
}

describe('Events in describe and status', () => {
  it("lists the events of the object oldest first with their age and count, and no one else's", async () => {
    await cli.run('init');
    await withStore(async (store) => {
      const cert = await store.get({ ...CERT, name: 'istio-ca', namespace: NS });
      await addEvent(store, {
        name: 'istio-ca.0000000000000002',
        reason: 'Issued',
        message: 'The certificate has been successfully issued',
        lastTimestamp: '2026-11-22T11:58:00Z',
      });
      await addEvent(store, {
        name: 'istio-ca.0000000000000001',
        reason: 'Issuing',
        lastTimestamp: '2026-11-22T11:00:00Z',
        count: 3,
      });
      await addEvent(store, {
        name: 'istio-ca.0000000000000003',
        type: 'Warning',
        reason: 'Failed',
        message: 'of an older object with the same name',
        lastTimestamp: '2026-11-22T11:59:00Z',
        involvedObject: {
          apiVersion: CERT.apiVersion,
          kind: 'Certificate',
          name: 'istio-ca',
          namespace: NS,
          uid: `not-${cert.metadata.uid ?? ''}`,
        },
      });
      await addEvent(store, {
        name: 'istio-root-ca.0000000000000001',
        message: 'another object',
        involvedObject: {
          apiVersion: CERT.apiVersion,
          kind: 'Certificate',
          name: 'istio-root-ca',
          namespace: NS,
        },
      });
    });
    const run = await cli.run('describe', 'certificate', 'istio-ca');
    const events = run.stdout.slice(run.stdout.indexOf('Events:'));
    expect(events.split('\n')).toEqual([
      'Events:',
      expect.stringMatching(/^ {2}Type\s+Reason\s+Age\s+From\s+Message$/),
      expect.stringMatching(
        /^ {2}Normal\s+Issuing\s+60m \(x3\)\s+meshca\s+Issuing certificate as Secret does not exist$/,
      ),
      expect.stringMatching(
        /^ {2}Normal\s+Issued\s+2m\s+meshca\s+The certificate has been successfully issued$/,
      ),
      '',
    ]);
    const status = await cli.run('status', 'certificate', 'istio-ca');
    expect(status.stdout).toMatch(/Events:\n {2}Type.*\n {2}Normal\s+Issuing/);
    expect((await cli.run('get', 'events')).stdout).toContain('istio-root-ca.0000000000000001');
  });

  it("finds events by the controllers' uid label and orders those of one second by write order", async () => {
    await cli.run('init');
    await withStore(async (store) => {
      const cert = await store.get({ ...CERT, name: 'istio-ca', namespace: NS });
      const uid = cert.metadata.uid ?? '';
      const labelled = (name: string, reason: string): Promise<void> =>
        addEvent(store, {
          name,
          reason,
          lastTimestamp: '2026-11-22T11:59:00Z',
          involvedObject: {
            apiVersion: CERT.apiVersion,
            kind: 'Certificate',
            name: 'istio-ca',
            namespace: NS,
            uid,
          },
        }).then(async () => {
          const e = await store.get({ apiVersion: 'v1', kind: 'Event', name, namespace: NS });
          await store.update({
            ...e,
            metadata: { ...e.metadata, labels: { 'meshca.io/involved-uid': uid } },
          });
        });
      // Names sort opposite to write order, so only the write order can put Issuing first.
      await labelled('istio-ca.ffff', 'Issuing');
      await labelled('istio-ca.aaaa', 'Issued');
    });
    const out = (await cli.run('describe', 'certificate', 'istio-ca')).stdout;
    expect(out).toMatch(/Normal\s+Issuing\s+60s[^\n]*\n\s+Normal\s+Issued\s+60s/);
  });

  it('says <none> for an object without events', async () => {
    await cli.run('init');
    expect((await cli.run('describe', 'issuer', 'istio-ca-issuer')).stdout).toContain('Events:  <none>\n');
  });
});

describe('meshca status certificate', () => {
  it('shows conditions, SANs, issuer, the stored certificate and the timeline', async () => {
    await cli.run('init');
    const run = await cli.run('status', 'certificate', 'istio-ca');
    expect(run.code).toBe(0);
    const out = run.stdout;
    // The store stamps creation with its own clock, so only the form is checked.
    expect(out).toMatch(
      /^Name: istio-ca\nNamespace: istio-system\nCreated at: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\nConditions:\n {2}Ready: True, Reason: Ready/,
    );
    expect(out).toContain('URIs:\n- spiffe://cluster.local');
    expect(out).toContain('Issuer:\n  Name: istio-intermediate-ca\n  Kind: Issuer\n  Type: ca\n');
    expect(out).toContain(
      'Secret:\n  Name: istio-ca\n  Issuer: CN=meshca root CA (cluster.local)\n  Subject: CN=istio-intermediate-ca.cluster.local',
    );
    expect(out).toContain('  Not After: 2026-12-22T12:00:00.000Z (in 30d 0h)');
    expect(out).toContain('  Key Usages: digitalSignature, keyCertSign, cRLSign');
    expect(out).toMatch(/ {2}SHA-256 Fingerprint: ([0-9A-F]{2}:){31}[0-9A-F]{2}\n/);
    expect(out).toContain('Renewal Time: 2026-12-12T12:00:00Z (in 20d 0h)');
    expect(out).toContain('No CertificateRequest found for this Certificate');
  });

  it('shows the request of the issuance in progress', async () => {
    await certificateWithDependents();
    await withStore(async (store) => {
      const c = await store.get({ ...CERT, name: 'web', namespace: NS });
      await store.updateStatus({
        ...c,
        status: { revision: 1, conditions: [{ type: 'Issuing', status: 'True', reason: 'Renewing' }] },
      });
    });
    await cli.run('approve', 'web-2');
    const out = (await cli.run('status', 'cert', 'web')).stdout;
    expect(out).toContain(
      'CertificateRequest:\n  Name: web-2\n  Namespace: istio-system\n  Conditions:\n    Approved: True, Reason: cert-manager.io',
    );
  });

  it('says what is missing: the issuer and the Secret', async () => {
    await certificateWithDependents();
    await withStore((s) => s.delete({ apiVersion: 'v1', kind: 'Secret', name: 'web-tls', namespace: NS }));
    const out = (await cli.run('status', 'certificate', 'web')).stdout;
    expect(out).toContain('Issuer:\n  error: Issuer "ca" not found in namespace istio-system');
    expect(out).toContain('Secret:\n  Name: web-tls\n  error: the Secret does not exist yet');
    expect(out).toContain('Not After: <none>');
  });

  it('exits 1 for a missing Certificate and 2 for another kind', async () => {
    expect((await cli.run('status', 'certificate', 'ghost')).code).toBe(1);
    const other = await cli.run('status', 'issuer', 'x');
    expect(other.code).toBe(2);
    expect(other.stderr).toContain('status shows certificates only, not issuer');
  });
});

describe('help of the certificate commands', () => {
  it.each([['apply'], ['delete'], ['renew'], ['status'], ['approve'], ['deny']])(
    'prints help for %s and exits 0',
    async (command) => {
      const run = await cli.run(command, '--help');
      expect(run.code).toBe(0);
      expect(run.stdout).toContain(`Usage: meshca ${command}`);
    },
  );
});
