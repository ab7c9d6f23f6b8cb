import { afterEach, describe, expect, it } from 'vitest';
import { getCondition, setCondition } from '../../api/conditions.js';
import type { Resource } from '../../api/resource.js';
import { secretData } from '../../api/secret-data.js';
import {
  encodePrivateKey,
  generatePrivateKey,
  issueCertificate,
  parseCertificates,
  parsePrivateKey,
  publicKeysEqual,
  verifyChain,
} from '../../pki/index.js';
import { LifecycleHarness, NS, certificate, issuer } from '../testing/lifecycle-harness.js';
import type { CertificateObject, RequestObject } from './certificate-resources.js';

const HOUR = 3_600_000;
let h: LifecycleHarness;
afterEach(async () => {
  await h.close();
});

const text = (secret: Resource | undefined, key: string): string => {
  if (secret === undefined) throw new Error('no secret');
  return secretData(secret, key)?.toString('utf8') ?? '';
};
const cert = async (name: string): Promise<CertificateObject> => {
  const c = await h.get<CertificateObject>('Certificate', name);
  if (c === undefined) throw new Error(`no certificate ${name}`);
  return c;
};
const ready = async (name: string): Promise<string | undefined> =>
  getCondition((await cert(name)).status?.conditions, 'Ready')?.status;

/** DESIGN §1 in resources: selfSigned → root → CA issuer → istio-ca (isCA, 720h) → istio-ca-issuer. */
async function referencePlatform(extra: Record<string, string> = {}): Promise<void> {
  await h.apply(
    issuer('selfsigned', { selfSigned: {} }),
    certificate('root-ca', {
      isCA: true,
      commonName: 'mesh root',
      duration: '87600h',
      issuerRef: { name: 'selfsigned' },
    }),
    issuer('istio-intermediate-ca', { ca: { secretName: 'root-ca' } }),
    certificate(
      'istio-ca',
      {
        isCA: true,
        commonName: 'istio-intermediate-ca.cluster.local',
        duration: '720h',
        usages: ['digital signature', 'cert sign', 'crl sign'],
        issuerRef: { name: 'istio-intermediate-ca' },
      },
      extra,
    ),
    issuer('istio-ca-issuer', { ca: { secretName: 'istio-ca' } }),
  );
}

/**
 * A self-signed Certificate `web` issued once, and a certificate for its key naming `dnsNames`
 * (base64 PEM), to put where the issuer's answer or the Secret's tls.crt is.
 */
async function issuedWebAndCertificateFor(dnsNames: string[]): Promise<{ secret: Resource; pemB64: string }> {
  h = new LifecycleHarness();
  await h.apply(
    issuer('selfsigned', { selfSigned: {} }),
    certificate('web', { dnsNames: ['web.local'], issuerRef: { name: 'selfsigned' } }),
  );
  await h.settle();
  const secret = (await h.get('Secret', 'web'))!;
  const key = parsePrivateKey(secretData(secret, 'tls.key')!);
  const other = issueCertificate({ publicKey: key, sans: { dnsNames }, lifetimeMs: 90 * 24 * HOUR }, { selfSigned: key }, { now: h.now });
  return { secret, pemB64: Buffer.from(other.pem).toString('base64') };
}

