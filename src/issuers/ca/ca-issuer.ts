import type { KeyObject } from 'node:crypto';
import { MeshcaError } from '../../errors/index.js';
import {
  issueCertificate,
  parseCertificates,
  parsePrivateKey,
  publicKeysEqual,
  type Certificate,
  type PkiParser,
} from '../../pki/index.js';
import type { Issuer, SignRequest, SignResult } from '../issuer.js';
import { templateFromSignRequest } from '../sign-request-template.js';

/** The PEM contents of a CA Secret (`tls.crt`, `tls.key`, optionally `ca.crt`). */
export interface CaKeyPair {
  /** The CA certificate first, then its chain (as cert-manager writes `tls.crt`). */
  readonly certChainPem: string;
  readonly keyPem: string;
  /** The root bundle, when the Secret has `ca.crt`. */
  readonly caPem?: string;
}

/** Options of the CA issuer. */
export interface CaIssuerOptions {
  /** Where the key pair came from, for messages: `secret istio-system/istio-ca`. */
  readonly source?: string;
  /** How far notBefore is set before `now`, for clock skew between peers. */
  readonly backdateMs?: number;
  /** Reads the PEMs; a ParseCache here spares re-reading the same Secret for every request. */
  readonly parser?: PkiParser;
}

/**
 * ISSUER_NOT_READY for a CA whose notBefore is still ahead (minted on a host whose clock runs
 * ahead, or imported early): retryable, and `validFrom` says when a retry can succeed.
 */
export class CaNotYetValidError extends MeshcaError {
  /** The CA's notBefore: retrying before it fails the same way. */
  readonly validFrom: Date;

  constructor(ca: Certificate) {
    super(
      'ISSUER_NOT_READY',
      `the signing CA "${ca.subjectString}" is not valid until ${ca.notBefore.toISOString()}`,
      {
        hint: 'it can sign from then on; if that is far off, check the clocks of this host and of the host that made the CA',
      },
    );
    this.validFrom = ca.notBefore;
  }
}

const PLAIN_PARSER: Pick<PkiParser, 'parseCertificates' | 'parsePrivateKey'> = {
  parseCertificates,
  parsePrivateKey,
};

/**
 * cert-manager's `ca` issuer: signs with a CA key pair held in a Secret. Works for a root or an
 * intermediate: the intermediates of the Secret's chain go to the leaf's chain, the root to `ca`.
 */
export class CaIssuer implements Issuer {
  readonly type = 'ca';
  /** The signing CA certificate. */
  readonly certificate: Certificate;
  /** Intermediates from the signing CA up to (not including) the root; starts with the CA itself unless it is a root. */
  readonly chain: readonly Certificate[];
  /** The root bundle handed out as `ca.crt`. */
  readonly ca: readonly Certificate[];
  readonly #key: KeyObject;
  readonly #backdateMs: number;
  /** The CAs above the signing CA, nearest first, root included when known: their pathLen counts. */
  readonly #ancestors: readonly Certificate[];

  private constructor(
    certificate: Certificate,
    key: KeyObject,
    chain: Certificate[],
    ca: Certificate[],
    backdateMs: number,
    ancestors: Certificate[],
  ) {
    this.certificate = certificate;
    this.#key = key;
    this.chain = chain;
    this.ca = ca;
    this.#backdateMs = backdateMs;
    this.#ancestors = ancestors;
  }

