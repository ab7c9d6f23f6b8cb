import type { KeyObject } from 'node:crypto';
import type {
  Certificate,
  CertificationRequest,
  ExtKeyUsage,
  KeyUsage,
  NameConstraints,
} from '../pki/index.js';

/** What an issuer is asked to sign: a verified CSR plus the policy the caller decided. */
export interface SignRequest {
  /** The parsed CSR; its signature must already be verified by the caller. */
  readonly csr: CertificationRequest;
  /** Asked lifetime; issuers clamp it to their own notAfter. */
  readonly durationMs: number;
  readonly isCA?: boolean;
  readonly pathLen?: number;
  /** When omitted, the CSR's requested usages are used. */
  readonly keyUsages?: KeyUsage[];
  /** When omitted, the CSR's requested extended usages are used. */
  readonly extKeyUsages?: ExtKeyUsage[];
  readonly nameConstraints?: NameConstraints;
  /** The private key of the CSR; only a self-signed issuer needs it (it signs with that key). */
  readonly privateKey?: KeyObject;
  /** The instant of issuance (injected clock). */
  readonly now: Date;
}

/** A signed certificate and what a Secret or an Istio agent needs with it. */
export interface SignResult {
  /** The new certificate. */
  readonly certificate: Certificate;
  /** Intermediates between the certificate and the root, nearest first (no self-signed root). */
  readonly chain: readonly Certificate[];
  /** The root(s) a relying party should trust: `ca.crt`, the last element of Istio's cert_chain. */
  readonly ca: readonly Certificate[];
}

/** One issuer kind behind one interface: the controller and the CSR server call only this. */
export interface Issuer {
  /** The issuer kind, as in the resource spec: `selfSigned`, `ca`, `vault`, `acme`. */
  readonly type: string;
  /** Signs a request or throws a MeshcaError saying why not. */
  sign(request: SignRequest): Promise<SignResult>;
  /**
   * Checks that the upstream can sign now (reachable, authenticated, account registered); throws
   * a MeshcaError saying why not. Kinds with nothing upstream (selfSigned, ca) leave it out.
   */
  checkReady?(now: Date): Promise<void>;
}
