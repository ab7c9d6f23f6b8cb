import { describe, expect, it } from 'vitest';
import { issuesOf } from './testing/builders.js';

const cm = (fields: Record<string, unknown>): Record<string, unknown> => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'istio-ca-root-cert', namespace: 'default' },
  ...fields,
});

describe('ConfigMap', () => {
  it('accepts a trust bundle ConfigMap with text and binary data', () => {
    expect(
      issuesOf(
        cm({
          data: { 'root-cert.pem': '-----BEGIN CERTIFICATE-----\n' },
          binaryData: { 'root.der': 'MAA=' },
          immutable: false,
        }),
      ),
    ).toEqual([]);
  });

  it.each<[string, Record<string, unknown>, string[]]>([
    [
      'a key in both data and binaryData',
      { data: { k: 'v' }, binaryData: { k: 'dg==' } },
      ['binaryData.k: key "k" is also in data; a key lives in data or binaryData, not both'],
    ],
    [
      'binaryData that is not base64',
      { binaryData: { k: 'v' } },
      ['binaryData.k: must be standard base64 with padding (encode with `base64 -w0`)'],
    ],
    ['a data value that is a list', { data: { k: ['v'] } }, ['data.k: must be a string, not a list']],
    ['a spec, which ConfigMaps do not have', { spec: {} }, ['spec: unknown field']],
  ])('rejects %s', (_what, fields, expected) => {
    expect(issuesOf(cm(fields))).toEqual(expected);
  });
});
