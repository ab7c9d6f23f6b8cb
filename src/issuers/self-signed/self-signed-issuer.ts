import { MeshcaError } from '../../errors/index.js';
import { issueCertificate, publicKeysEqual } from '../../pki/index.js';
import type { Issuer, SignRequest, SignResult } from '../issuer.js';
import { templateFromSignRequest } from '../sign-request-template.js';

/** Options of the self-signed issuer. */
export interface SelfSignedIssuerOptions {
  /** How far notBefore is set before `now`, for clock skew between peers. */
  readonly backdateMs?: number;
}

/**
 * cert-manager's `selfSigned` issuer: the certificate is signed with its own private key, so the
 * request must carry that key. Used for roots; a self-signed certificate is its own `ca`.
 */
export class SelfSignedIssuer implements Issuer {
  readonly type = 'selfSigned';
  readonly #backdateMs: number;

  constructor(options: SelfSignedIssuerOptions = {}) {
    this.#backdateMs = options.backdateMs ?? 0;
  }

  /** Signs the CSR with the private key given in the request. */
  async sign(request: SignRequest): Promise<SignResult> {
    const key = request.privateKey;
    if (key === undefined) {
      throw new MeshcaError('ISSUER_INVALID', 'a self-signed issuer needs the private key of the request', {
        hint: 'the selfSigned issuer signs only certificates whose key meshca holds (a Certificate resource)',
      });
    }
    if (!publicKeysEqual(key, request.csr.publicKey)) {
      throw new MeshcaError('KEY_MISMATCH', 'the private key does not belong to the CSR it was given with');
    }
    const template = templateFromSignRequest(request);
    const certificate = issueCertificate(template, { selfSigned: key }, {
      now: request.now,
      backdateMs: this.#backdateMs,
    });
    return { certificate, chain: [], ca: [certificate] };
  }
}
