import type { AcmeSolver } from '../../api/issuer.js';
import { MeshcaError } from '../../errors/index.js';

/** What a solver is chosen for: one identifier of an order. */
export interface SolverQuery {
  /** The DNS name without the `*.` of a wildcard. */
  readonly dnsName: string;
  readonly wildcard: boolean;
  /** Labels of the Certificate / request, for selector.matchLabels. */
  readonly labels?: Readonly<Record<string, string>>;
}

/** A chosen solver and its challenge type. */
export interface SolverChoice {
  readonly solver: AcmeSolver;
  readonly index: number;
  readonly type: 'HTTP-01' | 'DNS-01';
}

const lower = (s: string): string => s.toLowerCase().replace(/\.$/, '');

/**
 * Picks the solver for one name by cert-manager's precedence: a selector that lists the name in
 * `dnsNames` wins; else the longest matching `dnsZones` entry; else the most `matchLabels`
 * matched; a solver with no selector is the fallback. Ties go to the first solver listed. A
 * wildcard name needs DNS-01 (RFC 8555 §7.1.3: the server offers only dns-01 for it).
 */
export function selectSolver(solvers: readonly AcmeSolver[], query: SolverQuery): SolverChoice {
  const name = lower(query.dnsName);
  const fullName = query.wildcard ? `*.${name}` : name;
  const labels = query.labels ?? {};
  // Score: [dnsNames matched, zone length, labels matched]; compared in that order.
  let best: { index: number; score: [number, number, number] } | undefined;
  solvers.forEach((solver, index) => {
    const sel = solver.selector;
    const wanted = Object.entries(sel?.matchLabels ?? {});
    if (!wanted.every(([k, v]) => labels[k] === v)) return;
    let nameScore = 0;
    let zoneScore = 0;
    if (sel?.dnsNames !== undefined && sel.dnsNames.length > 0) {
      if (!sel.dnsNames.some((n) => lower(n) === fullName || lower(n) === name)) return;
      nameScore = 1;
    }
    if (sel?.dnsZones !== undefined && sel.dnsZones.length > 0) {
      const zones = sel.dnsZones.map(lower).filter((z) => name === z || name.endsWith(`.${z}`));
      if (zones.length === 0) return;
      zoneScore = Math.max(...zones.map((z) => z.split('.').length));
    }
    const score: [number, number, number] = [nameScore, zoneScore, wanted.length];
    const better =
      best === undefined ||
      score[0] > best.score[0] ||
      (score[0] === best.score[0] &&
        (score[1] > best.score[1] || (score[1] === best.score[1] && score[2] > best.score[2])));
    if (better) best = { index, score };
  });
  const chosen = best === undefined ? undefined : solvers[best.index];
  if (best === undefined || chosen === undefined) {
    throw new MeshcaError('ISSUER_INVALID', `no acme solver of the issuer matches ${fullName}`, {
      hint: 'add a solver without a selector, or one whose selector names this DNS name or its zone',
    });
  }
  const type = chosen.dns01 !== undefined ? 'DNS-01' : chosen.http01 !== undefined ? 'HTTP-01' : undefined;
  if (type === undefined) {
    throw new MeshcaError(
      'ISSUER_INVALID',
      `acme solver ${best.index} of the issuer sets neither http01 nor dns01`,
      {
        hint: 'give the solver an http01 or dns01 section',
      },
    );
  }
  if (query.wildcard && type !== 'DNS-01') {
    throw new MeshcaError(
      'ISSUER_INVALID',
      `${fullName} is a wildcard and needs a DNS-01 solver, but solver ${best.index} chosen for it is HTTP-01`,
      { hint: 'add a dns01 solver whose selector matches this name (dnsNames or dnsZones)' },
    );
  }
  return { solver: chosen, index: best.index, type };
}
