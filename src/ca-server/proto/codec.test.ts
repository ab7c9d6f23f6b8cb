import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { isMeshcaError } from '../../errors/index.js';
import { decodeIstioCertificateRequest, encodeIstioCertificateRequest } from './istio-certificate-request.js';
import {
  decodeIstioCertificateResponse,
  encodeIstioCertificateResponse,
} from './istio-certificate-response.js';
import type { JsonObject, JsonValue } from './struct-codec.js';

// The independent encoder: protobufjs reading the same .proto the server documents.
const root = protobuf.loadSync(fileURLToPath(new URL('../../api/proto/ca.proto', import.meta.url)));
const RequestType = root.lookupType('istio.v1.auth.IstioCertificateRequest');
const ResponseType = root.lookupType('istio.v1.auth.IstioCertificateResponse');

type PbValue = Record<string, unknown>;
const toPbValue = (v: JsonValue): PbValue => {
  if (v === null) return { nullValue: 0 };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(toPbValue) } };
  return { structValue: toPbStruct(v) };
};
const toPbStruct = (o: JsonObject): PbValue => {
  const fields: Record<string, PbValue> = Object.create(null) as Record<string, PbValue>;
  for (const [k, v] of Object.entries(o)) fields[k] = toPbValue(v);
  return { fields };
};
const fromPbValue = (v: PbValue): JsonValue => {
  if (v.numberValue !== undefined && v.numberValue !== null) return v.numberValue as number;
  if (typeof v.stringValue === 'string') return v.stringValue;
  if (typeof v.boolValue === 'boolean') return v.boolValue;
  if (v.listValue) return ((v.listValue as { values?: PbValue[] }).values ?? []).map(fromPbValue);
  if (v.structValue) return fromPbStruct(v.structValue as PbValue);
  return null;
};
const fromPbStruct = (s: PbValue): JsonObject => {
  const out = Object.create(null) as JsonObject;
  for (const [k, v] of Object.entries((s.fields ?? {}) as Record<string, PbValue>)) out[k] = fromPbValue(v);
  return out;
};

// Plain JSON with no -0 (protobufjs's default-value handling would drop a 0 number_value's kind).
const jsonObject = fc.dictionary(
  fc.string(),
  fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.parse(JSON.stringify(v)) as JsonValue),
  { maxKeys: 5 },
);
const requestArb = fc.record({
  csr: fc.string({ unit: 'grapheme', maxLength: 2000 }),
  validityDuration: fc.integer({ min: -(2 ** 40), max: 2 ** 40 }),
  metadata: fc.option(jsonObject, { nil: undefined }),
});

