/**
 * Reading resources from text: multi-document YAML (JSON is a subset), Kubernetes `List`
 * objects, with source positions kept so that errors can name file and line.
 */
import { LineCounter, isMap, isScalar, isSeq, parseAllDocuments, type Document, type Node } from 'yaml';
import jsYaml from 'js-yaml';
import type { Diagnostic, PathSegment, SourcePosition } from './diagnostics.js';

/** One object read from a source, before validation, with a way to locate its fields. */
export interface RawObject {
  /** The plain JSON value of the object. */
  readonly object: unknown;
  readonly file?: string;
  /** Index of the YAML document within the file (0-based). */
  readonly docIndex: number;
  /** Position of the field at `path` (or its nearest existing ancestor). */
  locate(path: readonly PathSegment[]): SourcePosition;
}

export interface ParseResult {
  readonly objects: RawObject[];
  /** Syntax errors and malformed documents; other documents are still returned. */
  readonly errors: Diagnostic[];
}

/**
 * parseText splits YAML/JSON text into objects. Empty documents are skipped; `List`
 * kinds (`kind: List` or `*List` with `items`) are expanded into their items.
 *
 * Two parsers share the work: js-yaml builds the values (about four times faster), and
 * the `yaml` library, which keeps source positions and reports every syntax error, runs
 * only when a position is asked for or js-yaml finds the text malformed. Both use the
 * YAML 1.2 core schema, so they agree on values (no timestamps, no merge keys).
 */
export function parseText(text: string, file?: string): ParseResult {
  // Anchors and aliases go through `yaml`, which caps alias expansion (a "billion laughs"
  // document must not make validation walk an exponential tree).
  if (ANCHOR.test(text)) return parseWithPositions(text, file);
  let docs: unknown[];
  try {
    docs = jsYaml.loadAll(text, undefined, { schema: jsYaml.CORE_SCHEMA, filename: file, json: false });
  } catch {
    return parseWithPositions(text, file);
  }
  let located: ParseResult | undefined;
  const positions = (): ParseResult => (located ??= parseWithPositions(text, file));
  const objects: RawObject[] = [];
  docs.forEach((value, docIndex) => {
    if (value === null || value === undefined) return;
    const items = isListObject(value) ? value.items : [value];
    for (const item of items) {
      const i = objects.length;
      objects.push({
        object: item,
        file,
        docIndex,
        locate: (path) => {
          const twin = positions().objects[i];
          return twin ? twin.locate(path) : { file };
        },
      });
    }
  });
  return { objects, errors: [] };
}

const ANCHOR = /(^|[\s[{,:-])&[^\s&,[\]{}]/m;

// parseWithPositions is the slow, exact path: every syntax error, and positions for fields.
function parseWithPositions(text: string, file?: string): ParseResult {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, uniqueKeys: true, prettyErrors: false, strict: true });
  const objects: RawObject[] = [];
  const errors: Diagnostic[] = [];
  const posOf = (offset: number): SourcePosition => {
    const p = lineCounter.linePos(offset);
    return { file, line: p.line, column: p.col };
  };
  const list = Array.isArray(docs) ? docs : [docs];
  list.forEach((doc, docIndex) => {
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        errors.push({ severity: 'Error', code: 'MESH_ERR_PARSE', path: '', reason: `YAML syntax error: ${firstLine(e.message)}`, ...posOf(e.pos[0]) });
      }
      return;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      // `yaml` throws when aliases expand past maxAliasCount (resource exhaustion attack).
      errors.push({ severity: 'Error', code: 'MESH_ERR_PARSE', path: '', reason: `YAML error: ${(e as Error).message}`, ...posOf(doc.contents?.range?.[0] ?? 0) });
      return;
    }
    if (value === null || value === undefined) return; // empty document (e.g. a trailing ---)
    const base = doc.contents;
    const locate = (prefix: readonly PathSegment[]) => (path: readonly PathSegment[]): SourcePosition => {
      const node = findNode(base, [...prefix, ...path]);
      return node?.range ? posOf(node.range[0]) : { file, ...(base?.range ? posOf(base.range[0]) : {}) };
    };
    if (isListObject(value)) {
      (value.items as unknown[]).forEach((item, i) => {
        objects.push({ object: item, file, docIndex, locate: locate(['items', i]) });
      });
      return;
    }
    objects.push({ object: value, file, docIndex, locate: locate([]) });
  });
  return { objects, errors };
}

function firstLine(s: string): string {
  return s.split('\n')[0];
}

function isListObject(v: unknown): v is { kind: string; items: unknown[] } {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const o = v as Record<string, unknown>;
  return typeof o.kind === 'string' && (o.kind === 'List' || o.kind.endsWith('List')) && Array.isArray(o.items);
}

// findNode walks the YAML AST along `path`; for a path that does not exist it returns
// the deepest node that does, so a "missing field" error points at its parent.
function findNode(root: Document['contents'] | undefined, path: readonly PathSegment[]): Node | undefined {
  let node: Node | undefined = (root ?? undefined) as Node | undefined;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i];
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === String(seg));
      if (!pair) return node;
      // A field's position is its key's line, which is where a reader looks.
      if (i === path.length - 1 && pair.key) return pair.key as Node;
      const next = pair.value as Node | null;
      if (!next || (isScalar(next) && next.value === null)) return (pair.key as Node) ?? node;
      node = next;
    } else if (isSeq(node) && typeof seg === 'number') {
      const next = node.items[seg] as Node | undefined;
      if (!next) return node;
      node = next;
    } else {
      return node;
    }
  }
  return node;
}

/**
 * locateKey returns the position of the key `key` inside the object at `path`; used for
 * "unknown field" errors, which are best pointed at the key itself.
 */
export function locateKey(raw: RawObject, path: readonly PathSegment[], key: string): SourcePosition {
  return raw.locate([...path, key]);
}
