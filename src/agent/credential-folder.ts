import { constants } from 'node:fs';
import { lstat, mkdir, open, readdir, readlink, realpath, rename, rm, symlink } from 'node:fs/promises';
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
 * previous version is kept until the next write so a reader that resolved it can finish.
 */
export class CredentialFolder {
  /** The folder. */
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** Writes a new version and swaps it in; on any failure the previous files stay as they were. */
  async write(texts: CredentialTexts, version: string): Promise<void> {
    if (!/^[A-Za-z0-9_.:-]{1,100}$/.test(version)) {
      throw new MeshcaError('INTERNAL', `the version name "${version}" is not a safe folder name`);
    }
    await this.ensureFolder();
    const name = await this.freeVersionName(`..${version}`);
    const versionDir = path.join(this.dir, name);
    try {
      await mkdir(versionDir, { mode: 0o755 });
      await writeNewFile(path.join(versionDir, CREDENTIAL_FILES.key), texts.keyPem, 0o600);
      await writeNewFile(path.join(versionDir, CREDENTIAL_FILES.chain), texts.chainPem, 0o644);
      await writeNewFile(path.join(versionDir, CREDENTIAL_FILES.root), texts.rootPem, 0o644);
      await fsyncPath(versionDir);
      await replaceWithSymlink(path.join(this.dir, DATA_LINK), name);
    } catch (err) {
      await rm(versionDir, { recursive: true, force: true });
      throw new MeshcaError('FILE_UNREADABLE', `cannot write the credential files in ${this.dir}: ${errorText(err)}`, {
        cause: err,
        hint: 'check that the folder is writable by the agent and the disk is not full; the previous files are kept',
        retryable: true,
      });
    }
    for (const file of Object.values(CREDENTIAL_FILES)) {
      await ensureSymlink(path.join(this.dir, file), `${DATA_LINK}/${file}`);
    }
    await fsyncPath(this.dir);
    await this.removeOldVersions(name);
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

  private async removeOldVersions(current: string): Promise<void> {
    const entries = await readdir(this.dir);
    const versions = entries.filter((e) => e.startsWith('..') && e !== DATA_LINK && e !== current && !e.endsWith('.tmp')).sort();
    const previous = versions[versions.length - 1];
    for (const v of versions) {
      if (v !== previous) await rm(path.join(this.dir, v), { recursive: true, force: true });
    }
  }
}

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

async function ensureSymlink(link: string, target: string): Promise<void> {
  try {
    if ((await lstat(link)).isSymbolicLink() && (await readlink(link)) === target) return;
  } catch {
    // absent: create it
  }
  await replaceWithSymlink(link, target);
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

