import type { Controller } from '../runtime/controller.js';
import { CLUSTER_ISSUER, ISSUER } from '../certificates/resource-types.js';
import { createAccountKeyController } from './account-key-controller.js';
import { AcmeIssuerSource } from './acme-issuer-source.js';
import { createAcmeRequestController } from './acme-request-controller.js';
import {
  createChallengeController,
  type ChallengeCleaner,
  type ChallengePresenter,
} from './challenge-controller.js';
import { createOrderController } from './order-controller.js';
import { dns01Presenter } from './dns01-presenter.js';

/** Options of the ACME controllers. */
export interface AcmeControllerOptions {
  readonly clusterResourceNamespace: string;
  /** Poll interval of pending orders and challenges, ms (2 s by default). */
  readonly pollMs?: number;
  /** Base of the retry backoff of failed ACME calls, ms (5 s by default). */
  readonly retryBaseMs?: number;
  /** Makes an ACME account key PEM (tests inject a fast one). */
  readonly generateAccountKey?: () => string;
  readonly timeoutMs?: number;
}

/** The ACME controllers: CertificateRequest → Order → Challenges, on one shared issuer source. */
export function createAcmeControllers(options: AcmeControllerOptions): Controller[] {
  const issuers = new AcmeIssuerSource({
    clusterResourceNamespace: options.clusterResourceNamespace,
    ...(options.generateAccountKey !== undefined && { generateAccountKey: options.generateAccountKey }),
    ...(options.timeoutMs !== undefined && { timeoutMs: options.timeoutMs }),
  });
  const dns = dns01Presenter(options.clusterResourceNamespace);
  // HTTP-01 is answered from the Challenge resource by the solver listener: nothing to write.
  const present: ChallengePresenter = (c, ctx) =>
    c.spec.type === 'DNS-01' ? dns.present(c, ctx) : Promise.resolve();
  const cleanup: ChallengeCleaner = (c, ctx) =>
    c.spec.type === 'DNS-01' ? dns.cleanup(c, ctx) : Promise.resolve();
  const pollMs = options.pollMs ?? 2000;
  const retryBaseMs = options.retryBaseMs ?? 5000;
  return [
    createAccountKeyController(ISSUER, issuers),
    createAccountKeyController(CLUSTER_ISSUER, issuers),
    createAcmeRequestController(issuers),
    createOrderController({ issuers, pollMs, retryBaseMs, cleanup }),
    createChallengeController({ issuers, pollMs, retryBaseMs, present, cleanup }),
  ];
}
