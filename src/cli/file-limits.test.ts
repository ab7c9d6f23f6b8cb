import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isMeshcaError } from '../errors/index.js';
import { readServeConfigFile } from './commands/serve-options.js';
import { readFileLimited } from './read-limited.js';
import { CliHarness } from './testing/cli-harness.js';
import { feedFifo, fifoUnavailable, makeFifo, makeSparseFile } from './testing/special-files.js';

// Every file a flag names is read bounded: a device, a pipe or a huge file never reaches memory.

let cli: CliHarness;
const feeders: ChildProcess[] = [];
beforeEach(() => {
  cli = new CliHarness();
});
afterEach(() => {
  for (const f of feeders.splice(0)) if (f.exitCode === null && f.signalCode === null) f.kill();
  cli.cleanup();
});

const GIB = 1024 * 1024 * 1024;
const write = (name: string, text: string): string => {
  writeFileSync(path.join(cli.dir, name), text);
  return name;
};
/** A FIFO in the harness folder fed `bytes` zero bytes once opened: code that reads it reads that much. */
const fifo = (name: string, bytes: number): string => {
  makeFifo(path.join(cli.dir, name));
  feeders.push(feedFifo(path.join(cli.dir, name), bytes));
  return name;
};
const storeMade = (): boolean => existsSync(path.join(cli.home, 'store.db'));
const caught = (fn: () => unknown): unknown => {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
};

describe('readFileLimited', () => {
  it('reads a regular file within the limit', () => {
    write('a.txt', 'héllo');
    expect(readFileLimited('a.txt', { cwd: cli.dir, limit: 6 })).toBe('héllo');
  });

  it('refuses a file over the limit by its size, before reading it, naming the file and the limit', () => {
    makeSparseFile(path.join(cli.dir, 'huge.bin'), 5 * GIB);
    const err = caught(() => readFileLimited('huge.bin', { cwd: cli.dir, limit: 1024, label: '--x huge.bin' }));
    expect(isMeshcaError(err, 'INPUT_TOO_LARGE')).toBe(true);
    expect((err as Error).message).toBe('--x huge.bin is 5368709120 bytes; the limit is 1024 bytes (1 KiB)');
  });

  it.skipIf(!existsSync('/proc/self/maps'))(
    'reads at most limit + 1 bytes of a file whose size says 0 (/proc), then refuses it',
    () => {
      const err = caught(() => readFileLimited('/proc/self/maps', { cwd: cli.dir, limit: 16 }));
      expect(isMeshcaError(err, 'INPUT_TOO_LARGE')).toBe(true);
      expect((err as Error).message).toBe('/proc/self/maps is over 16 bytes; the limit is 16 bytes');
    },
  );

  it('refuses /dev/zero and a folder without reading them', () => {
    const zero = caught(() => readFileLimited('/dev/zero', { cwd: cli.dir, limit: 1024 }));
    expect(isMeshcaError(zero, 'FILE_UNREADABLE')).toBe(true);
    expect((zero as Error).message).toBe('/dev/zero is a character device, not a regular file');
    const dir = caught(() => readFileLimited('.', { cwd: cli.dir, limit: 1024 }));
    expect((dir as Error).message).toBe('. is a directory, not a regular file');
  });

  it.skipIf(fifoUnavailable !== undefined)('refuses a FIFO at once, even one nobody writes to', () => {
    makeFifo(path.join(cli.dir, 'p'));
    const err = caught(() => readFileLimited('p', { cwd: cli.dir, limit: 1024 }));
    expect(isMeshcaError(err, 'FILE_UNREADABLE')).toBe(true);
    expect((err as Error).message).toBe('p is a named pipe (FIFO), not a regular file');
  });
});

describe('meshca init reads --root-cert and --root-key bounded', () => {
  it('refuses --root-key /dev/zero without reading it, and creates no home', async () => {
    write('root.pem', 'not read as far as a parse\n');
    const run = await cli.run('init', '--root-cert', 'root.pem', '--root-key', '/dev/zero');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('error: --root-key /dev/zero is a character device, not a regular file\n');
    expect(run.stderr).toContain('hint: give --root-key the name of a PEM file');
    expect(storeMade()).toBe(false);
  });

  it('refuses a 5 GiB --root-cert by its size, naming the flag and the 1 MiB limit', async () => {
    makeSparseFile(path.join(cli.dir, 'huge.pem'), 5 * GIB);
    write('key.pem', 'x');
    const run = await cli.run('init', '--root-cert', 'huge.pem', '--root-key', 'key.pem');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      'error: --root-cert huge.pem is 5368709120 bytes; a PEM file may be at most 1048576 bytes (1 MiB)',
    );
    expect(storeMade()).toBe(false);
  });

  it.skipIf(fifoUnavailable !== undefined)('refuses a FIFO as --root-key instead of reading what it pours', async () => {
    write('root.pem', 'x');
    const run = await cli.run('init', '--root-cert', 'root.pem', '--root-key', fifo('key.pem', 2 * 1024 * 1024));
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('error: --root-key key.pem is a named pipe (FIFO), not a regular file');
    expect(storeMade()).toBe(false);
  });
});

