import { constants } from 'node:fs';
import { lstat, mkdir, open, readdir, readlink, realpath, rename, rm, stat, symlink } from 'node:fs/promises';
import path from 'node:path';
import { MeshcaError } from '../errors/index.js';

/** The files Istio's agent keeps in its credential folder (DESIGN §3). */
export const CREDENTIAL_FILES = { chain: 'cert-chain.pem', key: 'key.pem', root: 'root-cert.pem' } as const;

/** The symlink naming the current version folder (the layout the kubelet uses for projected volumes). */
export const DATA_LINK = '..data';

/** The three PEM texts of one credential set. */
export interface CredentialTexts {
  /** Leaf and intermediates. */
  readonly chainPem: string;
  readonly keyPem: string;
  /** The root bundle. */
  readonly rootPem: string;
}

/** The outcome of reading the folder: the texts, or why there are none. */
export type CredentialRead = { ok: true; texts: CredentialTexts } | { ok: false; reason: string };

/** The largest credential file read back; real ones are a few KiB. */
export const MAX_CREDENTIAL_FILE_BYTES = 1024 * 1024;

/**
 * The agent's output folder, written the way the kubelet writes a projected volume:
 *
 *     out/..2026_11_22T12_00_00Z.<serial>/{cert-chain.pem,key.pem,root-cert.pem}   one version
 *     out/..data -> ..2026_11_22T12_00_00Z.<serial>                               swapped by rename()
 *     out/cert-chain.pem -> ..data/cert-chain.pem  (and key.pem, root-cert.pem)
 *
 * Why: two files cannot be replaced by one rename, so writing key.pem and cert-chain.pem in
 * place always leaves a moment where a reader pairs a new key with an old chain. Here a version
 * is complete (every file written and fsynced, the key 0600 from creation) before the one
 * atomic step, the rename of `..data`; a reader that resolves `..data` once (or watches the
 * folder, as Envoy's `watched_directory` does) always sees a matching pair, and one that opens
 * the top-level names sees the old set or the new set per file within a single swap. The
 * previous version (the one `..data` named before the swap) is kept until the next write so a
 * reader that resolved it can finish.
 */
export class CredentialFolder {
  /** The folder. */
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  /**
   * Writes a new version and swaps it in; on any failure up to the swap it throws and the
   * previous files stay as they were. Once `..data` names the new version the write has
   * happened, whatever follows: a problem in the steps after the swap (a top-level link, the
   * folder's fsync, removing old versions) is returned as a warning, not thrown, because a caller
   * that took the write for failed would keep using, and retry past, a set readers already see.
   */
  async write(texts: CredentialTexts, version: string): Promise<string[]> {
    if (!/^[A-Za-z0-9_.:-]{1,100}$/.test(version)) {
      throw new MeshcaError('INTERNAL', `the version name "${version}" is not a safe folder name`);
    }
    await this.ensureFolder();
    const name = await this.freeVersionName(`..${version}`);
    const versionDir = path.join(this.dir, name);
    let previous: string | undefined;
    try {
      await mkdir(versionDir, { mode: 0o755 });
      await writeNewFile(path.join(versionDir, CREDENTIAL_FILES.key), texts.keyPem, 0o600);
      await writeNewFile(path.join(versionDir, CREDENTIAL_FILES.chain), texts.chainPem, 0o644);
      await writeNewFile(path.join(versionDir, CREDENTIAL_FILES.root), texts.rootPem, 0o644);
      await fsyncPath(versionDir);
      // Read just before the swap: the version readers are using now is the one to keep.
      previous = await this.dataTarget();
      await replaceWithSymlink(path.join(this.dir, DATA_LINK), name);
    } catch (err) {
      await rm(versionDir, { recursive: true, force: true });
      throw new MeshcaError('FILE_UNREADABLE', `cannot write the credential files in ${this.dir}: ${errorText(err)}`, {
        cause: err,
        hint: 'check that the folder is writable by the agent and the disk is not full; the previous files are kept',
        retryable: true,
      });
    }
    const warnings = await this.ensureLinks();
    try {
      await fsyncPath(this.dir);
    } catch (err) {
      warnings.push(`cannot fsync the credential folder ${this.dir}: ${errorText(err)}; the swap to ${name} may not survive a power loss`);
    }
    warnings.push(...(await this.removeOldVersions([name, ...(previous !== undefined ? [previous] : [])])));
    return warnings;
  }

  /**
   * Points each top-level name at `..data/<file>` when `..data` leads to a folder, and returns
   * the names it had to (re)make. `write` makes the links only after the swap, so a process
   * killed between the two (or while replacing the plain files of another tool) leaves names
   * that are missing or hold another set, while `read` goes through `..data` and finds a valid
   * one; a caller reusing that set calls this so the top-level names match it again. Without a
   * `..data` that resolves nothing is touched: plain files may be the only set there is.
   */
  async repairLinks(): Promise<string[]> {
    try {
      if (!(await stat(path.join(this.dir, DATA_LINK))).isDirectory()) return [];
    } catch {
      return [];
    }
    const repaired: string[] = [];
    const failures: string[] = [];
    for (const file of Object.values(CREDENTIAL_FILES)) {
      try {
        if (await ensureSymlink(path.join(this.dir, file), `${DATA_LINK}/${file}`)) repaired.push(file);
      } catch (err) {
        failures.push(linkFailure(this.dir, file, err));
      }
    }
    if (failures.length > 0) {
      throw new MeshcaError('FILE_UNREADABLE', failures.join('; '), {
        hint: 'check that the credential folder is writable by the agent; the set behind ..data is unchanged',
        retryable: true,
      });
    }
    return repaired;
  }

