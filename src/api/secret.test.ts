import { describe, expect, it } from 'vitest';
import { decode, issuesOf } from './testing/builders.js';
import { KUBECTL_TLS_SECRET } from './testing/manifests.js';
import { secretData } from './secret-data.js';
import { secretIssues, type Secret } from './secret.js';
import { tlsSecret } from './tls-secret.js';
import { parseResource } from './validate-resource.js';

const CERT = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\n';
const secret = (fields: Record<string, unknown>): Record<string, unknown> => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name: 's', namespace: 'default' },
  ...fields,
});

describe('Secret', () => {
  it('accepts `kubectl create secret tls` output verbatim, creationTimestamp: null included', () => {
    const parsed = parseResource(decode(KUBECTL_TLS_SECRET)) as Secret;
    expect(parsed.type).toBe('kubernetes.io/tls');
    expect(parsed.metadata).toEqual({ name: 'gateway-tls', namespace: 'istio-ingress' });
    expect(secretData(parsed, 'tls.crt')?.toString()).toMatch(/^-----BEGIN CERTIFICATE-----/);
  });

  it('merges stringData into data like the API server, stringData winning, and drops it', () => {
    const parsed = parseResource(
      secret({
        data: { a: Buffer.from('old').toString('base64'), b: 'Yg==' },
        stringData: { a: 'new', c: 'ç' },
      }),
    ) as Secret;
    expect(parsed).not.toHaveProperty('stringData');
    expect(Object.keys(parsed.data ?? {}).sort()).toEqual(['a', 'b', 'c']);
    expect(secretData(parsed, 'a')?.toString()).toBe('new');
    expect(secretData(parsed, 'c')?.toString()).toBe('ç');
  });

  it('defaults the type to Opaque', () => {
    expect((parseResource(secret({ data: {} })) as Secret).type).toBe('Opaque');
  });

  it('accepts an immutable Secret', () => {
    expect(issuesOf(secret({ immutable: true, data: { k: 'dg==' } }))).toEqual([]);
  });

  it.each<[string, Record<string, unknown>, string[]]>([
    [
      'data that is not base64',
      { data: { 'tls.crt': '-----BEGIN' } },
      ['data["tls.crt"]: must be standard base64 with padding (encode with `base64 -w0`)'],
    ],
    [
      'a data key with a slash',
      { data: { 'a/b': 'dg==' } },
      [
        'data["a/b"]: key "a/b": must be a data key: at most 253 letters, digits, "-", "_" or "." (e.g. "tls.crt"), and not "." or ".."',
      ],
    ],
    [
      'a TLS Secret without a key',
      { type: 'kubernetes.io/tls', data: { 'tls.crt': 'dg==' } },
      ['data: a kubernetes.io/tls Secret must hold "tls.key"; add it or change the type'],
    ],
    ['a data value that is a number', { data: { k: 1 } }, ['data.k: must be a string, not the number 1']],
    [
      'a misspelt stringData',
      { stringdata: { k: 'v' } },
      ['stringdata: unknown field; did you mean "stringData"?'],
    ],
    [
      'immutable as a string',
      { immutable: 'yes' },
      ['immutable: must be true or false, not the string "yes"'],
    ],
  ])('rejects %s', (_what, fields, expected) => {
    expect(issuesOf(secret(fields))).toEqual(expected);
  });

  it('counts a TLS key given in stringData as present', () => {
    expect(
      issuesOf(
        secret({ type: 'kubernetes.io/tls', data: { 'tls.crt': 'dg==' }, stringData: { 'tls.key': KEY } }),
      ),
    ).toEqual([]);
  });

  it('rejects a Secret over 1 MiB, as etcd would', () => {
    expect(secretIssues(secret({ stringData: { big: 'x'.repeat(1024 * 1024 + 1) } }))).toEqual([
      {
        path: ['data'],
        message: 'a Secret holds at most 1 MiB of data (this one about 1048577 bytes); split it',
      },
    ]);
  });
});

describe('tlsSecret', () => {
  it('builds a kubernetes.io/tls Secret with cert-manager keys that validates', () => {
    const built = tlsSecret({
      name: 'istio-ca',
      namespace: 'istio-system',
      cert: CERT,
      key: KEY,
      ca: CERT,
      labels: { app: 'istio' },
      annotations: { 'cert-manager.io/certificate-name': 'istio-ca' },
    });
    expect(built.type).toBe('kubernetes.io/tls');
    expect(Object.keys(built.data ?? {}).sort()).toEqual(['ca.crt', 'tls.crt', 'tls.key']);
    expect(secretData(built, 'tls.key')?.toString()).toBe(KEY);
    expect(built.metadata.labels).toEqual({ app: 'istio' });
    expect(parseResource(built)).toEqual(built);
  });

  it('keeps extra keys (bytes or text) but never lets them replace tls.crt, tls.key or ca.crt', () => {
    const built = tlsSecret({
      name: 'a',
      namespace: 'b',
      cert: CERT,
      key: KEY,
      extra: { 'tls.key': 'evil', 'tls-combined.pem': KEY + CERT, 'key.der': new Uint8Array([1, 2, 3]) },
    });
    expect(secretData(built, 'tls.key')?.toString()).toBe(KEY);
    expect(secretData(built, 'key.der')).toEqual(Buffer.from([1, 2, 3]));
    expect(secretData(built, 'ca.crt')).toBeUndefined();
  });
});

describe('secretData', () => {
  it('returns undefined for a key the Secret does not hold, or a Secret without data', () => {
    expect(
      secretData({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'x' } }, 'tls.crt'),
    ).toBeUndefined();
    expect(
      secretData(
        { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'x' }, data: { 'tls.crt': 7 } },
        'tls.crt',
      ),
    ).toBeUndefined();
  });

  it('reads stringData of a Secret not yet normalized, which wins over data', () => {
    const raw = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'x' },
      data: { k: 'b2xk' },
      stringData: { k: 'new' },
    };
    expect(secretData(raw, 'k')?.toString()).toBe('new');
  });
});
