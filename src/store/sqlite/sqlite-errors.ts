import { MeshcaError, isMeshcaError } from '../../errors/index.js';

/** What a SQLite failure means to meshca: BUSY is retryable, CORRUPT/NOTADB is final, the rest says so. */
export function mapSqliteError(err: unknown, file: string, busyTimeoutMs: number): MeshcaError {
  if (isMeshcaError(err)) return err;
  const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : '';
  const message = err instanceof Error ? err.message : String(err);
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new MeshcaError(
      'STORE_UNAVAILABLE',
      `store ${file} stayed locked by another writer for longer than ${busyTimeoutMs} ms (${code}): retry; if it persists, look for a stuck meshca process`,
      { cause: err },
    );
  }
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB') {
    return new MeshcaError(
      'STORE_CORRUPT',
      `store ${file} is damaged or not a SQLite database (${code}: ${message}): restore it from a backup or move it away; meshca does not overwrite it`,
      { cause: err },
    );
  }
  if (
    code.startsWith('SQLITE_FULL') ||
    code.startsWith('SQLITE_IOERR') ||
    code.startsWith('SQLITE_CANTOPEN') ||
    code.startsWith('SQLITE_READONLY') ||
    code.startsWith('SQLITE_PERM')
  ) {
    return new MeshcaError(
      'STORE_UNAVAILABLE',
      `store ${file} cannot be read or written (${code}: ${message}): check the disk space and the file's permissions`,
      { cause: err },
    );
  }
  if (err instanceof TypeError && /database connection is not open/.test(message)) {
    return new MeshcaError('STORE_UNAVAILABLE', `store ${file} is closed: open it again`, {
      cause: err,
      retryable: false,
    });
  }
  return new MeshcaError('INTERNAL', `store ${file}: ${message}`, { cause: err });
}
