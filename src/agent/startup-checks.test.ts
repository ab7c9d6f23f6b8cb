import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isMeshcaError } from '../errors/index.js';
import { checkOutFolder, tokenFileWarning } from './startup-checks.js';
import { AgentFixture } from './testing/agent-fixture.js';

let fx: AgentFixture;
beforeEach(() => {
  fx = new AgentFixture();
});
afterEach(() => fx.cleanup());

describe('tokenFileWarning', () => {
  it('has nothing to say about a readable JWT', async () => {
    expect(await tokenFileWarning(fx.tokenFile)).toBeUndefined();
  });

  it.each([
    ['a missing file', (f: string) => f, /^at start: cannot read the token file .*: ENOENT; it is read again before every request/],
    ['an empty file (not yet written)', (f: string) => (writeFileSync(f, ''), f), /^at start: the token file .* is empty; it is read again/],
    ['a file that is not a JWT', (f: string) => (writeFileSync(f, 'hello'), f), /^at start: the token file .* does not hold a JWT/],
  ])('warns, without failing, about %s', async (_name, make, message) => {
    const file = make(path.join(fx.dir, 'later-token'));
    expect(await tokenFileWarning(file)).toMatch(message);
  });

  it.each([
    ['a folder', (f: string) => mkdirSync(f), 'FILE_UNREADABLE', /is a folder, not a file$/],
    ['a file over 64 KiB', (f: string) => writeFileSync(f, 'a'.repeat(70_000)), 'INPUT_TOO_LARGE', /is larger than 65536 bytes$/],
  ])('throws on %s, which no token rotation mends', async (_name, make, code, message) => {
    const file = path.join(fx.dir, 'bad-token');
    make(file);
    const err = await tokenFileWarning(file).catch((e: unknown) => e);
    expect(isMeshcaError(err, code as never)).toBe(true);
    expect((err as Error).message).toMatch(message);
  });
});

describe('checkOutFolder', () => {
  it('accepts an existing folder, a missing one and a missing one several levels down', async () => {
    mkdirSync(fx.outDir);
    await expect(checkOutFolder(fx.outDir)).resolves.toBeUndefined();
    await expect(checkOutFolder(path.join(fx.dir, 'new'))).resolves.toBeUndefined();
    await expect(checkOutFolder(path.join(fx.dir, 'a', 'b', 'c'))).resolves.toBeUndefined();
  });

  it('refuses a file, naming --out', async () => {
    writeFileSync(fx.outDir, 'x');
    const err = await checkOutFolder(fx.outDir).catch((e: unknown) => e);
    expect(isMeshcaError(err, 'FILE_UNREADABLE')).toBe(true);
    expect((err as Error).message).toBe(`--out ${fx.outDir} exists and is not a folder`);
  });
});
