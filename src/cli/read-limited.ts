import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import path from 'node:path';
import { MeshcaError } from '../errors/index.js';

/**
 * Reads a stream (standard input) to the end as UTF-8, failing with INPUT_TOO_LARGE as soon as it
 * passes `limit` bytes, so a runaway pipe cannot fill memory.
 */
export async function readLimited(
  stream: AsyncIterable<Buffer | string>,
  limit: number,
  what = 'standard input',
): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    size += buf.length;
    if (size > limit) {
      throw new MeshcaError(
        'INPUT_TOO_LARGE',
        `${what} is over ${limit} bytes; a manifest may be at most ${limit} bytes`,
        {
          hint: 'split the manifests into several files',
        },
      );
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** How readFileLimited reads and names a file. */
export interface ReadFileOptions {
  /** The folder a relative name is taken from. */
  readonly cwd: string;
  /** Most bytes accepted. */
  readonly limit: number;
  /** How messages name the file, like `--root-key key.pem`; default the name as given. */
  readonly label?: string;
  /** The rule a file over the limit breaks; default `the limit is <limit> bytes (<n> MiB)`. */
  readonly limitRule?: string;
  /** The hint of INPUT_TOO_LARGE. */
  readonly tooLargeHint?: string;
  /** The hint when the name is not a regular file (a folder, a device, a pipe). */
  readonly notFileHint?: string;
}

// Bytes read per call; a file is never read in more than limit + 1 bytes.
const CHUNK = 64 * 1024;

/** `4194304 bytes (4 MiB)`: a limit as messages give it. */
export function formatByteLimit(limit: number): string {
  if (limit >= 1024 * 1024 && limit % (1024 * 1024) === 0) return `${limit} bytes (${limit / (1024 * 1024)} MiB)`;
  if (limit >= 1024 && limit % 1024 === 0) return `${limit} bytes (${limit / 1024} KiB)`;
  return `${limit} bytes`;
}

/** What a non-regular file is, for messages: `a directory`, `a character device` … */
export function fileTypeName(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isFIFO()) return 'a named pipe (FIFO)';
  if (stats.isSocket()) return 'a socket';
  if (stats.isSymbolicLink()) return 'a symbolic link';
  return 'not a regular file';
}

const errnoText = (err: unknown): string => (err as NodeJS.ErrnoException).code ?? (err as Error).message;

/**
 * Reads a file named on the command line as UTF-8, bounded: it opens the file once, refuses
 * anything but a regular file (a device like /dev/zero, a FIFO, /dev/stdin, a folder) before
 * reading a byte, refuses a file whose size is over `limit`, and reads at most `limit + 1` bytes
 * from the open handle, so a file that grows, or one that reports a false size (/proc), cannot
 * fill memory. Errors are MeshcaErrors naming the file: FILE_UNREADABLE (cannot be opened or
 * read, not a regular file) and INPUT_TOO_LARGE (over the limit, which the message gives).
 * Standard input is read with readLimited instead.
 */
export function readFileLimited(file: string, options: ReadFileOptions): string {
  const label = options.label ?? file;
  const rule = options.limitRule ?? `the limit is ${formatByteLimit(options.limit)}`;
  const tooLarge = (size: string): MeshcaError =>
    new MeshcaError('INPUT_TOO_LARGE', `${label} is ${size}; ${rule}`, {
      ...(options.tooLargeHint !== undefined && { hint: options.tooLargeHint }),
    });
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO with no writer must not hang; it is refused below. No effect on files.
    fd = openSync(path.resolve(options.cwd, file), constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    throw new MeshcaError('FILE_UNREADABLE', `cannot read ${label}: ${errnoText(err)}`, { cause: err });
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) {
      throw new MeshcaError('FILE_UNREADABLE', `${label} is ${fileTypeName(stats)}, not a regular file`, {
        hint: options.notFileHint ?? 'give the name of a regular file',
      });
    }
    if (stats.size > options.limit) throw tooLarge(`${stats.size} bytes`);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(Math.min(CHUNK, options.limit + 1 - total));
      let n: number;
      try {
        n = readSync(fd, buf, 0, buf.length, null);
      } catch (err) {
        throw new MeshcaError('FILE_UNREADABLE', `cannot read ${label}: ${errnoText(err)}`, { cause: err });
      }
      if (n === 0) break;
      chunks.push(n === buf.length ? buf : buf.subarray(0, n));
      total += n;
      if (total > options.limit) throw tooLarge(`over ${options.limit} bytes`);
    }
    return Buffer.concat(chunks, total).toString('utf8');
  } finally {
    closeSync(fd);
  }
}
