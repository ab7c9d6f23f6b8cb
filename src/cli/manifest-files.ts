import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { KindInfo } from '../api/kinds.js';
import { findKind } from '../api/kinds.js';
import { MAX_MANIFEST_BYTES, parseManifests } from '../api/manifest.js';
import type { KnownResource } from '../api/validate-resource.js';
import { isMeshcaError, MeshcaError } from '../errors/index.js';
import type { CliContext } from './context.js';
import { usageError } from './usage-error.js';

/** Extensions a folder given to `-f` contributes, as kubectl reads them. */
const MANIFEST_EXTENSIONS = ['.yaml', '.yml', '.json'];
/** Most files one `-f DIR` may hold; a folder of thousands of files is a mistake, not a platform. */
const MAX_FILES = 1000;

/** One resource read from a file, with its namespace resolved and the kind it is. */
export interface ManifestObject {
  readonly resource: KnownResource;
  readonly kind: KindInfo;
  /** The file it came from (`-` for standard input), for messages. */
  readonly source: string;
}

/** Options of readManifestObjects. */
export interface ReadManifestOptions {
  /** `-n` as given; undefined = not given. */
  readonly namespaceFlag: string | undefined;
  /** The namespace for namespaced objects without one when `-n` is not given. */
  readonly defaultNamespace: string;
}

// The files a `-f` argument names: itself, or a folder's manifest files in name order.
function expand(arg: string, cwd: string): string[] {
  const full = path.resolve(cwd, arg);
  let isDir: boolean;
  try {
    isDir = statSync(full).isDirectory();
  } catch (err) {
    throw new MeshcaError(
      'FILE_UNREADABLE',
      `cannot read ${arg}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      {
        cause: err,
        hint: 'give -f an existing file, a folder of .yaml/.yml/.json files, or - for standard input',
      },
    );
  }
  if (!isDir) return [arg];
  const names = readdirSync(full, { withFileTypes: true })
    .filter((d) => d.isFile() && MANIFEST_EXTENSIONS.includes(path.extname(d.name).toLowerCase()))
    .map((d) => d.name)
    .sort();
  if (names.length > MAX_FILES) {
    throw new MeshcaError(
      'INPUT_TOO_LARGE',
      `${arg} holds ${names.length} manifest files; at most ${MAX_FILES} are read from one folder`,
      {
        hint: 'apply the folder in parts',
      },
    );
  }
  return names.map((n) => path.join(arg, n));
}

// One file's text, refusing anything over the manifest limit before reading it whole.
function readText(file: string, cwd: string): string {
  const full = path.resolve(cwd, file);
  try {
    const size = statSync(full).size;
    if (size > MAX_MANIFEST_BYTES) {
      throw new MeshcaError(
        'INPUT_TOO_LARGE',
        `${file} is ${size} bytes; a manifest file may be at most ${MAX_MANIFEST_BYTES} bytes (4 MiB)`,
        {
          hint: 'split the manifests into several files',
        },
      );
    }
    return readFileSync(full, 'utf8');
  } catch (err) {
    if (err instanceof MeshcaError) throw err;
    throw new MeshcaError(
      'FILE_UNREADABLE',
      `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      {
        cause: err,
      },
    );
  }
}

/**
 * Reads and validates every manifest `-f` names (files, folders, `-` for stdin), all or nothing:
 * every problem of every file is collected into one INVALID_RESOURCE listing `file:line: …`.
 * Namespaced objects without a namespace get `-n` (or the default); an object whose namespace
 * differs from an explicit `-n` is an error, as in kubectl.
 */
