import { afterEach, describe, expect, it } from 'vitest';
import type { Resource } from '../../api/resource.js';
import { isMeshcaError } from '../../errors/index.js';
import { LifecycleHarness, NS, certificate } from '../testing/lifecycle-harness.js';
import type { CertificateObject } from './certificate-resources.js';
import { keystorePassword } from './keystores.js';

let h: LifecycleHarness;
afterEach(async () => {
  await h.close();
});

const secret = (name: string, data: Record<string, string>): Resource => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace: NS },
  data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
});

describe('keystorePassword', () => {
  it.each<[string, Record<string, unknown>, string]>([
    ['the literal password', { pkcs12: { create: true, password: 'lit' } }, 'lit'],
    [
      'the "password" key when passwordSecretRef names no key',
      { pkcs12: { create: true, passwordSecretRef: { name: 'pw' } } },
      'from-default-key',
    ],
    [
      'the named key',
      { jks: { create: true, passwordSecretRef: { name: 'pw', key: 'other' } } },
      'from-other-key',
    ],
    [
      'NOT_FOUND for a missing Secret',
      { pkcs12: { create: true, passwordSecretRef: { name: 'nope' } } },
      `NOT_FOUND (retryable): the PKCS#12 keystore password Secret "${NS}/nope" does not exist`,
    ],
    [
      'NOT_FOUND for a missing key',
      { jks: { create: true, passwordSecretRef: { name: 'pw', key: 'absent' } } },
      `NOT_FOUND (retryable): the JKS keystore password Secret "${NS}/pw" has no key "absent"`,
    ],
    [
      'NOT_FOUND for an empty password',
      { pkcs12: { create: true, passwordSecretRef: { name: 'pw', key: 'empty' } } },
      `NOT_FOUND (retryable): the PKCS#12 keystore password in Secret "${NS}/pw" key "empty" is empty`,
    ],
    [
      'INVALID_RESOURCE when neither is set',
      { pkcs12: { create: true } },
      'INVALID_RESOURCE: spec.keystores.pkcs12 has neither password nor passwordSecretRef',
    ],
  ])('gives %s', async (_, keystores, expected) => {
    h = new LifecycleHarness();
    await h.apply(secret('pw', { password: 'from-default-key', other: 'from-other-key', empty: '' }));
    const c = certificate('web', { dnsNames: ['web.local'], keystores }) as CertificateObject;
    const format = 'jks' in keystores ? 'jks' : 'pkcs12';
    const got = await keystorePassword(h.store, c, format).catch((err: unknown) =>
      isMeshcaError(err) ? `${err.code}${err.retryable ? ' (retryable)' : ''}: ${err.message}` : String(err),
    );
    expect(got).toBe(expected);
  });
});
