import { afterEach, describe, expect, it } from 'vitest';
import { getCondition } from '../../api/conditions.js';
import type { Resource } from '../../api/resource.js';
import { secretData } from '../../api/secret-data.js';
import { parseCertificates } from '../../pki/index.js';
import { readJksEntries, readPkcs12Certificates } from '../../pki/keystore/testing/read-keystores.js';
import { LifecycleHarness, NS, certificate, issuer } from '../testing/lifecycle-harness.js';
import type { CertificateObject, RequestObject } from './certificate-resources.js';

let h: LifecycleHarness;
afterEach(async () => {
  await h.close();
});

const cert = async (name: string): Promise<CertificateObject> => {
  const c = await h.get<CertificateObject>('Certificate', name);
  if (c === undefined) throw new Error(`no certificate ${name}`);
  return c;
};
const passwordSecret = (name: string, data: Record<string, string>): Resource => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace: NS },
  data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
});
/** A PFX starts with SEQUENCE { INTEGER 3 …: enough to tell a PKCS#12 file from anything else. */
const isPfx = (bytes: Buffer | undefined): boolean =>
  bytes !== undefined && bytes[0] === 0x30 && bytes.includes(Buffer.from([0x02, 0x01, 0x03]));

async function caPlatform(): Promise<void> {
  await h.apply(
    issuer('selfsigned', { selfSigned: {} }),
    certificate('root-ca', { isCA: true, commonName: 'mesh root', issuerRef: { name: 'selfsigned' } }),
    issuer('ca', { ca: { secretName: 'root-ca' } }),
  );
}

