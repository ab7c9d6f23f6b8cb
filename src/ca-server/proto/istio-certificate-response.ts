import { WireReader, WireType } from './wire-reader.js';
import { WireWriter } from './wire-writer.js';

/**
 * Encodes istio.v1.auth.IstioCertificateResponse { repeated string cert_chain = 1; }. Sized up
 * front so the common case (a few PEM blocks) is one allocation.
 */
export function encodeIstioCertificateResponse(certChain: readonly string[]): Buffer {
  let size = 0;
  // PEM is ASCII, so its length is its UTF-8 size; the writer grows if a caller sends more.
  for (const pem of certChain) size += pem.length + 6;
  const w = new WireWriter(size);
  for (const pem of certChain) w.tag(1, WireType.LEN).string(pem);
  return w.finish();
}

/** Decodes an IstioCertificateResponse into its chain (used by tests and the benchmark client). */
export function decodeIstioCertificateResponse(buf: Uint8Array): string[] {
  const r = new WireReader(buf);
  const chain: string[] = [];
  while (!r.done) {
    const [field, wt] = r.tag();
    if (field === 1) {
      r.expect('cert_chain', wt, WireType.LEN);
      chain.push(r.string());
    } else {
      r.skip(wt);
    }
  }
  return chain;
}
