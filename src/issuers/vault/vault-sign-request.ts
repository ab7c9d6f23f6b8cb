import { MeshcaError } from '../../errors/index.js';
import type { SignRequest } from '../issuer.js';

/** What a Vault PKI path signs (https://developer.hashicorp.com/vault/api-docs/secret/pki). */
export type VaultSignEndpoint = 'sign' | 'sign-verbatim' | 'sign-intermediate';

/** A parsed `spec.vault.path`. */
export interface VaultSignPath {
  /** The path as written, without surrounding slashes. */
  readonly path: string;
  readonly endpoint: VaultSignEndpoint;
}

// Mount paths may hold slashes (`pki/int`); the role and issuer reference are one segment each.
const SEGMENT = '[A-Za-z0-9._@-]+';
const PATTERNS: ReadonlyArray<readonly [RegExp, VaultSignEndpoint]> = [
  [new RegExp(`^(?:${SEGMENT}/)*?${SEGMENT}/(?:issuer/${SEGMENT}/)?sign/${SEGMENT}$`), 'sign'],
  [
    new RegExp(`^(?:${SEGMENT}/)*?${SEGMENT}/(?:issuer/${SEGMENT}/)?sign-verbatim(?:/${SEGMENT})?$`),
    'sign-verbatim',
  ],
  [new RegExp(`^(?:${SEGMENT}/)*?${SEGMENT}/root/sign-intermediate$`), 'sign-intermediate'],
  [new RegExp(`^(?:${SEGMENT}/)*?${SEGMENT}/issuer/${SEGMENT}/sign-intermediate$`), 'sign-intermediate'],
];

/**
 * Parses `spec.vault.path`: `<mount>/sign/<role>`, `<mount>/sign-verbatim[/<role>]`,
 * `<mount>/root/sign-intermediate`, or the same under `<mount>/issuer/<ref>/`. Throws
 * ISSUER_INVALID naming the accepted forms.
 */
export function parseVaultSignPath(input: string): VaultSignPath {
  const path = input.trim().replace(/^\/+/, '').replace(/\/+$/, '').replace(/^v1\//, '');
  if (path.length <= 512 && !path.split('/').some((s) => s === '.' || s === '..')) {
    for (const [pattern, endpoint] of PATTERNS) if (pattern.test(path)) return { path, endpoint };
  }
  throw new MeshcaError(
    'ISSUER_INVALID',
    `spec.vault.path ${JSON.stringify(input.length > 80 ? `${input.slice(0, 80)}…` : input)} is not a Vault PKI signing path`,
    {
      hint: 'use <mount>/sign/<role>, <mount>/sign-verbatim[/<role>] or, for a CA certificate, <mount>/root/sign-intermediate',
    },
  );
}

/** Vault's `ttl`: whole seconds, as a Go duration (`2592000s`); at least one second. */
export function vaultTtl(durationMs: number): string {
  return `${Math.max(1, Math.ceil(durationMs / 1000))}s`;
}

// Vault's names of key usages (Go's x509.KeyUsage names without the prefix).
const VAULT_KEY_USAGE: Record<string, string> = {
  digitalSignature: 'DigitalSignature',
  contentCommitment: 'ContentCommitment',
  keyEncipherment: 'KeyEncipherment',
  dataEncipherment: 'DataEncipherment',
  keyAgreement: 'KeyAgreement',
  keyCertSign: 'CertSign',
  cRLSign: 'CRLSign',
  encipherOnly: 'EncipherOnly',
  decipherOnly: 'DecipherOnly',
};
const VAULT_EXT_KEY_USAGE: Record<string, string> = {
  serverAuth: 'ServerAuth',
  clientAuth: 'ClientAuth',
  codeSigning: 'CodeSigning',
  emailProtection: 'EmailProtection',
  timeStamping: 'TimeStamping',
  ocspSigning: 'OCSPSigning',
};

/**
 * The JSON body of the sign request: what the CSR asks (as cert-manager sends it: common_name,
 * alt_names with DNS names and e-mail addresses, ip_sans, uri_sans, exclude_cn_from_sans) plus ttl
 * and the CSR itself. sign-verbatim takes the names from the CSR and the usages from the body;
 * sign-intermediate takes max_path_length. Throws ISSUER_INVALID for a CA asked of a role path.
 */
export function vaultSignBody(request: SignRequest, path: VaultSignPath): Record<string, unknown> {
  const isCA = request.isCA ?? false;
  if (isCA && path.endpoint !== 'sign-intermediate') {
    throw new MeshcaError(
      'ISSUER_INVALID',
      `a CA certificate cannot be signed through vault path ${path.path}: a PKI role signs only leaf certificates`,
      { hint: 'point a separate Vault issuer at <mount>/root/sign-intermediate for CA certificates' },
    );
  }
  if (!isCA && path.endpoint === 'sign-intermediate') {
    throw new MeshcaError(
      'ISSUER_INVALID',
      `vault path ${path.path} signs CA certificates only, and this request is not for a CA`,
      { hint: 'set isCA: true on the Certificate, or use a <mount>/sign/<role> path' },
    );
  }
  const { csr } = request;
  const body: Record<string, unknown> = {
    csr: csr.pem,
    ttl: vaultTtl(request.durationMs),
    format: 'pem',
  };
  if (path.endpoint === 'sign-verbatim') {
    const keyUsages = request.keyUsages ?? csr.keyUsages;
    const extKeyUsages = request.extKeyUsages ?? csr.extKeyUsages;
    if (keyUsages !== undefined) body['key_usage'] = keyUsages.map((u) => VAULT_KEY_USAGE[u] ?? u).join(',');
    if (extKeyUsages !== undefined) {
      body['ext_key_usage'] = extKeyUsages.map((u) => VAULT_EXT_KEY_USAGE[u] ?? u).join(',');
    }
    return body;
  }
  body['common_name'] = csr.subject.commonName ?? '';
  body['alt_names'] = [...csr.sans.dnsNames, ...csr.sans.emailAddresses].join(',');
  body['ip_sans'] = csr.sans.ipAddresses.join(',');
  body['uri_sans'] = csr.sans.uris.join(',');
  body['exclude_cn_from_sans'] = true;
  if (path.endpoint === 'sign-intermediate') {
    body['use_csr_values'] = false;
    if (request.pathLen !== undefined) body['max_path_length'] = request.pathLen;
  }
  return body;
}
