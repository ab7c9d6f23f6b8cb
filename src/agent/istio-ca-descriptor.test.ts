import { fileURLToPath } from 'node:url';
import { fromJSON, loadSync, type MethodDefinition } from '@grpc/proto-loader';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CREATE_CERTIFICATE_PATH, ISTIO_CA_DESCRIPTOR } from './istio-ca-descriptor.js';

const options = { keepCase: true, longs: String, defaults: true, arrays: true } as const;
type Method = MethodDefinition<Record<string, unknown>, Record<string, unknown>>;
const method = (def: ReturnType<typeof loadSync>): Method =>
  (def['istio.v1.auth.IstioCertificateService'] as Record<string, Method>).CreateCertificate as Method;

const fromProto = method(loadSync(fileURLToPath(new URL('../api/proto/ca.proto', import.meta.url)), options));
const embedded = method(fromJSON(ISTIO_CA_DESCRIPTOR as unknown as Parameters<typeof fromJSON>[0], options));

describe('the embedded Istio CA descriptor', () => {
  it('names the same method as src/api/proto/ca.proto', () => {
    expect(embedded.path).toBe(CREATE_CERTIFICATE_PATH);
    expect(fromProto.path).toBe(CREATE_CERTIFICATE_PATH);
  });

  it('encodes every request, metadata included, to the same bytes as src/api/proto/ca.proto', () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 200 }),
        fc.bigInt({ min: 0n, max: 2n ** 62n }),
        fc.dictionary(fc.string({ minLength: 1, maxLength: 10 }), fc.string({ maxLength: 10 }), { maxKeys: 3 }),
        (csr, seconds, meta) => {
          const metadata = { fields: Object.fromEntries(Object.entries(meta).map(([k, v]) => [k, { stringValue: v }])) };
          const request = { csr, validity_duration: seconds.toString(), metadata };
          expect(embedded.requestSerialize(request).equals(fromProto.requestSerialize(request))).toBe(true);
        },
      ),
    );
  });

  it('decodes a response with the same cert_chain as src/api/proto/ca.proto', () => {
    const bytes = fromProto.responseSerialize({ cert_chain: ['leaf', 'intermediate', 'root'] });
    expect(embedded.responseDeserialize(bytes)).toEqual({ cert_chain: ['leaf', 'intermediate', 'root'] });
  });
});
