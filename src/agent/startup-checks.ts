import { constants } from 'node:fs';
import { access, lstat, stat } from 'node:fs/promises';
import path from 'node:path';
import { MeshcaError, isMeshcaError } from '../errors/index.js';
import { readTokenFile } from './read-inputs.js';

const errnoOf = (err: unknown): string => (err as NodeJS.ErrnoException).code ?? (err as Error).message;

const outProblem = (message: string, hint: string, cause?: unknown): MeshcaError =>
  new MeshcaError('FILE_UNREADABLE', message, { hint, ...(cause !== undefined && { cause }) });

/**
 * Checks at start that `--out` can hold the credential folder, so a wrong path fails at once
 * instead of at the first write, after a call to the CA: an existing path must be a folder the
 * agent may read, write and enter; a missing one must be creatable, i.e. its nearest existing
 * parent a folder the agent may write in. Throws FILE_UNREADABLE (exit 1) naming the problem.
 * As root every permission check passes except on a read-only file system (EROFS).
 */
export async function checkOutFolder(dir: string): Promise<void> {
  let isFolder: boolean;
  try {
    isFolder = (await stat(dir)).isDirectory();
  } catch (err) {
    const code = errnoOf(err);
    if (code === 'ENOTDIR') {
      throw outProblem(`--out ${dir} cannot be a folder: a part of its path is a file (ENOTDIR)`, 'give --out a folder (it is made when missing)', err);
    }
    if (code !== 'ENOENT') throw outProblem(`cannot look at --out ${dir}: ${code}`, 'check the path and its permissions', err);
    if (await lstat(dir).then(() => true, () => false)) {
      throw outProblem(`--out ${dir} is a symbolic link to nothing`, 'point the link at a folder, or give --out another path', err);
    }
    await checkCreatable(dir);
    return;
  }
  if (!isFolder) {
    throw outProblem(`--out ${dir} exists and is not a folder`, 'give --out a folder (it is made when missing); the agent keeps three files and their versions in it');
  }
  try {
    await access(dir, constants.R_OK | constants.W_OK | constants.X_OK);
  } catch (err) {
    throw outProblem(`the agent may not write in --out ${dir} (${errnoOf(err)})`, 'give the agent read and write access to the folder, or choose another --out', err);
  }
}

/** A missing `dir` will be made by the first write (mkdir -p): its nearest existing parent must be a writable folder. */
async function checkCreatable(dir: string): Promise<void> {
  let parent = path.dirname(dir);
  for (;;) {
    try {
      if (!(await stat(parent)).isDirectory()) {
        throw outProblem(`cannot create --out ${dir}: ${parent} is not a folder`, 'give --out a path under a folder');
      }
      break;
    } catch (err) {
      if (isMeshcaError(err)) throw err;
      const code = errnoOf(err);
      if (code === 'ENOTDIR') throw outProblem(`cannot create --out ${dir}: a part of its path is a file (ENOTDIR)`, 'give --out a path under a folder', err);
      if (code !== 'ENOENT' || path.dirname(parent) === parent) throw outProblem(`cannot create --out ${dir}: cannot look at ${parent} (${code})`, 'check the path and its permissions', err);
      parent = path.dirname(parent);
    }
  }
  try {
    await access(parent, constants.W_OK | constants.X_OK);
  } catch (err) {
    throw outProblem(`cannot create --out ${dir}: the agent may not write in ${parent} (${errnoOf(err)})`, 'create the folder for the agent, or choose another --out', err);
  }
}

/**
 * Reads the token file once at start. The agent reads it again before every request and a
 * projected token may appear (or become readable, or be rewritten) a moment after the agent
 * starts, so a problem that can go away is returned as a warning to log, not thrown: a missing
 * or unreadable file, an empty one, one that is not a JWT. A problem no rewrite of the token can
 * mend (the path is a folder, the file is over 64 KiB) is thrown. Undefined when the token is fine.
 */
export async function tokenFileWarning(file: string): Promise<string | undefined> {
  try {
    await readTokenFile(file);
    return undefined;
  } catch (err) {
    if (isMeshcaError(err) && err.retryable) {
      return `at start: ${err.message}; it is read again before every request, so a token that appears later is used`;
    }
    throw err;
  }
}
