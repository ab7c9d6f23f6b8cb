import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { MeshcaError } from '../../errors/index.js';
import { openSqliteStore, type SqliteStore } from './sqlite-store.js';

/** The embedded store's file in a meshca home folder. */
export const HOME_STORE_FILE = 'store.db';

/**
 * Opens the embedded store of a meshca home. With `create`, a missing folder (0700) and store are
 * made: `init`, `apply`, `serve` and `demo` start homes. Without it the home must already hold a
 * store, so that a mistyped `--home` given to a command that only reads or changes what is there
 * fails and names the folder, instead of answering from a new, empty home it leaves behind.
 */
export function openHomeStore(home: string, options: { readonly create: boolean }): SqliteStore {
  const file = path.join(home, HOME_STORE_FILE);
  if (options.create) mkdirSync(home, { recursive: true, mode: 0o700 });
  else if (!existsSync(file))
    throw new MeshcaError('NOT_FOUND', `${home} is not a meshca home: it has no ${HOME_STORE_FILE}`, {
      hint: 'run `meshca init` to make one there, or point --home (or MESHCA_HOME) at the home you meant',
    });
  return openSqliteStore({ path: file });
}