describe('keystores and otherNames in the certificate lifecycle', () => {
  it('writes keystore.p12 and truststore.p12 with the password from the referenced Secret', async () => {
    h = new LifecycleHarness();
    await caPlatform();
    await h.apply(
      passwordSecret('p12-password', { password: 'changeit' }),
      certificate('web', {
        dnsNames: ['web.local'],
        issuerRef: { name: 'ca' },
        keystores: {
          pkcs12: { create: true, passwordSecretRef: { name: 'p12-password' }, profile: 'Modern2023' },
        },
      }),
    );
    await h.settle();
    expect(getCondition((await cert('web')).status?.conditions, 'Ready')?.status).toBe('True');
    const secret = (await h.get('Secret', 'web'))!;
    expect(isPfx(secretData(secret, 'keystore.p12'))).toBe(true);
    expect(isPfx(secretData(secret, 'truststore.p12'))).toBe(true);
    expect(secretData(secret, 'keystore.jks')).toBeUndefined();
    // keystore.p12 holds the leaf and then ca.crt's root, as cert-manager's keystore does.
    const pem = (k: string): Buffer[] =>
      parseCertificates(secretData(secret, k)!.toString('latin1')).map((c) => c.der);
    expect(readPkcs12Certificates(secretData(secret, 'keystore.p12')!, 'changeit')).toEqual([
      ...pem('tls.crt'),
      ...pem('ca.crt'),
    ]);
    expect(pem('ca.crt')).toHaveLength(1);
  });

  it('writes keystore.jks and truststore.jks with the literal password, and drops them when create turns false', async () => {
    h = new LifecycleHarness();
    await caPlatform();
    await h.apply(
      certificate('web', {
        dnsNames: ['web.local'],
        issuerRef: { name: 'ca' },
        keystores: { jks: { create: true, password: 'changeit', alias: 'web' } },
      }),
    );
    await h.settle();
    const secret = (await h.get('Secret', 'web'))!;
    const jks = secretData(secret, 'keystore.jks');
    expect(jks?.readUInt32BE(0)).toBe(0xfeedfeed);
    expect(jks?.includes(Buffer.from([0, 3, ...Buffer.from('web')]))).toBe(true);
    expect(secretData(secret, 'truststore.jks')?.readUInt32BE(0)).toBe(0xfeedfeed);
    expect(secretData(secret, 'keystore.p12')).toBeUndefined();
    const c = await cert('web');
    await h.store.update({
      ...c,
      spec: { ...c.spec, keystores: { jks: { create: false, password: 'changeit' } } },
    });
    await h.settle();
    const after = (await h.get('Secret', 'web'))!;
    expect(secretData(after, 'keystore.jks')).toBeUndefined();
    expect(secretData(after, 'truststore.jks')).toBeUndefined();
    expect((await cert('web')).status?.revision).toBe(1);
  });

  it('keeps the signed request while the password Secret is missing, names the Secret in the Issuing condition, and issues as soon as the Secret is created and fixed, without a backoff', async () => {
    // cert-manager: a password it cannot read is an error of the sync, retried; the request stays.
    h = new LifecycleHarness();
    await caPlatform();
    await h.apply(
      certificate('web', {
        dnsNames: ['web.local'],
        issuerRef: { name: 'ca' },
        keystores: { pkcs12: { create: true, passwordSecretRef: { name: 'p12-password', key: 'pw' } } },
      }),
    );
    const first = await h.settle();
    const waiting = await cert('web');
    expect(waiting.status?.failedIssuanceAttempts).toBeUndefined();
    expect(waiting.status?.lastFailureTime).toBeUndefined();
    expect(getCondition(waiting.status?.conditions, 'Issuing')).toMatchObject({
      status: 'True',
      reason: 'DoesNotExist',
      message: `Waiting for the keystore password: the PKCS#12 keystore password Secret "${NS}/p12-password" does not exist (create it with the key "pw" holding the password); the certificate signed for request web-1 is kept and stored as soon as the password can be read`,
    });
    // The signed request and the next key stay; nothing waits out a backoff.
    const request = (await h.get<RequestObject>('CertificateRequest', 'web-1'))!;
    expect(getCondition(request.status?.conditions, 'Ready')?.status).toBe('True');
    expect(waiting.status?.nextPrivateKeySecretName).toBeDefined();
    expect(await h.get('Secret', waiting.status!.nextPrivateKeySecretName!)).toBeDefined();
    expect(await h.get('Secret', 'web')).toBeUndefined();
    expect(first.wakeUps.get(`certificates-trigger Certificate ${NS}/web`)).toBeUndefined();
    const retry = first.wakeUps.get(`certificates-issuing Certificate ${NS}/web`);
    expect(retry!.getTime() - h.now.getTime()).toBeLessThanOrEqual(5 * 60_000);

    // Created with the wrong key: noticed at once (no clock move), the message says what is wrong.
    await h.apply(passwordSecret('p12-password', { password: 'wrong key', pw: '' }));
    await h.settle();
    const still = await cert('web');
    expect(getCondition(still.status?.conditions, 'Issuing')?.message).toContain(
      `the PKCS#12 keystore password in Secret "${NS}/p12-password" key "pw" is empty`,
    );
    expect(still.status?.failedIssuanceAttempts).toBeUndefined();

    // Fixed: issued at once, from the request signed the first time.
    const secretNow = (await h.get('Secret', 'p12-password'))!;
    await h.store.update({ ...secretNow, data: { pw: Buffer.from('s3cret').toString('base64') } });
    await h.settle();
    const done = await cert('web');
    expect(done.status?.revision).toBe(1);
    expect(done.status?.failedIssuanceAttempts).toBeUndefined();
    expect(getCondition(done.status?.conditions, 'Issuing')).toBeUndefined();
    expect(getCondition(done.status?.conditions, 'Ready')?.status).toBe('True');
    const secret = (await h.get('Secret', 'web'))!;
    const [leaf] = parseCertificates(secretData(secret, 'tls.crt')!.toString('latin1'));
    const [signed] = parseCertificates(
      Buffer.from(request.status!.certificate!, 'base64').toString('latin1'),
    );
    expect(leaf?.der.equals(signed!.der)).toBe(true);
    expect(readPkcs12Certificates(secretData(secret, 'keystore.p12')!, 's3cret')[0]?.equals(leaf!.der)).toBe(
      true,
    );
  });

  it('completes a rotationPolicy Never renewal as soon as the deleted password Secret is back, with the request signed at the renewal', async () => {
    h = new LifecycleHarness();
    await caPlatform();
    await h.apply(
      passwordSecret('p12-password', { password: 'changeit' }),
      certificate('web', {
        dnsNames: ['web.local'],
        duration: '24h',
        issuerRef: { name: 'ca' },
        privateKey: { algorithm: 'ECDSA', size: 256, rotationPolicy: 'Never' },
        keystores: { pkcs12: { create: true, passwordSecretRef: { name: 'p12-password' } } },
      }),
    );
    await h.settle();
    const issued = await cert('web');
    expect(issued.status?.revision).toBe(1);
    const key = secretData((await h.get('Secret', 'web'))!, 'tls.key');
    await h.store.delete({ apiVersion: 'v1', kind: 'Secret', namespace: NS, name: 'p12-password' });
    const renewal = new Date(issued.status!.renewalTime!);
    expect(renewal).toEqual(new Date('2030-01-01T16:00:00Z'));
    const waitingRun = await h.advanceTo(renewal);
    const waiting = await cert('web');
    expect(waiting.status?.failedIssuanceAttempts).toBeUndefined();
    expect(getCondition(waiting.status?.conditions, 'Issuing')?.message).toContain(
      `the PKCS#12 keystore password Secret "${NS}/p12-password" does not exist`,
    );
    const signed = (await h.get<CertificateObject>('CertificateRequest', 'web-2'))!;
    expect(getCondition(signed.status?.conditions, 'Ready')?.status).toBe('True');
    expect(waitingRun.wakeUps.get(`certificates-trigger Certificate ${NS}/web`)).toBeUndefined();
    // The old certificate stays in the Secret meanwhile.
    expect(isPfx(secretData((await h.get('Secret', 'web'))!, 'keystore.p12'))).toBe(true);
    await h.apply(passwordSecret('p12-password', { password: 'changeit' }));
    await h.settle();
    const done = await cert('web');
    expect(done.status?.revision).toBe(2);
    expect(done.status?.failedIssuanceAttempts).toBeUndefined();
    expect(getCondition(done.status?.conditions, 'Issuing')).toBeUndefined();
    expect(getCondition(done.status?.conditions, 'Ready')?.status).toBe('True');
    const secret = (await h.get('Secret', 'web'))!;
    expect(secretData(secret, 'tls.key')).toEqual(key);
    expect(isPfx(secretData(secret, 'keystore.p12'))).toBe(true);
    expect(new Date(done.status!.notAfter!)).toEqual(new Date('2030-01-02T16:00:00Z'));
    expect((await h.get<CertificateObject>('CertificateRequest', 'web-2'))?.metadata.uid).toBe(
      signed.metadata.uid,
    );
  });

  it('adds the keystore to an issued Secret as soon as its password Secret is created, after the spec asked for it', async () => {
    h = new LifecycleHarness();
    await caPlatform();
    await h.apply(certificate('web', { dnsNames: ['web.local'], issuerRef: { name: 'ca' } }));
    await h.settle();
    const c = await cert('web');
    await h.store.update({
      ...c,
      spec: {
        ...c.spec,
        keystores: { jks: { create: true, passwordSecretRef: { name: 'jks-password' } } },
      },
    });
    await h.settle();
    expect(secretData((await h.get('Secret', 'web'))!, 'keystore.jks')).toBeUndefined();
    // No clock move: the password Secret's creation alone must wake the Certificate.
    await h.apply(passwordSecret('jks-password', { password: 'changeit' }));
    await h.settle();
    const secret = (await h.get('Secret', 'web'))!;
    expect(readJksEntries(secretData(secret, 'keystore.jks')!).map((e) => e.alias)).toEqual([
      'certificate',
      'ca',
    ]);
    expect(secretData(secret, 'truststore.jks')?.readUInt32BE(0)).toBe(0xfeedfeed);
    expect((await cert('web')).status?.revision).toBe(1);
  });

  it('adds the keystore to an issued Secret when asked later, and drops it when no longer asked', async () => {
    h = new LifecycleHarness();
    await caPlatform();
    await h.apply(certificate('web', { dnsNames: ['web.local'], issuerRef: { name: 'ca' } }));
    await h.settle();
    expect(secretData((await h.get('Secret', 'web'))!, 'keystore.p12')).toBeUndefined();
    const c = await cert('web');
    await h.apply(passwordSecret('p12-password', { password: 'x' }));
    await h.store.update({
      ...c,
      spec: {
        ...c.spec,
        keystores: { pkcs12: { create: true, passwordSecretRef: { name: 'p12-password' } } },
      },
    });
    await h.settle();
    const withStore = (await h.get('Secret', 'web'))!;
    expect(isPfx(secretData(withStore, 'keystore.p12'))).toBe(true);
    expect((await cert('web')).status?.revision).toBe(1);
    const c2 = await cert('web');
    await h.store.update({
      ...c2,
      spec: { ...c2.spec, keystores: { pkcs12: { create: false, password: 'x' } } },
    });
    await h.settle();
    const without = (await h.get('Secret', 'web'))!;
    expect(secretData(without, 'keystore.p12')).toBeUndefined();
    expect(secretData(without, 'truststore.p12')).toBeUndefined();
  });

  it('issues a Certificate with otherNames: they are in the certificate and the Secret stays in sync', async () => {
    h = new LifecycleHarness();
    await caPlatform();
    const otherNames = [{ oid: '1.3.6.1.4.1.311.20.2.3', utf8Value: 'alice@example.com' }];
    await h.apply(certificate('upn', { commonName: 'alice', otherNames, issuerRef: { name: 'ca' } }));
    await h.settle();
    const c = await cert('upn');
    expect(getCondition(c.status?.conditions, 'Ready')?.status).toBe('True');
    const [leaf] = parseCertificates(
      secretData((await h.get('Secret', 'upn'))!, 'tls.crt')!.toString('latin1'),
    );
    expect(leaf?.sans.otherNames).toEqual(otherNames);
    // A changed otherName is a spec mismatch: a new revision carries it.
    await h.store.update({
      ...c,
      spec: { ...c.spec, otherNames: [{ oid: '1.3.6.1.4.1.311.20.2.3', utf8Value: 'bob@example.com' }] },
    });
    await h.settle();
    expect((await cert('upn')).status?.revision).toBe(2);
    const [next] = parseCertificates(
      secretData((await h.get('Secret', 'upn'))!, 'tls.crt')!.toString('latin1'),
    );
    expect(next?.sans.otherNames).toEqual([{ oid: '1.3.6.1.4.1.311.20.2.3', utf8Value: 'bob@example.com' }]);
  });
});
