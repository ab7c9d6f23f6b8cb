import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { MeshcaError, isMeshcaError } from '../errors/index.js';
import { parseCertificates, type Certificate } from '../pki/index.js';

/** The largest token file read: Kubernetes tokens are 1–2 KiB. */
export const MAX_TOKEN_BYTES = 64 * 1024;
/** The largest root bundle file read. */
export const MAX_ROOT_BUNDLE_BYTES = 1024 * 1024;

// A compact JWS (RFC 7515 §7.1): three base64url parts. Anything else (a newline inside, a
// header injection, a file of another kind) must not reach the `authorization` header.
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/**
 * Reads at most `limit` bytes of `file`, failing when there are more: the size is found by
 * reading, not by stat, so a device or FIFO (/dev/zero) cannot make the agent read forever.
 */
export async function readBoundedFile(file: string, limit: number, what: string): Promise<Buffer> {
  let handle;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw new MeshcaError('FILE_UNREADABLE', `cannot read the ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, {
      cause: err,
      retryable: true,
      hint: `check that the ${what} exists and the agent may read it`,
    });
  }
  try {
    if ((await handle.stat()).isDirectory()) {
      throw new MeshcaError('FILE_UNREADABLE', `the ${what} ${file} is a folder, not a file`, { hint: `give the path of the ${what} itself` });
    }
    const buffer = Buffer.alloc(limit + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > limit) {
        throw new MeshcaError('INPUT_TOO_LARGE', `the ${what} ${file} is larger than ${limit} bytes`, { hint: `check that the path names the ${what}` });
      }
    }
    return buffer.subarray(0, length);
  } catch (err) {
    if (isMeshcaError(err)) throw err;
    throw new MeshcaError('FILE_UNREADABLE', `cannot read the ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, {
      cause: err,
      retryable: true,
    });
  } finally {
    await handle.close();
  }
}

/** Reads the service-account token, as it is now (a projected token is rewritten by the kubelet). */
export async function readTokenFile(file: string): Promise<string> {
  const token = (await readBoundedFile(file, MAX_TOKEN_BYTES, 'token file')).toString('utf8').trim();
  if (token === '') {
    throw new MeshcaError('INVALID_INPUT', `the token file ${file} is empty`, {
      retryable: true,
      hint: 'point --token-file at a service-account token (a projected token with audience istio-ca)',
    });
  }
  if (!JWT_SHAPE.test(token)) {
    throw new MeshcaError('INVALID_INPUT', `the token file ${file} does not hold a JWT (three base64url parts joined by ".")`, {
      retryable: true,
      hint: 'point --token-file at a service-account token (a projected token with audience istio-ca)',
    });
  }
  return token;
}

/** Reads the root bundle the CA's serving certificate must chain to: one or more PEM certificates. */
export async function readRootCertFile(file: string): Promise<Certificate[]> {
  const text = (await readBoundedFile(file, MAX_ROOT_BUNDLE_BYTES, 'root certificate file')).toString('utf8');
  let certs: Certificate[];
  try {
    certs = parseCertificates(text);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new MeshcaError('CERT_INVALID', `the root certificate file ${file} cannot be read: ${reason}`, {
      cause: err,
      hint: 'give --root-cert a PEM file of the CA\'s root certificate(s)',
    });
  }
  if (certs.length === 0) {
    throw new MeshcaError('CERT_INVALID', `the root certificate file ${file} holds no certificate`, {
      hint: 'give --root-cert a PEM file of the CA\'s root certificate(s)',
    });
  }
  return certs;
}
