import type { KeyObject } from 'node:crypto';
import type { MeshcaError } from '../../errors/index.js';
import { issueCertificate, parseCsr, templateFromCsr, verifyCsr, type Certificate } from '../../pki/index.js';
import { DAY, makeIssued, makeRoot, type Issued } from '../../pki/testing/pki-fixtures.js';
import type { AgentCaClient, CertificateSigningCall } from '../agent-ca-client.js';
import type { Clock } from '../clock.js';

/** A root and the intermediate that signs workloads under it. */
export interface TestHierarchy {
  readonly root: Issued;
  readonly intermediate: Issued;
}

/** Makes a root (10 years) and an intermediate (1 year) valid from `now − 1 day`. */
export function makeHierarchy(now: Date, name = 'fake root'): TestHierarchy {
  const from = new Date(now.getTime() - DAY);
  const root = makeRoot({ name, now: from });
  const intermediate = makeIssued(root, { isCA: true, subject: { commonName: `${name} intermediate` }, lifetimeMs: 365 * DAY }, { now: from });
  return { root, intermediate };
}

/**
 * An in-process CA for the agent's tests (a fake, not a mock): parses and verifies the CSR,
 * signs it with a real intermediate at the injected clock's time and answers leaf,
 * intermediate, root like meshca's server. Can be taken down, rotated, or made to answer badly.
 */
export class FakeCa implements AgentCaClient {
  hierarchy: TestHierarchy;
  /** Every call received. */
  readonly calls: CertificateSigningCall[] = [];
  /** Every leaf signed. */
  readonly issued: Certificate[] = [];
  /** When set, every call fails with this error. */
  failure: MeshcaError | undefined;
  /** When set, rewrites the answer (to test what the agent refuses). */
  tamper: ((chain: string[], call: CertificateSigningCall) => string[]) | undefined;
  /** When set, signs this URI SAN instead of the CSR's (a CA that answers for another identity). */
  signAs: string | undefined;
  /** The most the CA grants. */
  maxLifetimeMs = DAY;
  closed = false;
  private readonly clock: Clock;

  constructor(clock: Clock, hierarchy: TestHierarchy = makeHierarchy(clock.now())) {
    this.clock = clock;
    this.hierarchy = hierarchy;
  }

  /** The root certificate's PEM. */
  get rootPem(): string {
    return this.hierarchy.root.certificate.pem;
  }

  /** Switches to a new root and intermediate (a root rotation). */
  rotate(name = 'rotated root'): void {
    this.hierarchy = makeHierarchy(this.clock.now(), name);
  }

  /** Signs the CSR, or fails as told. */
  async createCertificate(call: CertificateSigningCall, _signal: AbortSignal): Promise<string[]> {
    this.calls.push(call);
    if (this.failure !== undefined) throw this.failure;
    const csr = parseCsr(call.csr);
    verifyCsr(csr);
    const lifetimeMs = Math.min(call.validityDurationSeconds * 1000, this.maxLifetimeMs);
    const { intermediate, root } = this.hierarchy;
    const template = templateFromCsr(csr, { lifetimeMs, ...(this.signAs !== undefined && { sans: { uris: [this.signAs] } }) });
    const leaf = issueCertificate(template, signer(intermediate), { now: this.clock.now() });
    this.issued.push(leaf);
    const chain = [leaf.pem, intermediate.certificate.pem, root.certificate.pem];
    return this.tamper === undefined ? chain : this.tamper(chain, call);
  }

  /** Records the close. */
  close(): void {
    this.closed = true;
  }
}

const signer = (issued: Issued): { certificate: Certificate; key: KeyObject } => ({ certificate: issued.certificate, key: issued.key });
