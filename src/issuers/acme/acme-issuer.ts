import type { AcmeSolver } from '../../api/issuer.js';
import { MeshcaError } from '../../errors/index.js';
import type { Issuer, SignResult } from '../issuer.js';
import { AcmeSession, type AcmeSessionOptions } from './acme-session.js';

/** An ACME issuer's settings beyond the session: its solvers and chain preference. */
export interface AcmeIssuerOptions extends AcmeSessionOptions {
  readonly solvers: readonly AcmeSolver[];
  readonly preferredChain?: string;
  /** Where it is defined, for messages (`ClusterIssuer letsencrypt`). */
  readonly source: string;
}

/**
 * The ACME issuer (RFC 8555). It cannot sign in one call: a certificate comes from an Order
 * whose Challenges are solved first, so the Order controllers drive it (`session`) and `sign`
 * refuses. Ready means the account is registered.
 */
export class AcmeIssuer implements Issuer {
  /** The issuer kind. */
  readonly type = 'acme';
  /** The account on the server. */
  readonly session: AcmeSession;

  constructor(readonly options: AcmeIssuerOptions) {
    this.session = new AcmeSession(options);
  }

  /** Always throws: ACME issuance goes through Order and Challenge resources. */
  sign(): Promise<SignResult> {
    return Promise.reject(
      new MeshcaError(
        'ISSUER_INVALID',
        `${this.options.source} is an acme issuer and cannot sign a CSR directly`,
        {
          hint: 'request the certificate through a Certificate or CertificateRequest; the Order controllers obtain it',
        },
      ),
    );
  }

  /** Registers (or finds) the ACME account; throws why not. */
  async checkReady(): Promise<void> {
    await this.session.register();
  }
}
