import path from 'node:path';

/** The meshca home folder: `--home`, else `$MESHCA_HOME`, else `./.meshca`. */
export function resolveHome(flag: string | undefined, env: Readonly<Record<string, string | undefined>>, cwd: string): string {
  const chosen = flag ?? env['MESHCA_HOME'] ?? '.meshca';
  return path.resolve(cwd, chosen);
}
