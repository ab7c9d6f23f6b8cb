/** One problem found in a resource: where (a field path) and what, phrased as what to do. */
export interface ValidationIssue {
  /** Field path from the document root, e.g. `['spec', 'dnsNames', 0]`; empty for the whole document. */
  readonly path: ReadonlyArray<string | number>;
  /** Lowercase, precise, says what is expected. */
  readonly message: string;
}

/** Renders a path the way kubectl does: `spec.dnsNames[0]`; `<document>` for the root. */
export function formatPath(path: ReadonlyArray<string | number>): string {
  if (path.length === 0) return '<document>';
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(seg)) out += out.length === 0 ? seg : `.${seg}`;
    // Keys such as `tls.crt` or `app.kubernetes.io/name` are quoted so the path stays unambiguous.
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}
