// British spellings users type for the American field names Kubernetes APIs use.
const BRITISH_TO_AMERICAN: ReadonlyArray<readonly [RegExp, string]> = [
  [/isation/g, 'ization'],
  [/ise([sd]?)$/g, 'ize$1'],
  [/our/g, 'or'],
  [/licence/g, 'license'],
  [/centre/g, 'center'],
];

const americanize = (word: string): string =>
  BRITISH_TO_AMERICAN.reduce((w, [from, to]) => w.replace(from, to), word);

/**
 * The candidate the user most likely meant by `input`, or undefined when none is close: an exact
 * match ignoring case and separators wins, then a British spelling, then the smallest edit distance
 * (at most 1 for short names, 2 for names of five or more characters, 3 from ten).
 */
export function suggestName(input: string, candidates: Iterable<string>): string | undefined {
  const fold = (s: string): string => s.toLowerCase().replace(/[-_ ]/g, '');
  const wanted = fold(input);
  const american = americanize(wanted);
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    if (candidate === input) continue;
    const folded = fold(candidate);
    if (folded === wanted || folded === american) return candidate;
    const d = Math.min(editDistance(wanted, folded), editDistance(american, folded));
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  const allowed = wanted.length >= 10 ? 3 : wanted.length >= 5 ? 2 : 1;
  return bestDistance <= allowed ? best : undefined;
}

// Damerau–Levenshtein (optimal string alignment): a swapped pair of letters counts as one edit.
function editDistance(a: string, b: string): number {
  // Names longer than this are never field names; don't spend quadratic time on hostile input.
  if (a.length > 256 || b.length > 256) return Number.POSITIVE_INFINITY;
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row: number[] = [i];
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        row.push(j);
        continue;
      }
      const prev = rows[i - 1] as number[];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        v = Math.min(v, ((rows[i - 2] as number[])[j - 2] as number) + 1);
      }
      row.push(v);
    }
    rows.push(row);
  }
  return (rows[a.length] as number[])[b.length] as number;
}
