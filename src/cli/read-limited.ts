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
