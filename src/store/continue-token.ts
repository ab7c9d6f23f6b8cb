import { MeshcaError } from '../errors/index.js';

/** What a list's continue token carries: where the next page starts and which list it belongs to. */
export interface ContinueToken {
  /** The list it continues: type, namespace and selector, so a token cannot be replayed on another list. */
  scope: string;
  /** The first page's resourceVersion, reported by every page so a watch from it misses nothing. */
  resourceVersion: string;
  /** The (namespace, name) of the last item returned. */
  after: [string, string];
}

const MAX_TOKEN_LENGTH = 4096;

/** Encodes a token as opaque base64url text. */
export function encodeContinueToken(token: ContinueToken): string {
  return Buffer.from(
    JSON.stringify([1, token.scope, token.resourceVersion, token.after[0], token.after[1]]),
  ).toString('base64url');
}

/** Decodes a token from the same list (same scope); INVALID_INPUT for anything else. */
export function decodeContinueToken(text: unknown, scope: string): ContinueToken {
  const bad = (why: string): never => {
    throw new MeshcaError(
      'INVALID_INPUT',
      `list continue token ${why}: pass the token from the previous page unchanged, or list again without it`,
    );
  };
  if (
    typeof text !== 'string' ||
    text.length === 0 ||
    text.length > MAX_TOKEN_LENGTH ||
    !/^[A-Za-z0-9_-]+$/.test(text)
  ) {
    return bad('is malformed');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    return bad('is malformed');
  }
  if (
    !Array.isArray(parsed) ||
    parsed.length !== 5 ||
    parsed[0] !== 1 ||
    !parsed.slice(1).every((p) => typeof p === 'string') ||
    !/^(0|[1-9][0-9]{0,15})$/.test(parsed[2] as string)
  ) {
    return bad('is malformed');
  }
  const [, tokenScope, resourceVersion, namespace, name] = parsed as [number, string, string, string, string];
  if (tokenScope !== scope) return bad('belongs to another list (type, namespace or label selector differ)');
  return { scope, resourceVersion, after: [namespace, name] };
}