  /**
   * Reads the current set through one resolution of `..data` (or the plain files a folder
   * written by another tool holds), or says why there is none.
   */
  async read(): Promise<CredentialRead> {
    let base = this.dir;
    try {
      base = await realpath(path.join(this.dir, DATA_LINK));
    } catch {
      // no versioned layout: read the plain files, if any
    }
    const texts: string[] = [];
    for (const file of [CREDENTIAL_FILES.chain, CREDENTIAL_FILES.key, CREDENTIAL_FILES.root]) {
      const text = await readBounded(path.join(base, file));
      if (typeof text !== 'string') return { ok: false, reason: `${file}: ${text.reason}` };
      texts.push(text);
    }
    const [chainPem = '', keyPem = '', rootPem = ''] = texts;
    return { ok: true, texts: { chainPem, keyPem, rootPem } };
  }

  private async ensureFolder(): Promise<void> {
    try {
      await mkdir(this.dir, { recursive: true, mode: 0o755 });
    } catch (err) {
      throw new MeshcaError('FILE_UNREADABLE', `cannot create the credential folder ${this.dir}: ${errorText(err)}`, {
        cause: err,
        hint: 'give --out a folder the agent may write',
      });
    }
  }

  private async freeVersionName(base: string): Promise<string> {
    for (let i = 0; ; i++) {
      const name = i === 0 ? base : `${base}-${i}`;
      try {
        await lstat(path.join(this.dir, name));
      } catch {
        return name;
      }
    }
  }

  /** The name of the version `..data` points at, or undefined when there is no `..data` link. */
  private async dataTarget(): Promise<string | undefined> {
    let target: string;
    try {
      target = await readlink(path.join(this.dir, DATA_LINK));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // ENOENT: no ..data yet; EINVAL: not a link (nothing we wrote).
      if (code === 'ENOENT' || code === 'EINVAL') return undefined;
      throw err;
    }
    // The kubelet and this class write a bare name; a link spelled otherwise still keeps the
    // version it leads to, when that is an entry of this folder.
    const resolved = path.resolve(this.dir, target);
    return path.dirname(resolved) === path.resolve(this.dir) ? path.basename(resolved) : undefined;
  }

  /**
   * Removes every version folder but `keep` (the new version and the one `..data` named before
   * the swap, which readers may still hold). Not "the newest other name": a version a crash left
   * half-written can sort after the one in use. Returns a warning per version it could not remove.
   */
  private async removeOldVersions(keep: readonly string[]): Promise<string[]> {
    let entries: string[];
    try {
      entries = await readdir(this.dir);
    } catch (err) {
      return [`cannot list ${this.dir} to remove old versions: ${errorText(err)}`];
    }
    const warnings: string[] = [];
    for (const e of entries) {
      if (!e.startsWith('..') || e === DATA_LINK || e.endsWith('.tmp') || keep.includes(e)) continue;
      try {
        await rm(path.join(this.dir, e), { recursive: true, force: true });
      } catch (err) {
        warnings.push(`cannot remove the old version ${path.join(this.dir, e)}: ${errorText(err)}`);
      }
    }
    return warnings;
  }

  /** Makes the three top-level links, going on past a failure; returns a warning per link it could not make. */
  private async ensureLinks(): Promise<string[]> {
    const warnings: string[] = [];
    for (const file of Object.values(CREDENTIAL_FILES)) {
      try {
        await ensureSymlink(path.join(this.dir, file), `${DATA_LINK}/${file}`);
      } catch (err) {
        warnings.push(`${linkFailure(this.dir, file, err)}; readers of that name do not see the new set until the next write`);
      }
    }
    return warnings;
  }
}

const linkFailure = (dir: string, file: string, err: unknown): string => `cannot point ${path.join(dir, file)} at ${DATA_LINK}/${file}: ${errorText(err)}`;

const errorText = (err: unknown): string => (err as NodeJS.ErrnoException).code ?? (err as Error).message;

/** Creates `file` (failing if it exists) with `mode` from the first instant, writes and fsyncs it. */
async function writeNewFile(file: string, text: string, mode: number): Promise<void> {
  const handle = await open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
  try {
    await handle.writeFile(text, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function fsyncPath(dir: string): Promise<void> {
  const handle = await open(dir, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Points `link` at `target` with one rename, whatever `link` was before. */
async function replaceWithSymlink(link: string, target: string): Promise<void> {
  const tmp = `${link}.tmp`;
  await rm(tmp, { force: true });
  await symlink(target, tmp);
  await rename(tmp, link);
}

/** Makes `link` a symlink to `target` unless it already is one; says whether it had to. */
async function ensureSymlink(link: string, target: string): Promise<boolean> {
  try {
    if ((await lstat(link)).isSymbolicLink() && (await readlink(link)) === target) return false;
  } catch {
    // absent: create it
  }
  await replaceWithSymlink(link, target);
  return true;
}

async function readBounded(file: string): Promise<string | { reason: string }> {
  let handle;
  try {
    handle = await open(file, constants.O_RDONLY);
  } catch (err) {
    return { reason: (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'absent' : `unreadable (${errorText(err)})` };
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) return { reason: 'not a regular file' };
    if (stat.size > MAX_CREDENTIAL_FILE_BYTES) return { reason: `${stat.size} bytes, over the ${MAX_CREDENTIAL_FILE_BYTES}-byte limit` };
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