describe('the certificate lifecycle, driven to convergence', () => {
  it('takes a self-signed Certificate from nothing to Ready with the Secret cert-manager would write', async () => {
    h = new LifecycleHarness();
    await h.apply(
      issuer('selfsigned', { selfSigned: {} }),
      certificate('root-ca', { isCA: true, commonName: 'mesh root', issuerRef: { name: 'selfsigned' } }),
    );
    await h.settle();
    const c = await cert('root-ca');
    expect(c.status?.revision).toBe(1);
    expect(getCondition(c.status?.conditions, 'Ready')).toMatchObject({ status: 'True', reason: 'Ready' });
    expect(getCondition(c.status?.conditions, 'Issuing')).toBeUndefined();
    expect(c.status?.nextPrivateKeySecretName).toBeUndefined();
    const secret = await h.get('Secret', 'root-ca');
    expect(secret?.['type']).toBe('kubernetes.io/tls');
    const [leaf] = parseCertificates(text(secret, 'tls.crt'));
    expect(leaf?.isCA).toBe(true);
    expect(leaf?.subject.commonName).toBe('mesh root');
    expect(publicKeysEqual(parsePrivateKey(text(secret, 'tls.key')), leaf!.publicKey)).toBe(true);
    expect(text(secret, 'ca.crt')).toBe(leaf?.pem);
    expect(secret?.metadata.annotations).toMatchObject({
      'cert-manager.io/certificate-name': 'root-ca',
      'cert-manager.io/issuer-name': 'selfsigned',
      'cert-manager.io/issuer-kind': 'Issuer',
      'cert-manager.io/issuer-group': 'cert-manager.io',
      'cert-manager.io/common-name': 'mesh root',
    });
    // One request for revision 1, approved and issued; the temporary key Secret is gone.
    expect(await h.names('CertificateRequest')).toEqual(['root-ca-1']);
    const cr = await h.get<RequestObject>('CertificateRequest', 'root-ca-1');
    expect(getCondition(cr?.status?.conditions, 'Approved')).toMatchObject({
      status: 'True',
      reason: 'cert-manager.io',
    });
    expect(getCondition(cr?.status?.conditions, 'Ready')).toMatchObject({ status: 'True', reason: 'Issued' });
    expect(await h.names('Secret')).toEqual(['root-ca']);
    const reasons = (
      await h.store.list<Resource>({ apiVersion: 'v1', kind: 'Event' }, { namespace: NS })
    ).items.map((e) => e['reason']);
    expect(reasons.sort()).toEqual(['Generated', 'Issued', 'Issuing', 'Requested']);
    expect(await h.registry.getSingleMetricAsString('certmanager_certificate_ready_status')).toContain(
      'certmanager_certificate_ready_status{name="root-ca",namespace="istio-system",issuer_name="selfsigned",issuer_kind="",issuer_group="",condition="True"} 1',
    );
  });

  it('builds the reference chain: a leaf signed by istio-ca-issuer verifies up to the root', async () => {
    h = new LifecycleHarness();
    await referencePlatform({ 'meshca.io/istiod-cacerts': 'true' });
    await h.apply(
      certificate('web', {
        dnsNames: ['web.example.com'],
        uris: ['spiffe://cluster.local/ns/default/sa/web'],
        duration: '24h',
        issuerRef: { name: 'istio-ca-issuer' },
        additionalOutputFormats: [{ type: 'CombinedPEM' }, { type: 'DER' }],
      }),
    );
    await h.settle();
    for (const name of ['root-ca', 'istio-ca', 'web']) expect(await ready(name)).toBe('True');
    const web = await h.get('Secret', 'web');
    const [leaf, ...chain] = parseCertificates(text(web, 'tls.crt'));
    const roots = parseCertificates(text(web, 'ca.crt'));
    expect(chain.map((c) => c.subject.commonName)).toEqual(['istio-intermediate-ca.cluster.local']);
    expect(verifyChain(leaf!, { intermediates: chain, roots, at: h.now })).toMatchObject({ ok: true });
    expect(leaf?.notAfter.getTime()).toBe(h.now.getTime() + 24 * HOUR);
    // additionalOutputFormats: CombinedPEM is key then chain; DER is the key alone.
    expect(text(web, 'tls-combined.pem')).toBe(text(web, 'tls.key') + text(web, 'tls.crt'));
    expect(publicKeysEqual(parsePrivateKey(secretData(web!, 'key.der')!), leaf!.publicKey)).toBe(true);
    // istiod plug-in layout on the intermediate.
    const ca = await h.get('Secret', 'istio-ca');
    const caCert = parseCertificates(text(ca, 'ca-cert.pem'));
    expect(caCert.map((c) => c.subject.commonName)).toEqual(['istio-intermediate-ca.cluster.local']);
    expect(text(ca, 'ca-key.pem')).toBe(text(ca, 'tls.key'));
    expect(parseCertificates(text(ca, 'cert-chain.pem')).map((c) => c.subject.commonName)).toEqual([
      'istio-intermediate-ca.cluster.local',
      'mesh root',
    ]);
    expect(text(ca, 'root-cert.pem')).toBe(text(ca, 'ca.crt'));
    expect(text(web, 'ca-cert.pem')).toBe('');
  });

  it('renews at the renewal time with a new key under rotationPolicy Always', async () => {
    h = new LifecycleHarness();
    await referencePlatform();
    await h.apply(
      certificate('web', { dnsNames: ['web.local'], duration: '3h', issuerRef: { name: 'istio-ca-issuer' } }),
    );
    await h.settle();
    const first = await cert('web');
    const firstKey = text(await h.get('Secret', 'web'), 'tls.key');
    const renewal = new Date(first.status!.renewalTime!);
    expect(renewal.getTime()).toBe(h.now.getTime() + 2 * HOUR);
    const early = await h.advanceTo(new Date(renewal.getTime() - 1000));
    expect((await cert('web')).status?.revision).toBe(1);
    expect(early.wakeUps.get('certificates-trigger Certificate istio-system/web')).toEqual(renewal);
    await h.advanceTo(renewal);
    const second = await cert('web');
    expect(second.status?.revision).toBe(2);
    expect(getCondition(second.status?.conditions, 'Ready')?.status).toBe('True');
    expect(text(await h.get('Secret', 'web'), 'tls.key')).not.toBe(firstKey);
    expect(second.status?.renewalTime).toBe(
      new Date(renewal.getTime() + 2 * HOUR).toISOString().replace('.000Z', 'Z'),
    );
    // revisionHistoryLimit defaults to 1: only the current request is kept.
    expect((await h.names('CertificateRequest')).filter((n) => n.startsWith('web-'))).toEqual(['web-2']);
  });

  it('keeps the key across renewals under rotationPolicy Never', async () => {
    h = new LifecycleHarness();
    await referencePlatform();
    await h.apply(
      certificate('web', {
        dnsNames: ['web.local'],
        duration: '3h',
        revisionHistoryLimit: 2,
        privateKey: { algorithm: 'ECDSA', size: 256, rotationPolicy: 'Never' },
        issuerRef: { name: 'istio-ca-issuer' },
      }),
    );
    await h.settle();
    const key = text(await h.get('Secret', 'web'), 'tls.key');
    const serial = parseCertificates(text(await h.get('Secret', 'web'), 'tls.crt'))[0]?.serialNumber;
    for (let i = 0; i < 2; i++) await h.advanceTo(new Date((await cert('web')).status!.renewalTime!));
    expect((await cert('web')).status?.revision).toBe(3);
    expect(text(await h.get('Secret', 'web'), 'tls.key')).toBe(key);
    expect(parseCertificates(text(await h.get('Secret', 'web'), 'tls.crt'))[0]?.serialNumber).not.toBe(
      serial,
    );
    expect((await h.names('CertificateRequest')).filter((n) => n.startsWith('web-'))).toEqual([
      'web-2',
      'web-3',
    ]);
  });

  it('re-issues when the spec changes (SecretMismatch) and when the issuerRef changes (IncorrectIssuer)', async () => {
    h = new LifecycleHarness();
    await referencePlatform();
    await h.apply(certificate('web', { dnsNames: ['a.local'], issuerRef: { name: 'istio-ca-issuer' } }));
    await h.settle();
    const c = await cert('web');
    await h.store.update({ ...c, spec: { ...c.spec, dnsNames: ['a.local', 'b.local'] } });
    await h.settle();
    const [leaf] = parseCertificates(text(await h.get('Secret', 'web'), 'tls.crt'));
    expect(leaf?.sans.dnsNames).toEqual(['a.local', 'b.local']);
    expect((await cert('web')).status?.revision).toBe(2);
    const events = (await h.store.list<Resource>({ apiVersion: 'v1', kind: 'Event' }, { namespace: NS }))
      .items;
    expect(events.some((e) => e['reason'] === 'Issuing' && String(e['message']).includes('dnsNames'))).toBe(
      true,
    );
    const c2 = await cert('web');
    await h.store.update({
      ...c2,
      spec: {
        ...c2.spec,
        issuerRef: { name: 'istio-intermediate-ca', kind: 'Issuer', group: 'cert-manager.io' },
      },
    });
    await h.settle();
    expect((await cert('web')).status?.revision).toBe(3);
    expect((await h.get('Secret', 'web'))?.metadata.annotations?.['cert-manager.io/issuer-name']).toBe(
      'istio-intermediate-ca',
    );
  });

  it('re-issues at once on a manual renew (Issuing=True, ManuallyTriggered), even during a backoff', async () => {
    h = new LifecycleHarness();
    await referencePlatform();
    await h.apply(certificate('web', { dnsNames: ['web.local'], issuerRef: { name: 'istio-ca-issuer' } }));
    await h.settle();
    const c = await cert('web');
    const status = {
      ...c.status,
      failedIssuanceAttempts: 3,
      lastFailureTime: h.now.toISOString(),
      conditions: setCondition(
        c.status?.conditions,
        {
          type: 'Issuing',
          status: 'True',
          reason: 'ManuallyTriggered',
          message: 'Certificate re-issuance manually triggered',
        },
        h.now,
      ),
    };
    await h.store.updateStatus({ ...c, status });
    await h.settle();
    const after = await cert('web');
    expect(after.status?.revision).toBe(2);
    expect(after.status?.failedIssuanceAttempts).toBeUndefined();
  });

  it('backs off after a failed issuance and tries again when the backoff ends', async () => {
    h = new LifecycleHarness();
    await h.apply(
      issuer('upstream', {
        vault: {
          server: 'https://vault.local',
          // Not a signing path: a final failure, before Vault is asked.
          path: 'pki/issue/mesh',
          auth: { tokenSecretRef: { name: 't' } },
        },
      }),
      certificate('web', { dnsNames: ['web.local'], issuerRef: { name: 'upstream' } }),
    );
    const first = await h.settle();
    const failed = await cert('web');
    expect(failed.status?.failedIssuanceAttempts).toBe(1);
    expect(failed.status?.lastFailureTime).toBe('2030-01-01T00:00:00Z');
    expect(getCondition(failed.status?.conditions, 'Issuing')).toMatchObject({
      status: 'False',
      reason: 'Failed',
    });
    expect(getCondition(failed.status?.conditions, 'Issuing')?.message).toContain(
      'spec.vault.path "pki/issue/mesh" is not a Vault PKI signing path',
    );
    expect(first.wakeUps.get('certificates-trigger Certificate istio-system/web')).toEqual(
      new Date('2030-01-01T01:00:00Z'),
    );
    // The issuer is fixed, but the backoff holds until it ends.
    await h.apply(
      issuer('selfsigned', { selfSigned: {} }),
      certificate('up-ca', { isCA: true, commonName: 'up', issuerRef: { name: 'selfsigned' } }),
    );
    const up = (await h.get('Issuer', 'upstream'))!;
    await h.store.update({ ...up, spec: { ca: { secretName: 'up-ca' } } });
    await h.advanceTo(new Date('2030-01-01T00:59:59Z'));
    expect((await cert('web')).status?.revision).toBeUndefined();
    await h.advanceTo(new Date('2030-01-01T01:00:00Z'));
    const done = await cert('web');
    expect(done.status?.revision).toBe(1);
    expect(done.status?.failedIssuanceAttempts).toBeUndefined();
    expect(done.status?.lastFailureTime).toBeUndefined();
    expect(await h.names('CertificateRequest')).toContain('web-1');
  });

  it('tries once more shortly before the current certificate expires when the backoff would end after it', async () => {
    h = new LifecycleHarness();
    await h.apply(
      issuer('selfsigned', { selfSigned: {} }),
      certificate('up-ca', { isCA: true, commonName: 'up', issuerRef: { name: 'selfsigned' } }),
      issuer('upstream', { ca: { secretName: 'up-ca' } }),
      certificate('web', { dnsNames: ['web.local'], duration: '24h', issuerRef: { name: 'upstream' } }),
    );
    await h.settle();
    expect((await cert('web')).status?.notAfter).toBe('2030-01-02T00:00:00Z');
    // The issuer breaks before the renewal (16h): failures at 16h, 17h, 19h and 23h.
    const up = (await h.get('Issuer', 'upstream'))!;
    await h.store.update({
      ...up,
      spec: {
        vault: {
          server: 'https://vault.local',
          path: 'pki/issue/mesh',
          auth: { tokenSecretRef: { name: 't' } },
        },
      },
    });
    let wake = new Date('2030-01-01T16:00:00Z');
    for (const [n, next] of [
      [1, '2030-01-01T17:00:00Z'],
      [2, '2030-01-01T19:00:00Z'],
      [3, '2030-01-01T23:00:00Z'],
      // cert-manager's backoff says 23h + 8h = 31h, 7h after the expiry; meshca: 30 min before it.
      [4, '2030-01-01T23:30:00Z'],
    ] as const) {
      const run = await h.advanceTo(wake);
      expect((await cert('web')).status?.failedIssuanceAttempts).toBe(n);
      wake = run.wakeUps.get('certificates-trigger Certificate istio-system/web')!;
      expect(wake).toEqual(new Date(next));
    }
    // Fixed at 23:01: the last attempt before the expiry issues.
    h.now = new Date('2030-01-01T23:01:00Z');
    const broken = (await h.get('Issuer', 'upstream'))!;
    await h.store.update({ ...broken, spec: { ca: { secretName: 'up-ca' } } });
    await h.advanceTo(wake);
    const done = await cert('web');
    expect(done.status?.revision).toBe(2);
    expect(done.status?.failedIssuanceAttempts).toBeUndefined();
    expect(done.status?.notAfter).toBe('2030-01-02T23:30:00Z');
    expect(await ready('web')).toBe('True');
  });

  it('holds back, with backoff, an issuer whose certificate never matches the spec, instead of issuing again at once forever', async () => {
    // Revision 1 as an issuer that adds a name of its own would have answered it: the same key,
    // one DNS name more, in the request's status and in the Secret alike.
    const { secret, pemB64 } = await issuedWebAndCertificateFor(['web.local', 'added-by-issuer.local']);
    expect((await cert('web')).status?.revision).toBe(1);
    const request = (await h.get<RequestObject>('CertificateRequest', 'web-1'))!;
    await h.store.updateStatus({ ...request, status: { ...request.status, certificate: pemB64 } });
    await h.store.update({ ...secret, data: { ...(secret['data'] as Record<string, string>), 'tls.crt': pemB64 } });
    const held = await h.settle();
    const web = await cert('web');
    // Not re-issued: one failure, the first backoff step (1h), and the reason in Issuing and Ready.
    expect(web.status?.revision).toBe(1);
    expect(web.status?.failedIssuanceAttempts).toBe(1);
    expect(getCondition(web.status?.conditions, 'Issuing')).toMatchObject({ status: 'False', reason: 'Failed' });
    expect(getCondition(web.status?.conditions, 'Issuing')?.message).toContain(
      "The issuer's certificate for request web-1 does not match the spec",
    );
    expect(getCondition(web.status?.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'SecretMismatch' });
    expect(held.wakeUps.get('certificates-trigger Certificate istio-system/web')).toEqual(new Date(h.now.getTime() + HOUR));
    expect(await h.names('CertificateRequest')).toEqual(['web-1']);
    // After the backoff it tries again (this issuer now answers correctly).
    await h.advanceTo(new Date(h.now.getTime() + HOUR));
    const again = await cert('web');
    expect(again.status?.revision).toBe(2);
    expect(again.status?.failedIssuanceAttempts).toBeUndefined();
    expect(await ready('web')).toBe('True');
  });

  it('re-issues at once when the Secret holds a certificate the issuer did not return (another writer)', async () => {
    const { secret, pemB64 } = await issuedWebAndCertificateFor(['other.local']);
    await h.store.update({ ...secret, data: { ...(secret['data'] as Record<string, string>), 'tls.crt': pemB64 } });
    await h.settle();
    const web = await cert('web');
    expect(web.status?.revision).toBe(2);
    expect(web.status?.failedIssuanceAttempts).toBeUndefined();
    expect(await ready('web')).toBe('True');
  });

  it('re-issues when the Secret is overwritten without its annotations (found by spec.secretName)', async () => {
    h = new LifecycleHarness();
    await h.apply(
      issuer('selfsigned', { selfSigned: {} }),
      certificate('web', { dnsNames: ['web.local'], issuerRef: { name: 'selfsigned' } }),
    );
    await h.settle();
    expect(await ready('web')).toBe('True');
    // `kubectl create secret tls web --cert … --key … -o yaml | meshca apply`: another key and
    // certificate, and none of cert-manager's annotations.
    const tlsSecret = (name: string, resourceVersion: string | undefined): Resource => {
      const key = generatePrivateKey({ algorithm: 'ECDSA', size: 256 });
      const other = issueCertificate(
        { publicKey: key, sans: { dnsNames: ['other.local'] }, lifetimeMs: 90 * 24 * HOUR },
        { selfSigned: key },
        { now: h.now },
      );
      return {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name, namespace: NS, ...(resourceVersion !== undefined && { resourceVersion }) },
        type: 'kubernetes.io/tls',
        data: {
          'tls.crt': Buffer.from(other.pem).toString('base64'),
          'tls.key': Buffer.from(encodePrivateKey(key, 'PKCS8')).toString('base64'),
        },
      };
    };
    const before = (await h.get('Secret', 'web'))!;
    await h.store.update(tlsSecret('web', before.metadata.resourceVersion));
    await h.settle();
    const web = await cert('web');
    expect(web.status?.revision).toBe(2);
    expect(await ready('web')).toBe('True');
    const secret = await h.get('Secret', 'web');
    expect(secret?.metadata.annotations?.['cert-manager.io/certificate-name']).toBe('web');
    expect(parseCertificates(text(secret, 'tls.crt'))[0]?.sans.dnsNames).toEqual(['web.local']);

    // It follows a changed spec.secretName: the new Secret is watched, the old one no longer.
    await h.store.update({ ...web, spec: { ...web.spec, secretName: 'web-tls' } });
    await h.settle();
    expect((await cert('web')).status?.revision).toBe(3);
    const issued = (await h.get('Secret', 'web-tls'))!;
    await h.store.update(tlsSecret('web-tls', issued.metadata.resourceVersion));
    await h.settle();
    expect((await cert('web')).status?.revision).toBe(4);
    expect(parseCertificates(text(await h.get('Secret', 'web-tls'), 'tls.crt'))[0]?.sans.dnsNames).toEqual([
      'web.local',
    ]);
    const old = (await h.get('Secret', 'web'))!;
    await h.store.update(tlsSecret('web', old.metadata.resourceVersion));
    await h.settle();
    expect((await cert('web')).status?.revision).toBe(4);
    expect(await ready('web')).toBe('True');
  });

  it('keeps a request Pending while its CA issuer has no Secret, and issues once the Secret exists', async () => {
    h = new LifecycleHarness();
    await h.apply(
      issuer('later-ca', { ca: { secretName: 'later-ca' } }),
      certificate('web', { dnsNames: ['web.local'], issuerRef: { name: 'later-ca' } }),
    );
    const pending = await h.settle();
    const cr = await h.get<RequestObject>('CertificateRequest', 'web-1');
    expect(getCondition(cr?.status?.conditions, 'Ready')).toMatchObject({
      status: 'False',
      reason: 'Pending',
    });
    expect(getCondition(cr?.status?.conditions, 'Ready')?.message).toContain('does not exist');
    // The signer retries a pending request with its own backoff (5s doubling), not the issuance backoff.
    const retryAt = pending.wakeUps.get('certificaterequests-signer CertificateRequest istio-system/web-1');
    expect(retryAt!.getTime() - h.now.getTime()).toBeGreaterThanOrEqual(5000);
    expect(retryAt!.getTime() - h.now.getTime()).toBeLessThanOrEqual(300_000);
    expect((await cert('web')).status?.failedIssuanceAttempts).toBeUndefined();
    await h.apply(
      issuer('selfsigned', { selfSigned: {} }),
      certificate('later-ca', { isCA: true, commonName: 'later', issuerRef: { name: 'selfsigned' } }),
    );
    await h.settle();
    expect(await ready('web')).toBe('True');
  });

  it('leaves requests unapproved when approval is off, and issues once one is approved', async () => {
    h = new LifecycleHarness({ approval: false });
    await h.apply(
      issuer('selfsigned', { selfSigned: {} }),
      certificate('root', { isCA: true, commonName: 'r', issuerRef: { name: 'selfsigned' } }),
    );
    await h.settle();
    const cr = (await h.get<RequestObject>('CertificateRequest', 'root-1'))!;
    expect(getCondition(cr.status?.conditions, 'Approved')).toBeUndefined();
    expect((await cert('root')).status?.revision).toBeUndefined();
    await h.store.updateStatus({
      ...cr,
      status: {
        conditions: setCondition(
          [],
          { type: 'Approved', status: 'True', reason: 'cert-manager.io', message: 'approved by hand' },
          h.now,
        ),
      },
    });
    await h.settle();
    expect(await ready('root')).toBe('True');
  });

  it('fails the issuance when its request is denied, and backs off', async () => {
    h = new LifecycleHarness({ approval: false });
    await h.apply(
      issuer('selfsigned', { selfSigned: {} }),
      certificate('root', { isCA: true, commonName: 'r', issuerRef: { name: 'selfsigned' } }),
    );
    await h.settle();
    const cr = (await h.get<RequestObject>('CertificateRequest', 'root-1'))!;
    await h.store.updateStatus({
      ...cr,
      status: {
        conditions: setCondition(
          [],
          { type: 'Denied', status: 'True', reason: 'cert-manager.io', message: 'no roots here' },
          h.now,
        ),
      },
    });
    await h.settle();
    const denied = await h.get<RequestObject>('CertificateRequest', 'root-1');
    expect(getCondition(denied?.status?.conditions, 'Ready')).toMatchObject({
      status: 'False',
      reason: 'Denied',
    });
    const c = await cert('root');
    expect(c.status?.failedIssuanceAttempts).toBe(1);
    expect(getCondition(c.status?.conditions, 'Issuing')?.message).toContain('no roots here');
    expect(c.status?.nextPrivateKeySecretName).toBeUndefined();
    expect(await h.names('Secret')).toEqual([]);
    // After the backoff a new attempt replaces the denied request with a fresh one.
    await h.advanceTo(new Date(h.now.getTime() + HOUR));
    const retry = await h.get<RequestObject>('CertificateRequest', 'root-1');
    expect(getCondition(retry?.status?.conditions, 'Denied')).toBeUndefined();
    expect(retry?.metadata.annotations?.['meshca.io/issuance-attempt']).toBe('1');
  });

  it('reports Ready=False with the reason when the Secret is damaged, and repairs it', async () => {
    h = new LifecycleHarness();
    await h.apply(
      issuer('selfsigned', { selfSigned: {} }),
      certificate('root', { isCA: true, commonName: 'r', issuerRef: { name: 'selfsigned' } }),
    );
    await h.settle();
    const secret = (await h.get('Secret', 'root'))!;
    const data = { ...(secret['data'] as Record<string, string>) };
    delete data['tls.key'];
    await h.store.update({ ...secret, data });
    await h.settle();
    const c = await cert('root');
    expect(c.status?.revision).toBe(2);
    expect(getCondition(c.status?.conditions, 'Ready')?.status).toBe('True');
    const events = (await h.store.list<Resource>({ apiVersion: 'v1', kind: 'Event' }, { namespace: NS }))
      .items;
    expect(
      events.some((e) => e['reason'] === 'Issuing' && String(e['message']).includes('lacks tls.key')),
    ).toBe(true);
  });

  it('reports Expired when the certificate outlives its renewal unrenewed', async () => {
    h = new LifecycleHarness({ approval: false });
    await h.apply(
      issuer('selfsigned', { selfSigned: {} }),
      certificate('root', { isCA: true, commonName: 'r', duration: '2h', issuerRef: { name: 'selfsigned' } }),
    );
    await h.settle();
    const cr = (await h.get<RequestObject>('CertificateRequest', 'root-1'))!;
    await h.store.updateStatus({
      ...cr,
      status: {
        conditions: setCondition(
          [],
          { type: 'Approved', status: 'True', reason: 'cert-manager.io', message: 'ok' },
          h.now,
        ),
      },
    });
    await h.settle();
    await h.advanceTo(new Date(h.now.getTime() + 2 * HOUR));
    const c = await cert('root');
    expect(getCondition(c.status?.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'Expired' });
    expect(getCondition(c.status?.conditions, 'Issuing')).toMatchObject({
      status: 'True',
      reason: 'Renewing',
    });
  });
});