describe('meshca apply -f reads only regular files, bounded', () => {
  it('refuses -f /dev/zero, pointing at - for standard input', async () => {
    const run = await cli.run('apply', '-f', '/dev/zero');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('error: /dev/zero is a character device, not a regular file or a folder\n');
    expect(run.stderr).toContain('or - for standard input');
    expect(storeMade()).toBe(false);
  });

  it.skipIf(fifoUnavailable !== undefined)('refuses -f FIFO, which stat() says is 0 bytes', async () => {
    const run = await cli.run('apply', '-f', fifo('pipe.yaml', 5 * 1024 * 1024));
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('error: pipe.yaml is a named pipe (FIFO), not a regular file or a folder');
    expect(storeMade()).toBe(false);
  });

  it('still refuses a 5 GiB file by its size', async () => {
    makeSparseFile(path.join(cli.dir, 'huge.yaml'), 5 * GIB);
    const run = await cli.run('apply', '-f', 'huge.yaml');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      'error: huge.yaml is 5368709120 bytes; a manifest file may be at most 4194304 bytes (4 MiB)',
    );
  });

  it('skips a FIFO inside a folder given to -f, as it skips every non-regular entry', async () => {
    mkdirSync(path.join(cli.dir, 'dir'));
    if (fifoUnavailable === undefined) makeFifo(path.join(cli.dir, 'dir', 'pipe.yaml'));
    writeFileSync(
      path.join(cli.dir, 'dir', 'a.yaml'),
      'apiVersion: cert-manager.io/v1\nkind: Issuer\nmetadata:\n  name: a\nspec:\n  selfSigned: {}\n',
    );
    const run = await cli.run('apply', '-f', 'dir');
    expect(run.stderr).toBe('');
    expect(run.stdout).toBe('issuer.cert-manager.io/a created\n');
  });
});

describe('meshca inspect and serve --config read bounded', () => {
  it('inspect refuses /dev/zero as the file', async () => {
    const run = await cli.run('inspect', '/dev/zero');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('error: the file to inspect /dev/zero is a character device, not a regular file\n');
  });

  it('inspect refuses /dev/zero as --ca-file, after a good certificate file', async () => {
    expect((await cli.run('init')).code).toBe(0);
    const secret = JSON.parse((await cli.run('get', 'secret', 'istio-ca', '-o', 'json')).stdout) as {
      data: Record<string, string>;
    };
    write('chain.pem', Buffer.from(secret.data['tls.crt'] ?? '', 'base64').toString());
    const run = await cli.run('inspect', 'chain.pem', '--ca-file', '/dev/zero');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('error: --ca-file /dev/zero is a character device, not a regular file\n');
  });

  it.skipIf(fifoUnavailable !== undefined)('inspect refuses a FIFO', async () => {
    const run = await cli.run('inspect', fifo('chain.pem', 5 * 1024 * 1024));
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('error: the file to inspect chain.pem is a named pipe (FIFO), not a regular file');
  });

  it('serve --config refuses /dev/zero', () => {
    const zero = caught(() => readServeConfigFile('/dev/zero', cli.dir));
    expect(isMeshcaError(zero, 'FILE_UNREADABLE')).toBe(true);
    expect((zero as Error).message).toBe('config file /dev/zero is a character device, not a regular file');
  });

  it.skipIf(fifoUnavailable !== undefined)('serve --config refuses a FIFO', () => {
    const pipe = caught(() => readServeConfigFile(fifo('c.yaml', 1024 * 1024), cli.dir));
    expect(isMeshcaError(pipe, 'FILE_UNREADABLE')).toBe(true);
    expect((pipe as Error).message).toBe('config file c.yaml is a named pipe (FIFO), not a regular file');
  });

  it('serve --config still refuses an oversized regular file, naming the limit', () => {
    makeSparseFile(path.join(cli.dir, 'c.yaml'), 5 * GIB);
    expect(() => readServeConfigFile('c.yaml', cli.dir)).toThrow(
      'config file c.yaml is 5368709120 bytes; the limit is 262144 bytes (256 KiB)',
    );
  });
});
