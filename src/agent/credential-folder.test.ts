import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isMeshcaError } from '../errors/index.js';
import { CredentialFolder, DATA_LINK } from './credential-folder.js';

let dir: string;
let out: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'meshca-folder-'));
  out = path.join(dir, 'out');
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const set = (n: number) => ({ chainPem: `chain ${n}\n`, keyPem: `key ${n}\n`, rootPem: `root ${n}\n` });
const versions = (): string[] => readdirSync(out).filter((e) => e.startsWith('..') && e !== DATA_LINK).sort();

describe('CredentialFolder', () => {
  it('writes the three files behind ..data, with the key 0600 and the certificates 0644', async () => {
    const folder = new CredentialFolder(out);
    await folder.write(set(1), 'v1');
    for (const [file, text] of [['cert-chain.pem', 'chain 1\n'], ['key.pem', 'key 1\n'], ['root-cert.pem', 'root 1\n']] as const) {
      expect(readlinkSync(path.join(out, file))).toBe(`${DATA_LINK}/${file}`);
      expect(readFileSync(path.join(out, file), 'utf8')).toBe(text);
    }
    expect(readlinkSync(path.join(out, DATA_LINK))).toBe('..v1');
    expect(statSync(path.join(out, 'key.pem')).mode & 0o777).toBe(0o600);
    expect(statSync(path.join(out, 'cert-chain.pem')).mode & 0o777).toBe(0o644);
  });

  it('reads back what it wrote, and says why when there is nothing to read', async () => {
    const folder = new CredentialFolder(out);
    expect(await folder.read()).toEqual({ ok: false, reason: 'cert-chain.pem: absent' });
    await folder.write(set(1), 'v1');
    expect(await folder.read()).toEqual({ ok: true, texts: set(1) });
  });

  it('swaps versions atomically and keeps only the current and the previous version', async () => {
    const folder = new CredentialFolder(out);
    await folder.write(set(1), 'v1');
    await folder.write(set(2), 'v2');
    expect(versions()).toEqual(['..v1', '..v2']);
    await folder.write(set(3), 'v3');
    expect(versions()).toEqual(['..v2', '..v3']);
    expect(readlinkSync(path.join(out, DATA_LINK))).toBe('..v3');
    expect(await folder.read()).toEqual({ ok: true, texts: set(3) });
    expect(readdirSync(out).filter((e) => e.endsWith('.tmp'))).toEqual([]);
  });

  it('keeps the version ..data pointed to before the swap, not a half-made one a crash left that sorts after it', async () => {
    const folder = new CredentialFolder(out);
    await folder.write(set(1), 'v1');
    await folder.write(set(2), 'v2');
    // A process killed while writing v3 leaves a version with only its key, never swapped in.
    mkdirSync(path.join(out, '..v3'));
    writeFileSync(path.join(out, '..v3', 'key.pem'), 'key 3\n');
    expect(await folder.write(set(4), 'v4')).toEqual([]);
    expect(versions()).toEqual(['..v2', '..v4']);
    expect(readFileSync(path.join(out, '..v2', 'cert-chain.pem'), 'utf8')).toBe('chain 2\n');
  });

  it('keeps no other version when ..data did not exist before the write', async () => {
    mkdirSync(path.join(out, '..stale'), { recursive: true });
    expect(await new CredentialFolder(out).write(set(1), 'v1')).toEqual([]);
    expect(versions()).toEqual(['..v1']);
  });

  it('counts the write done once ..data is swapped, and reports a top-level link it could not make as a warning', async () => {
    // A folder where the temporary link must go makes the link step, which comes after the swap, fail.
    mkdirSync(path.join(out, 'cert-chain.pem.tmp', 'blocker'), { recursive: true });
    const folder = new CredentialFolder(out);
    const warnings = await folder.write(set(1), 'v1');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(new RegExp(`^cannot point ${out}/cert-chain.pem at ..data/cert-chain.pem: .+; readers of that name do not see the new set until the next write$`));
    expect(readlinkSync(path.join(out, DATA_LINK))).toBe('..v1');
    expect(readlinkSync(path.join(out, 'key.pem'))).toBe(`${DATA_LINK}/key.pem`);
    expect(readlinkSync(path.join(out, 'root-cert.pem'))).toBe(`${DATA_LINK}/root-cert.pem`);
    expect(await folder.read()).toEqual({ ok: true, texts: set(1) });
  });

  it('repairs the top-level links a crash after the swap left missing, or left as plain files of another tool', async () => {
    const folder = new CredentialFolder(out);
    await folder.write(set(1), 'v1');
    rmSync(path.join(out, 'cert-chain.pem'));
    rmSync(path.join(out, 'key.pem'));
    writeFileSync(path.join(out, 'key.pem'), 'old key');
    rmSync(path.join(out, 'root-cert.pem'));
    symlinkSync('..elsewhere/root-cert.pem', path.join(out, 'root-cert.pem'));
    expect(await folder.repairLinks()).toEqual(['cert-chain.pem', 'key.pem', 'root-cert.pem']);
    for (const [file, text] of [['cert-chain.pem', 'chain 1\n'], ['key.pem', 'key 1\n'], ['root-cert.pem', 'root 1\n']] as const) {
      expect(readlinkSync(path.join(out, file))).toBe(`${DATA_LINK}/${file}`);
      expect(readFileSync(path.join(out, file), 'utf8')).toBe(text);
    }
    expect(await folder.repairLinks()).toEqual([]);
  });

  it('leaves plain files alone when there is no ..data to point them at, or it points nowhere', async () => {
    mkdirSync(out);
    writeFileSync(path.join(out, 'key.pem'), 'plain key');
    const folder = new CredentialFolder(out);
    expect(await folder.repairLinks()).toEqual([]);
    symlinkSync('..gone', path.join(out, DATA_LINK));
    expect(await folder.repairLinks()).toEqual([]);
    expect(readFileSync(path.join(out, 'key.pem'), 'utf8')).toBe('plain key');
  });

  it('says which link it could not repair', async () => {
    const folder = new CredentialFolder(out);
    await folder.write(set(1), 'v1');
    rmSync(path.join(out, 'key.pem'));
    mkdirSync(path.join(out, 'key.pem.tmp', 'blocker'), { recursive: true });
    await expect(folder.repairLinks()).rejects.toThrow(new RegExp(`^cannot point ${out}/key.pem at ..data/key.pem: `));
  });

  it('gives a repeated version name its own folder instead of overwriting the one in use', async () => {
    const folder = new CredentialFolder(out);
    await folder.write(set(1), 'same');
    await folder.write(set(2), 'same');
    expect(readlinkSync(path.join(out, DATA_LINK))).toBe('..same-1');
    expect(await folder.read()).toEqual({ ok: true, texts: set(2) });
  });

  it('replaces plain files left by another tool with the links, and reads such plain files before that', async () => {
    mkdirSync(out);
    for (const [f, t] of [['cert-chain.pem', 'old chain'], ['key.pem', 'old key'], ['root-cert.pem', 'old root']]) writeFileSync(path.join(out, f as string), t as string);
    const folder = new CredentialFolder(out);
    expect(await folder.read()).toEqual({ ok: true, texts: { chainPem: 'old chain', keyPem: 'old key', rootPem: 'old root' } });
    await folder.write(set(1), 'v1');
    expect(lstatSync(path.join(out, 'key.pem')).isSymbolicLink()).toBe(true);
    expect(await folder.read()).toEqual({ ok: true, texts: set(1) });
  });

  it('leaves the previous files untouched, removes the half-made version and says what to do when the swap fails', async () => {
    const folder = new CredentialFolder(out);
    await folder.write(set(1), 'v1');
    // A folder where the temporary link must go makes the swap fail (permissions cannot: tests may run as root).
    mkdirSync(path.join(out, `${DATA_LINK}.tmp`, 'blocker'), { recursive: true });
    try {
      await folder.write(set(2), 'v2');
      expect.unreachable();
    } catch (err) {
      expect(isMeshcaError(err, 'FILE_UNREADABLE')).toBe(true);
      expect((err as Error).message).toMatch(new RegExp(`^cannot write the credential files in ${out}: `));
      expect((err as { hint?: string }).hint).toMatch(/the previous files are kept/);
    }
    expect(await folder.read()).toEqual({ ok: true, texts: set(1) });
    expect(versions()).toEqual(['..data.tmp', '..v1']);
  });

  it('refuses to create the folder under a file, naming the folder', async () => {
    writeFileSync(path.join(dir, 'file'), '');
    const folder = new CredentialFolder(path.join(dir, 'file', 'out'));
    await expect(folder.write(set(1), 'v1')).rejects.toThrow(/^cannot create the credential folder .*file\/out: ENOTDIR/);
  });

  it('refuses a version name that could escape the folder', async () => {
    await expect(new CredentialFolder(out).write(set(1), '../../etc')).rejects.toThrow(/is not a safe folder name/);
  });

  it('does not read back an oversized or non-regular file, and says which', async () => {
    const folder = new CredentialFolder(out);
    await folder.write(set(1), 'v1');
    const real = path.join(out, '..v1', 'root-cert.pem');
    rmSync(real);
    writeFileSync(real, Buffer.alloc(1024 * 1024 + 1));
    expect(await folder.read()).toEqual({ ok: false, reason: 'root-cert.pem: 1048577 bytes, over the 1048576-byte limit' });
    rmSync(real);
    mkdirSync(real);
    expect(await folder.read()).toEqual({ ok: false, reason: 'root-cert.pem: not a regular file' });
  });
});
