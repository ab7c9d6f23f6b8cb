import type { KeyObject } from 'node:crypto';
import { MeshcaError, isMeshcaError } from '../errors/index.js';
import { parseCertificates, publicKeysEqual, verifyChain, type Certificate } from '../pki/index.js';

/** A CA's answer that passed every check: what the agent writes to its credential folder. */
export interface IssuedCredentials {
  /** The workload certificate. */
  readonly leaf: Certificate;
  /** Leaf first, then intermediates (what `cert-chain.pem` holds; never the root). */
  readonly chain: readonly Certificate[];
  /** The root bundle: the last element of the answer (what `root-cert.pem` holds). */
  readonly roots: readonly Certificate[];
}

/** What the answer must match. */
export interface AnswerExpectation {
  /** The private key whose public half the leaf must carry. */
  readonly key: KeyObject;
  /** The one URI SAN the leaf must carry. */
  readonly spiffeId: string;
  /** Our clock's time: the chain must verify now, or at the leaf's notBefore when that is at most `MAX_CLOCK_SKEW_MS` later. */
  readonly now: Date;
}

/** The most elements an answer may have (leaf, up to 8 intermediates, root bundle). */
export const MAX_ANSWER_ELEMENTS = 10;
/** The most characters an answer may have in all. */
export const MAX_ANSWER_CHARS = 1024 * 1024;
/**
 * How far the CA's clock may run ahead of ours. meshca's CA does not backdate leaves, so a
 * fresh leaf's notBefore is the CA's "now"; an agent a second behind would otherwise refuse every
 * certificate and, having none, ask again forever. Five minutes, like the usual JWT and
 * Kubernetes leeways: wide enough for an unsynchronised clock, too narrow to hide a wrong one.
 */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;

const DEFAULT_HINT = 'the previous certificate files are kept; check the CA server (its logs, its signing CA) and that --ca-address points at a meshca or Istio CA';

const rejected = (
  code: 'CHAIN_INVALID' | 'CERT_INVALID' | 'KEY_MISMATCH' | 'INPUT_TOO_LARGE',
  message: string,
  cause?: unknown,
  hint = DEFAULT_HINT,
): MeshcaError => new MeshcaError(code, `the CA's answer ${message}`, { hint, ...(cause !== undefined && { cause }) });

/**
 * Checks an `IstioCertificateResponse.cert_chain` (DESIGN §3) before anything is written: at
 * least two elements (the Istio agent's own rule), every element PEM certificates, the leaf
 * carrying our public key and exactly our SPIFFE ID, not a CA, usable for mTLS both ways, and the
 * chain verifying up to the root bundle at `now` (or at the leaf's notBefore when a CA clock ahead
 * of ours by at most `MAX_CLOCK_SKEW_MS` made it). Throws a MeshcaError naming the first failure.
 */
export function validateAnswer(certChain: readonly string[], expect: AnswerExpectation): IssuedCredentials {
  if (certChain.length < 2) {
    throw rejected('CHAIN_INVALID', `has ${certChain.length} element(s); it needs at least two (the leaf first, the root bundle last)`);
  }
  if (certChain.length > MAX_ANSWER_ELEMENTS) {
    throw rejected('INPUT_TOO_LARGE', `has ${certChain.length} elements; at most ${MAX_ANSWER_ELEMENTS} are accepted`);
  }
  const total = certChain.reduce((n, s) => n + s.length, 0);
  if (total > MAX_ANSWER_CHARS) throw rejected('INPUT_TOO_LARGE', `is ${total} characters long; at most ${MAX_ANSWER_CHARS} are accepted`);

  const parsed = certChain.map((element, i) => {
    let certs: Certificate[];
    try {
      certs = parseCertificates(element);
    } catch (err) {
      const reason = isMeshcaError(err) ? err.message : String(err);
      throw rejected('CERT_INVALID', `has an unreadable element ${i + 1} of ${certChain.length}: ${reason}`, err);
    }
    if (certs.length === 0) throw rejected('CERT_INVALID', `has an empty element ${i + 1} of ${certChain.length}; each element must be a PEM certificate`);
    return certs;
  });
  const chain = parsed.slice(0, -1).flat();
  const roots = parsed[parsed.length - 1] ?? [];
  const leaf = chain[0] as Certificate;

  if (!publicKeysEqual(leaf.publicKey, expect.key)) {
    throw rejected('KEY_MISMATCH', `holds a leaf certificate (serial ${leaf.serialNumber}) for another public key than the one in our CSR`);
  }
  const uris = leaf.sans.uris;
  if (uris.length !== 1 || uris[0] !== expect.spiffeId) {
    const got = uris.length === 0 ? 'no URI SAN' : `the URI SAN(s) ${uris.map((u) => JSON.stringify(u)).join(', ')}`;
    throw rejected('CHAIN_INVALID', `is for another identity: the leaf carries ${got}, not exactly "${expect.spiffeId}"`);
  }
  if (leaf.isCA) throw rejected('CHAIN_INVALID', 'holds a CA certificate as the leaf; a workload certificate must not be a CA');
  const eku = leaf.extKeyUsages;
  if (eku !== undefined && !(eku.includes('serverAuth') && eku.includes('clientAuth'))) {
    throw rejected('CHAIN_INVALID', `holds a leaf whose extended key usages (${eku.join(', ')}) do not allow both serverAuth and clientAuth, which mesh mTLS needs`);
  }
  // A leaf not yet valid by our clock but within the skew is checked at its notBefore, the first
  // instant it is valid at all, so the rest of the chain must hold then too.
  const ahead = leaf.notBefore.getTime() - expect.now.getTime();
  if (ahead > MAX_CLOCK_SKEW_MS) {
    throw rejected(
      'CHAIN_INVALID',
      `holds a leaf that is not valid until ${leaf.notBefore.toISOString()}, ${seconds(ahead)} after this agent's clock (${expect.now.toISOString()}); ` +
        `at most ${seconds(MAX_CLOCK_SKEW_MS)} of clock skew is allowed`,
      undefined,
      "the previous certificate files are kept; check that the clocks of this machine and the CA's are synchronised (NTP)",
    );
  }
  const at = ahead > 0 ? leaf.notBefore : expect.now;
  const verification = verifyChain(leaf, { intermediates: chain.slice(1), roots, at });
  if (!verification.ok) {
    const when = ahead > 0 ? `${at.toISOString()} (the leaf's notBefore, ${seconds(ahead)} after this agent's clock)` : at.toISOString();
    throw rejected('CHAIN_INVALID', `does not verify up to its root bundle at ${when}: ${verification.reason}`);
  }
  return { leaf, chain, roots };
}

const seconds = (ms: number): string => `${ms / 1000} s`;
