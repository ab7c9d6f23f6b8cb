import type { ObjectMeta } from './resource.js';
import { TLS_SECRET_TYPE, type Secret } from './secret.js';

/** What a TLS Secret holds: PEM text or bytes per key. */
export interface TlsSecretInput {
  readonly name: string;
  readonly namespace: string;
  /** `tls.crt`: the leaf, then intermediates, PEM. */
  readonly cert: string | Uint8Array;
  /** `tls.key`: the private key, PEM. */
  readonly key: string | Uint8Array;
  /** `ca.crt`: the root(s) to trust, PEM; omitted when unknown (cert-manager writes it when it can). */
  readonly ca?: string | Uint8Array;
  /** More keys (keystores, combined PEM, DER); they cannot replace tls.crt, tls.key or ca.crt. */
  readonly extra?: Readonly<Record<string, string | Uint8Array>>;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
}

const b64 = (v: string | Uint8Array): string =>
  (typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v)).toString('base64');

/** Builds a `kubernetes.io/tls` Secret with cert-manager's keys: `tls.crt`, `tls.key`, `ca.crt`. */
export function tlsSecret(input: TlsSecretInput): Secret {
  const data: Record<string, string> = {};
  for (const [k, v] of Object.entries(input.extra ?? {})) data[k] = b64(v);
  // The well-known keys are written last so an `extra` entry can never shadow them.
  data['tls.crt'] = b64(input.cert);
  data['tls.key'] = b64(input.key);
  if (input.ca !== undefined) data['ca.crt'] = b64(input.ca);
  const metadata: ObjectMeta = { name: input.name, namespace: input.namespace };
  if (input.labels !== undefined) metadata.labels = { ...input.labels };
  if (input.annotations !== undefined) metadata.annotations = { ...input.annotations };
  return { apiVersion: 'v1', kind: 'Secret', metadata, type: TLS_SECRET_TYPE, data };
}