export async function readManifestObjects(
  args: readonly string[],
  ctx: CliContext,
  options: ReadManifestOptions,
): Promise<ManifestObject[]> {
  if (args.length === 0) throw usageError('give at least one -f FILE, -f DIR or -f -');
  const files: string[] = [];
  for (const arg of args) {
    if (arg === '-') {
      if (files.includes('-')) throw usageError('-f - (standard input) may be given only once');
      files.push('-');
    } else files.push(...expand(arg, ctx.cwd));
  }
  const problems: string[] = [];
  const badFiles = new Set<string>();
  const objects: ManifestObject[] = [];
  for (const file of files) {
    let text: string;
    if (file === '-') {
      if (ctx.stdin === undefined) throw usageError('standard input is not available here; give -f a file');
      text = await ctx.stdin();
    } else text = readText(file, ctx.cwd);
    try {
      for (const resource of parseManifests(text, file)) {
        const kind = findKind(resource.apiVersion, resource.kind);
        if (kind === undefined)
          throw new MeshcaError('INTERNAL', `parseManifests returned the unknown kind ${resource.kind}`);
        const before = problems.length;
        objects.push({
          resource: withNamespace(resource, kind, options, file, problems),
          kind,
          source: file,
        });
        if (problems.length > before) badFiles.add(file);
      }
    } catch (err) {
      if (isMeshcaError(err, 'INVALID_RESOURCE') && err.details.length > 0) problems.push(...err.details);
      else if (isMeshcaError(err, 'INPUT_TOO_LARGE') || isMeshcaError(err, 'INVALID_RESOURCE'))
        problems.push(`${file}: ${err.message}`);
      else throw err;
      badFiles.add(file);
    }
  }
  // The same object in two files: the later would silently win.
  const seen = new Map<string, string>();
  for (const o of objects) {
    const key = objectKey(o.resource);
    const first = seen.get(key);
    if (first === undefined) seen.set(key, o.source);
    else if (first !== o.source) {
      problems.push(`${o.source}: ${describeObject(o)} is also defined in ${first}; keep one`);
      badFiles.add(o.source);
    }
  }
  if (problems.length > 0) {
    const n = problems.length;
    throw new MeshcaError(
      'INVALID_RESOURCE',
      `${n} ${n === 1 ? 'error' : 'errors'} in ${badFiles.size} of ${files.length} ${files.length === 1 ? 'file' : 'files'}; nothing was applied`,
      { details: problems, hint: 'fix every line listed and run the command again' },
    );
  }
  if (objects.length === 0)
    throw new MeshcaError('INVALID_INPUT', `no objects in ${args.join(', ')}`, {
      hint: 'give files that hold resources',
    });
  return objects;
}

function withNamespace(
  resource: KnownResource,
  kind: KindInfo,
  options: ReadManifestOptions,
  file: string,
  problems: string[],
): KnownResource {
  if (!kind.namespaced) return resource;
  const own = resource.metadata.namespace;
  if (own !== undefined) {
    if (options.namespaceFlag !== undefined && options.namespaceFlag !== own) {
      problems.push(
        `${file}: ${resource.kind} ${resource.metadata.name} is in namespace ${own}, not ${options.namespaceFlag} (-n); drop -n or change metadata.namespace`,
      );
    }
    return resource;
  }
  return {
    ...resource,
    metadata: { ...resource.metadata, namespace: options.namespaceFlag ?? options.defaultNamespace },
  };
}

/** apiVersion/kind/namespace/name of a resource, a map key. */
export function objectKey(r: {
  apiVersion: string;
  kind: string;
  metadata: { namespace?: string; name: string };
}): string {
  return `${r.apiVersion}/${r.kind}/${r.metadata.namespace ?? ''}/${r.metadata.name}`;
}

/** `certificate.cert-manager.io/istio-ca`, the way kubectl names an object in its output. */
export function kubectlName(kind: KindInfo, name: string): string {
  const group = kind.apiVersion.includes('/') ? kind.apiVersion.slice(0, kind.apiVersion.indexOf('/')) : '';
  return `${kind.singular}${group === '' ? '' : `.${group}`}/${name}`;
}

function describeObject(o: ManifestObject): string {
  const ns = o.resource.metadata.namespace;
  return `${o.resource.kind} ${ns === undefined ? '' : `${ns}/`}${o.resource.metadata.name}`;
}
