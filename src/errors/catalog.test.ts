import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from './codes.js';
import { MeshcaError, toMeshcaError } from './meshca-error.js';

const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');

describe('the error catalog', () => {
  it.each(Object.keys(ERROR_CODES))('documents code %s in docs/errors.md with a table row and a section', (code) => {
    expect(doc).toContain(`| \`${code}\` |`);
    expect(doc).toContain(`### \`${code}\``);
  });

  it('documents no code that the catalog does not have', () => {
    const documented = [...doc.matchAll(/^### `([A-Z_]+)`$/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual(Object.keys(ERROR_CODES).sort());
  });

  it('lists in the table the same retryable flag and statuses as the code', () => {
    for (const [code, spec] of Object.entries(ERROR_CODES)) {
      const row = `| \`${code}\` | ${spec.retryable ? 'yes' : 'no'} | ${spec.grpc} | ${spec.http} | ${spec.exit} |`;
      expect(doc).toContain(row);
    }
  });

  it('gives a MeshcaError the retryable flag of its code unless told otherwise', () => {
    expect(new MeshcaError('CONFLICT', 'stale').retryable).toBe(true);
    expect(new MeshcaError('CSR_INVALID', 'bad').retryable).toBe(false);
    expect(new MeshcaError('CSR_INVALID', 'bad', { retryable: true }).retryable).toBe(true);
  });

  it('wraps a foreign error as INTERNAL keeping it as the cause, and keeps a MeshcaError as it is', () => {
    const foreign = new TypeError('boom');
    const wrapped = toMeshcaError(foreign);
    expect(wrapped.code).toBe('INTERNAL');
    expect(wrapped.message).toBe('boom');
    expect(wrapped.cause).toBe(foreign);
    const own = new MeshcaError('NOT_FOUND', 'x');
    expect(toMeshcaError(own)).toBe(own);
  });
});
