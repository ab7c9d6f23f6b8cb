import { MeshcaError } from '../../errors/index.js';
import { buildChain, parseCertificates, publicKeysEqual, type Certificate } from '../../pki/index.js';
import type { SignRequest, SignResult } from '../issuer.js';

const rejected = (message: string, cause?: unknown): MeshcaError =>
  new MeshcaError('UPSTREAM_REJECTED', `vault: ${message}`, {
    cause,
    hint: 'check the PKI mount and role that spec.vault.path names',
  });

function certificatesOf(field: string, value: unknown): Certificate[] {
  const texts = typeof value === 'string' ? [value] : Array.isArray(value) ? value : [];
  const out: Certificate[] = [];
  for (const [i, text] of texts.entries()) {
    if (typeof text !== 'string') throw rejected(`the sign answer's data.${field}[${i}] is not a string`);
    if (text.trim() === '') continue;
    try {
      out.push(...parseCertificates(text));
    } catch (err) {
      throw rejected(
        `the sign answer's data.${field} does not hold PEM certificates (${(err as Error).message})`,
        err,
      );
    }
  }
  return out;
}

/**
 * Reads Vault's sign answer (`data.certificate`, `data.issuing_ca`, `data.ca_chain`) into a
 * SignResult: the certificate, the intermediates between it and the top (nearest first) and, as
 * `ca`, the root — or the topmost certificate when Vault holds no root. Throws UPSTREAM_REJECTED
 * when the answer lacks a certificate, the certificate is not for the CSR's key, it does not
 * chain to what Vault sent with it, or it is not the CA that was asked for.
 */
export function parseVaultSignAnswer(body: unknown, request: SignRequest): SignResult {
  const data = typeof body === 'object' && body !== null ? (body as { data?: unknown }).data : undefined;
  if (typeof data !== 'object' || data === null) throw rejected('the sign answer has no data object');
  const d = data as Record<string, unknown>;
  if (typeof d['certificate'] !== 'string' || d['certificate'].trim() === '') {
    throw rejected('the sign answer has no data.certificate');
  }
  const [certificate, ...bundled] = certificatesOf('certificate', d['certificate']);
  if (certificate === undefined) throw rejected('the sign answer has no data.certificate');
  if (!publicKeysEqual(certificate.publicKey, request.csr.publicKey)) {
    throw rejected(
      `the certificate Vault returned ("${certificate.subjectString}", serial ${certificate.serialNumber}) is not for the key of the CSR`,
    );
  }
  if ((request.isCA ?? false) && !certificate.isCA) {
    throw rejected(
      `a CA certificate was asked for, but Vault signed "${certificate.subjectString}" without basicConstraints CA`,
    );
  }
  const caChain = certificatesOf('ca_chain', d['ca_chain']);
  const issuingCa = certificatesOf('issuing_ca', d['issuing_ca']);
  const pool: Certificate[] = [];
  for (const c of [...bundled, ...caChain, ...issuingCa]) {
    if (
      c.fingerprintSha256 !== certificate.fingerprintSha256 &&
      !pool.some((p) => p.fingerprintSha256 === c.fingerprintSha256)
    ) {
      pool.push(c);
    }
  }
  if (pool.length === 0) {
    throw rejected(
      'the sign answer has neither data.issuing_ca nor data.ca_chain; meshca cannot tell the root',
    );
  }
  const path = buildChain(certificate, pool);
  if (path.length === 1) {
    throw rejected(
      `the certificate's issuer "${certificate.issuerString}" is none of the CA certificates Vault sent with it (issuing_ca, ca_chain)`,
    );
  }
  const top = path[path.length - 1] as Certificate;
  const chain = path.slice(1).filter((c) => !c.selfSigned);
  return { certificate, chain, ca: [top] };
}