describe('the IstioCertificateRequest codec', () => {
  it('decodes every request protobufjs encodes to the same fields', () => {
    fc.assert(
      fc.property(requestArb, (req) => {
        const bytes = RequestType.encode(
          RequestType.fromObject({
            csr: req.csr,
            validityDuration: req.validityDuration,
            ...(req.metadata ? { metadata: toPbStruct(req.metadata) } : {}),
          }),
        ).finish();
        const got = decodeIstioCertificateRequest(bytes);
        expect(got.csr).toBe(req.csr);
        expect(got.validityDuration).toBe(req.validityDuration);
        expect(got.metadata === undefined ? undefined : { ...got.metadata }).toEqual(req.metadata);
      }),
      { numRuns: 300 },
    );
  });

  it('encodes every request so that protobufjs decodes the same fields', () => {
    fc.assert(
      fc.property(requestArb, (req) => {
        const decoded = RequestType.toObject(RequestType.decode(encodeIstioCertificateRequest(req)), {
          longs: Number,
          defaults: true,
        }) as { csr: string; validityDuration: number; metadata?: PbValue | null };
        expect(decoded.csr).toBe(req.csr);
        expect(decoded.validityDuration).toBe(req.validityDuration);
        expect(decoded.metadata == null ? undefined : { ...fromPbStruct(decoded.metadata) }).toEqual(
          req.metadata,
        );
      }),
      { numRuns: 300 },
    );
  });

  it('skips unknown fields of every wire type and keeps the last value of a repeated scalar', () => {
    // field 2 varint 7, field 9 fixed64, field 10 fixed32, csr "a", csr "b", field 15 bytes "zz"
    const bytes = Uint8Array.from([
      0x10, 0x07, 0x49, 1, 2, 3, 4, 5, 6, 7, 8, 0x55, 1, 2, 3, 4, 0x0a, 1, 0x61, 0x0a, 1, 0x62, 0x7a, 2, 0x7a,
      0x7a,
    ]);
    expect(decodeIstioCertificateRequest(bytes)).toEqual({
      csr: 'b',
      validityDuration: 0,
      metadata: undefined,
    });
  });

  it('reads a "__proto__" metadata key as data, not as a prototype change', () => {
    const md = JSON.parse('{"__proto__": {"polluted": true}}') as JsonObject;
    const got = decodeIstioCertificateRequest(encodeIstioCertificateRequest({ csr: 'x', metadata: md }));
    expect(Object.keys(got.metadata ?? {})).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('decodes an empty message to defaults', () => {
    expect(decodeIstioCertificateRequest(new Uint8Array())).toEqual({
      csr: '',
      validityDuration: 0,
      metadata: undefined,
    });
  });

  const deep = (n: number): Uint8Array => {
    // Value{list_value{values: Value{list_value{...}}}} nested n times inside Struct{"k": ...}
    let value = Uint8Array.from([0x08, 0x00]);
    for (let i = 0; i < n; i++) {
      const list = Uint8Array.from([0x0a, ...varint(value.length), ...value]);
      value = Uint8Array.from([0x32, ...varint(list.length), ...list]);
    }
    const entry = Uint8Array.from([0x0a, 1, 0x6b, 0x12, ...varint(value.length), ...value]);
    const struct = Uint8Array.from([0x0a, ...varint(entry.length), ...entry]);
    return Uint8Array.from([0x22, ...varint(struct.length), ...struct]);
  };
  const varint = (n: number): number[] => {
    const out: number[] = [];
    while (n > 0x7f) {
      out.push((n & 0x7f) | 0x80);
      n >>>= 7;
    }
    out.push(n);
    return out;
  };

  it.each([
    ['a truncated tag varint', [0x8a], 'truncated varint'],
    ['a string whose length runs past the end', [0x0a, 0x05, 0x61], 'runs past the end'],
    ['a csr sent with the varint wire type', [0x08, 0x01], 'field csr has wire type 0, expected 2'],
    ['validity_duration sent as a string', [0x1a, 0x01, 0x31], 'field validity_duration has wire type 2'],
    ['metadata sent as a varint', [0x20, 0x01], 'field metadata has wire type 0'],
    ['a csr that is not UTF-8', [0x0a, 0x02, 0xc3, 0x28], 'not valid UTF-8'],
    ['field number zero', [0x02, 0x00], 'field number 0'],
    ['a proto2 group', [0x13], 'unsupported wire type 3'],
    ['wire type 7', [0x17], 'unsupported wire type 7'],
    ['a truncated fixed64', [0x49, 1, 2, 3], 'truncated 64-bit field'],
    ['a truncated fixed32', [0x55, 1], 'truncated 32-bit field'],
    ['a varint of eleven bytes', [0x18, ...Array<number>(10).fill(0xff), 0x01], 'longer than 10 bytes'],
    ['a length of six varint bytes', [0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01], 'longer than 5 bytes'],
    [
      'validity_duration beyond 2^53',
      [0x18, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40],
      'out of range',
    ],
    ['metadata nested 40 levels deep', [...deep(40)], 'nests deeper than 32 levels'],
  ])('rejects %s with a precise message', (_name, bytes, message) => {
    let thrown: unknown;
    try {
      decodeIstioCertificateRequest(Uint8Array.from(bytes));
    } catch (err) {
      thrown = err;
    }
    expect(isMeshcaError(thrown, 'INVALID_INPUT')).toBe(true);
    expect((thrown as Error).message).toContain('malformed protobuf message: ');
    expect((thrown as Error).message).toContain(message);
  });

  it('accepts metadata nested 30 levels deep', () => {
    expect(decodeIstioCertificateRequest(deep(14)).metadata).toBeDefined();
  });

  it('either decodes or throws INVALID_INPUT for any bytes at all', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try {
          decodeIstioCertificateRequest(bytes);
        } catch (err) {
          expect(isMeshcaError(err, 'INVALID_INPUT')).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('the IstioCertificateResponse codec', () => {
  it('round-trips every chain through protobufjs in both directions', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'grapheme', maxLength: 500 }), { maxLength: 5 }), (chain) => {
        const ours = encodeIstioCertificateResponse(chain);
        expect(
          (ResponseType.toObject(ResponseType.decode(ours), { arrays: true }) as { certChain: string[] })
            .certChain,
        ).toEqual(chain);
        expect(decodeIstioCertificateResponse(ResponseType.encode({ certChain: chain }).finish())).toEqual(
          chain,
        );
      }),
      { numRuns: 300 },
    );
  });
});
