import {
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  parseAllDocuments,
  type Document,
  type Node,
} from 'yaml';
import { MeshcaError } from '../errors/index.js';
import { asRecord } from './raw.js';
import { formatPath, type ValidationIssue } from './validation-issue.js';
import { validateResource, type KnownResource } from './validate-resource.js';

/** Largest manifest file accepted, in bytes. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** Aliases a document may expand; a few hundred bytes of anchors can otherwise expand to gigabytes. */
export const MAX_ALIAS_COUNT = 100;
/** Deepest nesting of mappings and lists accepted; real manifests stay far below. */
export const MAX_DEPTH = 64;

const STACK_OVERFLOW = /maximum call stack/i;
const TOO_DEEP = `nests deeper than ${MAX_DEPTH} levels; no meshca resource is that deep`;

interface Located {
  readonly line: number;
  readonly text: string;
}

// The line (1-based) of the deepest node on `path`, preferring a mapping key's own line.
function lineAt(doc: Document, path: ReadonlyArray<string | number>, lc: LineCounter): number {
  let node: unknown = doc.contents;
  let offset = doc.contents?.range?.[0] ?? doc.range?.[0] ?? 0;
  for (const seg of path) {
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      const pair = node.items.find(
        (p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === String(seg),
      );
      if (pair === undefined) break;
      const keyRange = (pair.key as Node | null)?.range;
      if (keyRange) offset = keyRange[0];
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg] as Node | undefined;
      if (!item?.range) break;
      offset = item.range[0];
      node = item;
    } else {
      break;
    }
  }
  return lc.linePos(offset).line;
}

// How deep the decoded value nests, without recursion (hostile input may nest thousands deep).
function tooDeep(value: unknown): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop() as [unknown, number];
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= MAX_DEPTH) return true;
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return false;
}

const lowerFirst = (s: string): string => s.charAt(0).toLowerCase() + s.slice(1);

/**
 * Parses a file of YAML documents (or JSON; a `kind: List` is unpacked) into validated resources,
 * all or nothing: any problem throws one INVALID_RESOURCE whose details are
 * `<source>:<line>: <path>: <message>`, every problem of every document, in line order.
 * Empty documents are skipped. Files over 4 MiB throw INPUT_TOO_LARGE.
 */
export function parseManifests(text: string, source: string): KnownResource[] {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_MANIFEST_BYTES) {
    throw new MeshcaError(
      'INPUT_TOO_LARGE',
      `${source} is ${bytes} bytes; a manifest file may be at most ${MAX_MANIFEST_BYTES} bytes (4 MiB)`,
      {
        hint: 'split the manifests into several files',
      },
    );
  }
  const lc = new LineCounter();
  let docs: ReturnType<typeof parseAllDocuments>;
  try {
    docs = parseAllDocuments(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: true });
  } catch (err) {
    // The parser records problems per document; reaching here means it gave up on the whole text.
    throw new MeshcaError('INVALID_RESOURCE', `${source}: cannot be read as YAML`, {
      cause: err,
      details: [`${source}:1: yaml: ${err instanceof Error ? lowerFirst(err.message) : String(err)}`],
    });
  }
  const problems: Located[] = [];
  const resources: Array<{ resource: KnownResource; line: number }> = [];
  const documents = Array.isArray(docs) ? docs : [];
  let badDocs = 0;

  for (const doc of documents) {
    const startLine = lc.linePos(doc.range?.[0] ?? 0).line;
    const before = problems.length;
    const report = (line: number, path: string, message: string): void => {
      problems.push({ line, text: `${source}:${line}: ${path}: ${message}` });
    };
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        const line = e.linePos?.[0].line ?? startLine;
        // The yaml library records a stack overflow on absurd nesting as a document error.
        if (STACK_OVERFLOW.test(e.message)) report(line, '<document>', TOO_DEEP);
        else
          report(
            line,
            'yaml',
            lowerFirst((e.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '')),
          );
      }
      badDocs++;
      continue;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      if (STACK_OVERFLOW.test(why)) report(startLine, '<document>', TOO_DEEP);
      else if (/alias count/i.test(why)) {
        report(
          startLine,
          'yaml',
          `more than ${MAX_ALIAS_COUNT} aliases expanded; remove the anchors and aliases (a YAML alias bomb looks like this)`,
        );
      } else report(startLine, 'yaml', lowerFirst(why));
      badDocs++;
      continue;
    }
    // A document holding only comments or `---` decodes to null: nothing to apply.
    if (value === null || value === undefined) continue;
    if (tooDeep(value)) {
      report(startLine, '<document>', TOO_DEEP);
      badDocs++;
      continue;
    }
    const record = asRecord(value);
    const isList =
      record !== undefined &&
      record.kind === 'List' &&
      (record.apiVersion === 'v1' || record.apiVersion === undefined);
    const items: Array<{ value: unknown; base: Array<string | number> }> = [];
    if (isList) {
      if (!Array.isArray(record.items))
        report(lineAt(doc, ['items'], lc), 'items', 'a List needs items: a list of resources');
      else record.items.forEach((item: unknown, i) => items.push({ value: item, base: ['items', i] }));
    } else {
      items.push({ value, base: [] });
    }
    for (const item of items) {
      const result = validateResource(item.value);
      if (!result.ok) {
        for (const issue of result.issues as ValidationIssue[]) {
          const path = [...item.base, ...issue.path];
          report(lineAt(doc, path, lc), formatPath(path), issue.message);
        }
        continue;
      }
      resources.push({ resource: result.resource, line: lineAt(doc, item.base, lc) });
    }
    if (problems.length > before) badDocs++;
  }

  // The same object twice in one file is a mistake: the second would silently win.
  const firstSeen = new Map<string, number>();
  for (const { resource, line } of resources) {
    const { namespace, name } = resource.metadata;
    const key = `${resource.apiVersion}/${resource.kind}/${namespace ?? ''}/${name}`;
    const earlier = firstSeen.get(key);
    if (earlier === undefined) firstSeen.set(key, line);
    else {
      problems.push({
        line,
        text: `${source}:${line}: metadata.name: ${resource.kind} ${namespace === undefined ? '' : `${namespace}/`}${name} is already defined at line ${earlier}; keep one`,
      });
      badDocs++;
    }
  }

  if (problems.length > 0) {
    const details = problems.sort((a, b) => a.line - b.line).map((p) => p.text);
    const n = details.length;
    throw new MeshcaError(
      'INVALID_RESOURCE',
      `${source}: ${n} ${n === 1 ? 'error' : 'errors'} in ${badDocs} ${badDocs === 1 ? 'document' : 'documents'}; nothing was applied`,
      { details, hint: 'fix every line listed and apply the file again' },
    );
  }
  return resources.map((r) => r.resource);
}
