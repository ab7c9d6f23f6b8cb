import { WireReader, WireType } from './wire-reader.js';
import { WireWriter } from './wire-writer.js';
import { decodeStruct, encodeStruct, type JsonObject } from './struct-codec.js';

/** istio.v1.auth.IstioCertificateRequest, as the CA server sees it. */
export interface IstioCertificateRequest {
  /** PEM-encoded PKCS#10 CSR (field 1). */
  readonly csr: string;
  /** Requested lifetime in seconds (field 3, int64); 0 when the caller sent none. */
  readonly validityDuration: number;
  /** google.protobuf.Struct metadata (field 4); undefined when absent. */
  readonly metadata: JsonObject | undefined;
}

/**
 * Decodes an IstioCertificateRequest. Unknown fields are skipped; a repeated scalar keeps the
 * last value and repeated metadata merges, as proto3 parsing requires. An int64 beyond
 * Number.MAX_SAFE_INTEGER is refused rather than rounded.
 */
export function decodeIstioCertificateRequest(buf: Uint8Array): IstioCertificateRequest {
  const r = new WireReader(buf);
  let csr = '';
  let validityDuration = 0;
  let metadata: JsonObject | undefined;
  while (!r.done) {
    const [field, wt] = r.tag();
    switch (field) {
      case 1:
        r.expect('csr', wt, WireType.LEN);
        csr = r.string();
        break;
      case 3: {
        r.expect('validity_duration', wt, WireType.VARINT);
        validityDuration = r.safeInt64('validity_duration');
        break;
      }
      case 4: {
        r.expect('metadata', wt, WireType.LEN);
        metadata = decodeStruct(r, 0, metadata);
        break;
      }
      default:
        r.skip(wt);
    }
  }
  return { csr, validityDuration, metadata };
}

/** Encodes an IstioCertificateRequest; proto3 omits fields that hold their default. */
export function encodeIstioCertificateRequest(req: {
  csr: string;
  validityDuration?: number;
  metadata?: JsonObject | undefined;
}): Buffer {
  const w = new WireWriter(req.csr.length + 32);
  if (req.csr !== '') w.tag(1, WireType.LEN).string(req.csr);
  if (req.validityDuration !== undefined && req.validityDuration !== 0) {
    w.tag(3, WireType.VARINT).int64(BigInt(Math.trunc(req.validityDuration)));
  }
  if (req.metadata !== undefined) w.tag(4, WireType.LEN).bytes(encodeStruct(req.metadata));
  return w.finish();
}
