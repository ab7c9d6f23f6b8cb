import { readdirSync, realpathSync, statSync, type Dirent, type Stats } from 'node:fs';
import path from 'node:path';
import type { KindInfo } from '../api/kinds.js';
import { findKind } from '../api/kinds.js';
import { MAX_MANIFEST_BYTES, parseManifests } from '../api/manifest.js';
import type { KnownResource } from '../api/validate-resource.js';
import { isMeshcaError, MeshcaError } from '../errors/index.js';
import type { CliContext } from './context.js';
import { fileTypeName, formatByteLimit, readFileLimited } from './read-limited.js';
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
  let stats: Stats;
  try {
    stats = statSync(full);
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
  if (!stats.isDirectory()) {
    // A device, a FIFO or /dev/stdin would be read without end (readText refuses them too, on the open file).
    if (!stats.isFile()) throw notAFile(arg, fileTypeName(stats));
    return [arg];
  }
  let entries: Dirent[];
  try {
    entries = readdirSync(full, { withFileTypes: true });
  } catch (err) {
    throw new MeshcaError(
      'FILE_UNREADABLE',
      `cannot read the folder ${arg}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      { cause: err },
    );
  }
  const names = entries
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

const NOT_A_FILE_HINT = 'give -f a regular file, a folder of .yaml/.yml/.json files, or - for standard input';

function notAFile(arg: string, what: string): MeshcaError {
  return new MeshcaError('FILE_UNREADABLE', `${arg} is ${what}, not a regular file or a folder`, {
    hint: NOT_A_FILE_HINT,
  });
}

// One file's text: a regular file of at most the manifest limit, read from one open handle.
function readText(file: string, cwd: string): string {
  return readFileLimited(file, {
    cwd,
    limit: MAX_MANIFEST_BYTES,
    limitRule: `a manifest file may be at most ${formatByteLimit(MAX_MANIFEST_BYTES)}`,
    tooLargeHint: 'split the manifests into several files',
    notFileHint: NOT_A_FILE_HINT,
  });
}

// The same file reached through two -f arguments, by its real path (symbolic links resolved).
function fileIdentity(file: string, cwd: string): string {
  const full = path.resolve(cwd, file);
  try {
    return realpathSync(full);
  } catch {
    return full; // reading it will give the precise error
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
  // Each file once (apply and delete): `-f dir -f dir/x.yaml` would hand every object of x.yaml in twice.
  const namedBy = new Map<string, string>();
  for (const arg of args) {
    if (arg === '-') {
      if (files.includes('-')) throw usageError('-f - (standard input) may be given only once');
      files.push('-');
      continue;
    }
    for (const file of expand(arg, ctx.cwd)) {
      const id = fileIdentity(file, ctx.cwd);
      const earlier = namedBy.get(id);
      if (earlier !== undefined) {
        throw usageError(
          `${file} is named twice: by -f ${earlier} and by -f ${arg}`,
          'give each file once: the same object twice in one run is refused',
        );
      }
      namedBy.set(id, arg);
      files.push(file);
    }
  }
  const problems: string[] = [];
  const badFiles = new Set<string>();
  const objects: ManifestObject[] = [];
  /** Where each object came from: its position in its file and whether its namespace was filled in. */
  const origins = new Map<ManifestObject, { index: number; defaulted: boolean }>();
  for (const file of files) {
    let text: string;
    if (file === '-') {
      if (ctx.stdin === undefined) throw usageError('standard input is not available here; give -f a file');
      text = await ctx.stdin();
    } else text = readText(file, ctx.cwd);
    try {
      let index = 0;
      for (const resource of parseManifests(text, file)) {
        index++;
        const kind = findKind(resource.apiVersion, resource.kind);
        if (kind === undefined)
          throw new MeshcaError('INTERNAL', `parseManifests returned the unknown kind ${resource.kind}`);
        const before = problems.length;
        const object: ManifestObject = {
          resource: withNamespace(resource, kind, options, file, problems),
          kind,
          source: file,
        };
        objects.push(object);
        origins.set(object, { index, defaulted: object.resource.metadata.namespace !== resource.metadata.namespace });
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
  // The same object twice, compared once namespaces are filled in: one transaction cannot create
  // it twice, and of two different specs the later would silently win. parseManifests catches
  // the plain repeat within a file (with lines); this also catches one written with the default
  // namespace and one without any.
  const seen = new Map<string, ManifestObject>();
  for (const o of objects) {
    const key = objectKey(o.resource);
    const first = seen.get(key);
    if (first === undefined) seen.set(key, o);
    else {
      problems.push(duplicateProblem(o, first, origins, options));
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

// `b.yaml: Issuer ns/x is also defined in a.yaml; keep one`, or within one file which two objects.
function duplicateProblem(
  o: ManifestObject,
  first: ManifestObject,
  origins: ReadonlyMap<ManifestObject, { index: number; defaulted: boolean }>,
  options: ReadManifestOptions,
): string {
  if (first.source !== o.source) return `${o.source}: ${describeObject(o)} is also defined in ${first.source}; keep one`;
  const a = origins.get(first);
  const b = origins.get(o);
  const ns = o.resource.metadata.namespace ?? '';
  const from = options.namespaceFlag !== undefined ? '-n' : 'the default namespace';
  const why =
    a !== undefined && b !== undefined && a.defaulted !== b.defaulted
      ? ` (object ${(a.defaulted ? a : b).index} names no namespace and gets ${ns} from ${from}; object ${(a.defaulted ? b : a).index} names ${ns})`
      : '';
  const where = a !== undefined && b !== undefined ? `objects ${a.index} and ${b.index}` : 'two objects';
  return `${o.source}: ${describeObject(o)} appears twice, as ${where} of the file${why}; keep one`;
}

function describeObject(o: ManifestObject): string {
  const ns = o.resource.metadata.namespace;
  return `${o.resource.kind} ${ns === undefined ? '' : `${ns}/`}${o.resource.metadata.name}`;
}