  /**
   * Loads and checks a CA key pair: the certificate must be a CA allowed to sign certificates,
   * and the key must be its key. Throws ISSUER_NOT_READY saying what is wrong.
   */
  static fromKeyPair(pair: CaKeyPair, options: CaIssuerOptions = {}): CaIssuer {
    const source = options.source ?? 'the CA key pair';
    const parser = options.parser ?? PLAIN_PARSER;
    const notReady = (message: string, cause?: unknown): MeshcaError =>
      new MeshcaError('ISSUER_NOT_READY', `${source}: ${message}`, {
        cause,
        hint: 'the Secret must hold tls.crt (a CA certificate first), its tls.key and optionally ca.crt',
      });
    let certs: Certificate[];
    try {
      certs = [...parser.parseCertificates(pair.certChainPem)];
    } catch (err) {
      throw notReady(`tls.crt does not hold a certificate (${(err as Error).message})`, err);
    }
    const first = certs[0];
    if (first === undefined) throw notReady('tls.crt holds no certificate');
    if (!first.isCA)
      throw notReady(`certificate "${first.subjectString}" is not a CA (basicConstraints CA is not set)`);
    if (first.keyUsages !== undefined && !first.keyUsages.includes('keyCertSign')) {
      throw notReady(
        `certificate "${first.subjectString}" may not sign certificates (keyUsage lacks keyCertSign)`,
      );
    }
    let key: KeyObject;
    try {
      key = parser.parsePrivateKey(pair.keyPem);
    } catch (err) {
      throw notReady(`tls.key does not hold a private key (${(err as Error).message})`, err);
    }
    if (!publicKeysEqual(key, first.publicKey))
      throw notReady('tls.key is not the key of the certificate in tls.crt');

    let ca: Certificate[];
    if (pair.caPem !== undefined && pair.caPem.trim() !== '') {
      try {
        ca = [...parser.parseCertificates(pair.caPem)];
      } catch (err) {
        throw notReady(`ca.crt does not hold certificates (${(err as Error).message})`, err);
      }
    } else {
      const top = certs[certs.length - 1];
      ca = top === undefined ? [] : [top];
    }
    // A self-signed certificate is a root: it goes to ca, never into the chain of a leaf.
    const chain = certs.filter((c) => !c.selfSigned);
    for (const c of certs.filter((c) => c.selfSigned)) {
      if (!ca.some((r) => r.fingerprintSha256 === c.fingerprintSha256)) ca.push(c);
    }
    return new CaIssuer(
      first,
      key,
      chain,
      ca,
      options.backdateMs ?? 0,
      ancestorsOf(first, [...certs.slice(1), ...ca]),
    );
  }

  /** Signs the CSR under this CA; the lifetime is clamped to the CA's own notAfter. */
  async sign(request: SignRequest): Promise<SignResult> {
    return this.signSync(request);
  }

  /** The same as sign, without a promise: the CSR hot path calls this directly. */
  signSync(request: SignRequest): SignResult {
    // Not valid yet is a wait, not a failure: the clock of the host that made the CA may run ahead.
    if (request.now.getTime() < this.certificate.notBefore.getTime())
      throw new CaNotYetValidError(this.certificate);
    if (request.now.getTime() >= this.certificate.notAfter.getTime()) {
      throw new MeshcaError(
        'ISSUER_NOT_READY',
        `the signing CA "${this.certificate.subjectString}" expired at ${this.certificate.notAfter.toISOString()}`,
        { hint: 'renew the CA certificate (meshca renew) or import a new one' },
      );
    }
    const template = templateFromSignRequest(request);
    const certificate = issueCertificate(
      template,
      { certificate: this.certificate, key: this.#key, ancestors: this.#ancestors },
      { now: request.now, backdateMs: this.#backdateMs },
    );
    return { certificate, chain: this.chain, ca: this.ca };
  }
}

/**
 * The issuers above `ca`, nearest first, found among `candidates` (the rest of tls.crt, then
 * ca.crt) by issuer name and, when both are present, authority and subject key identifiers; it
 * stops at a self-issued certificate or where no issuer is found. Signatures are not checked: this
 * only gathers the pathLen constraints that verifiers will apply to what the CA signs.
 */
function ancestorsOf(ca: Certificate, candidates: readonly Certificate[]): Certificate[] {
  const out: Certificate[] = [];
  const left = [...candidates];
  let current = ca;
  while (!current.subjectDer.equals(current.issuerDer)) {
    const child = current;
    const i = left.findIndex(
      (c) =>
        c.subjectDer.equals(child.issuerDer) &&
        (child.authorityKeyId === undefined ||
          c.subjectKeyId === undefined ||
          child.authorityKeyId === c.subjectKeyId),
    );
    const parent = left[i];
    if (parent === undefined) break;
    left.splice(i, 1);
    out.push(parent);
    current = parent;
  }
  return out;
}
