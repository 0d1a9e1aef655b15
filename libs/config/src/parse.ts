// Reads resources from YAML (one or many documents) or JSON text. Parsing uses js-yaml for speed; positions are
// computed later, only for documents that have problems (see positions.ts).
import { load } from 'js-yaml';
import type { Resource, ResourceSource } from './model';
import { internName, splitApiVersion } from './model';
import type { Obj } from './schema/types';

export interface ParseProblem {
  readonly file: string;
  readonly index: number;
  /** 1-based line in the file, when known. */
  readonly line?: number;
  readonly column?: number;
  readonly message: string;
  /** apiVersion / kind / name when the document got far enough to have them. */
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly name?: string;
  readonly namespace?: string;
}

export interface ParseResult {
  readonly resources: Resource[];
  readonly problems: ParseProblem[];
}

interface Chunk {
  readonly text: string;
  readonly lineOffset: number;
}

const SEPARATOR = /^---(?=\s|$)/;
const END = /^\.\.\.\s*$/;

/** Splits a YAML stream at `---` lines, keeping each document's first line number. */
export function splitDocuments(text: string): Chunk[] {
  const lines = text.split('\n');
  const chunks: Chunk[] = [];
  let start = 0;
  let buf: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (SEPARATOR.test(line)) {
      chunks.push({ text: buf.join('\n'), lineOffset: start });
      buf = [line.replace(SEPARATOR, '   ')];
      start = i;
    } else if (END.test(line)) {
      buf.push('');
    } else buf.push(line);
  }
  chunks.push({ text: buf.join('\n'), lineOffset: start });
  return chunks;
}

const FLOW_COLON = /:[,\]}]/;

/**
 * Kubernetes reads YAML with go-yaml, where a plain scalar in a flow sequence may end in `:` (`[2001:db8::]` is one
 * string). js-yaml follows the YAML spec and reads `x:` there as a mapping, so such items are quoted first.
 */
export function quoteFlowColonScalars(text: string): string {
  if (!FLOW_COLON.test(text)) return text;
  return text
    .split('\n')
    .map((line) => (FLOW_COLON.test(line) ? quoteInLine(line) : line))
    .join('\n');
}

function quoteInLine(line: string): string {
  let out = '';
  let depth = 0;
  let i = 0;
  while (i < line.length) {
    const c = line[i];
    if (c === '#' && (i === 0 || line[i - 1] === ' ')) return out + line.slice(i);
    if (c === '"' || c === "'") {
      const end = line.indexOf(c, i + 1);
      const stop = end < 0 ? line.length : end + 1;
      out += line.slice(i, stop);
      i = stop;
      continue;
    }
    if (c === '[') {
      depth++;
      out += c;
      i++;
      let j = i;
      while (j < line.length && line[j] === ' ') j++;
      out += line.slice(i, j);
      i = j;
      if (line[i] !== '"' && line[i] !== "'" && line[i] !== '[' && line[i] !== '{')
        i = takeToken(line, i, (t) => (out += t));
      continue;
    }
    if (c === ',' && depth > 0) {
      out += c;
      i++;
      let j = i;
      while (j < line.length && line[j] === ' ') j++;
      out += line.slice(i, j);
      i = j;
      if (line[i] !== '"' && line[i] !== "'" && line[i] !== '[' && line[i] !== '{')
        i = takeToken(line, i, (t) => (out += t));
      continue;
    }
    if (c === ']') depth = Math.max(0, depth - 1);
    out += c;
    i++;
  }
  return out;
}

function takeToken(line: string, start: number, emit: (t: string) => void): number {
  let j = start;
  while (
    j < line.length &&
    line[j] !== ',' &&
    line[j] !== ']' &&
    line[j] !== '}' &&
    !(line[j] === ':' && line[j + 1] === ' ')
  )
    j++;
  const token = line.slice(start, j);
  const trimmed = token.trimEnd();
  if (
    trimmed.endsWith(':') &&
    !trimmed.includes(': ') &&
    (line[j] === ',' || line[j] === ']' || line[j] === '}')
  ) {
    emit(`"${trimmed}"${token.slice(trimmed.length)}`);
  } else emit(token);
  return j;
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function yamlMessage(e: unknown): { message: string; line?: number; column?: number } {
  const err = e as { reason?: string; message?: string; mark?: { line: number; column: number } };
  let reason = err.reason ?? err.message ?? String(e);
  const dup = /duplicated mapping key/i.test(reason);
  if (dup) reason = 'mapping key already set in map (duplicated key)';
  return { message: `invalid YAML: ${reason}`, line: err.mark?.line, column: err.mark?.column };
}

function describe(problem: Omit<ParseProblem, 'file' | 'index'>, file: string, index: number): ParseProblem {
  return { file, index, ...problem };
}

function toResource(
  doc: unknown,
  source: ResourceSource,
  problems: ParseProblem[],
  where: string,
): Resource | undefined {
  const { file, index } = source;
  if (!isObj(doc)) {
    const type = Array.isArray(doc) ? 'a list' : typeof doc === 'string' ? 'a string' : `a ${typeof doc}`;
    problems.push(
      describe(
        { message: `${where}is ${type}, not a Kubernetes object`, line: source.lineOffset + 1 },
        file,
        index,
      ),
    );
    return undefined;
  }
  const apiVersion = typeof doc.apiVersion === 'string' ? doc.apiVersion : '';
  const kind = typeof doc.kind === 'string' ? doc.kind : '';
  const metadata = isObj(doc.metadata) ? doc.metadata : undefined;
  const name = typeof metadata?.name === 'string' ? metadata.name : '';
  const namespace = typeof metadata?.namespace === 'string' ? metadata.namespace : '';
  const missing: string[] = [];
  if (apiVersion === '') missing.push('apiVersion');
  if (kind === '') missing.push('kind');
  if (name === '' && !(metadata && typeof metadata.generateName === 'string')) missing.push('metadata.name');
  if (missing.length > 0) {
    problems.push(
      describe(
        {
          message: `${where}missing ${missing.join(', ')}`,
          line: source.lineOffset + 1,
          apiVersion,
          kind,
          name,
          namespace,
        },
        file,
        index,
      ),
    );
    return undefined;
  }
  const { group, version } = splitApiVersion(apiVersion);
  return { apiVersion, group, version, kind: internName(kind), name, namespace, object: doc, source };
}

const LIST_KIND = /List$/;

function addDocument(doc: unknown, base: ResourceSource, out: Resource[], problems: ParseProblem[]): void {
  if (isObj(doc) && typeof doc.kind === 'string' && LIST_KIND.test(doc.kind) && Array.isArray(doc.items)) {
    doc.items.forEach((item, i) => {
      const r = toResource(item, { ...base, itemPath: ['items', i] }, problems, `items[${i}] `);
      if (r) out.push(r);
    });
    return;
  }
  const r = toResource(doc, base, problems, '');
  if (r) out.push(r);
}

/**
 * Parses a file's text. JSON is recognised by a `.json` name or a leading `{` / `[`; a top-level JSON array is read
 * as one document per element. Empty documents are skipped without taking an index.
 */
/**
 * js-yaml refuses collections nested deeper than 100; JSON.parse has no limit, so JSON documents are held to the same
 * one. Everything downstream (validation, MCP encoding, pilot) walks resources recursively and could otherwise
 * overflow the stack on a hostile file.
 */
const MAX_NESTING = 100;

/** Whether objects/arrays nest deeper than `limit` (counted without recursion). */
function nestedDeeperThan(root: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[root, 0]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop()!;
    if (typeof value !== 'object' || value === null) continue;
    if (depth >= limit) return true;
    for (const child of Array.isArray(value) ? value : Object.values(value)) stack.push([child, depth + 1]);
  }
  return false;
}

export function parseText(text: string, file: string): ParseResult {
  const resources: Resource[] = [];
  const problems: ParseProblem[] = [];
  const trimmed = text.trimStart();
  if (file.endsWith('.json') || trimmed.startsWith('{') || trimmed.startsWith('[')) {
    let parsed: unknown;
    let jsonError: string | undefined;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      jsonError = (e as Error).message;
    }
    if (jsonError === undefined) {
      const docs = Array.isArray(parsed) ? parsed : [parsed];
      docs.forEach((doc, index) => {
        if (nestedDeeperThan(doc, MAX_NESTING)) {
          problems.push({ file, index, message: `invalid JSON: nesting exceeded maxDepth (${MAX_NESTING})` });
          return;
        }
        addDocument(
          doc,
          { file, index, text, lineOffset: 0, itemPath: Array.isArray(parsed) ? [index] : undefined },
          resources,
          problems,
        );
      });
      return { resources, problems };
    }
    if (file.endsWith('.json')) {
      problems.push({ file, index: 0, message: `invalid JSON: ${jsonError}` });
      return { resources, problems };
    }
  }
  let index = 0;
  for (const chunk of splitDocuments(text)) {
    if (!/^[ \t]*[^\s#]/m.test(chunk.text)) continue;
    let doc: unknown;
    try {
      doc = load(quoteFlowColonScalars(chunk.text));
    } catch (e) {
      const m = yamlMessage(e);
      problems.push({
        file,
        index,
        message: m.message,
        line: m.line !== undefined ? chunk.lineOffset + m.line + 1 : chunk.lineOffset + 1,
        column: m.column !== undefined ? m.column + 1 : undefined,
      });
      index++;
      continue;
    }
    if (doc === null || doc === undefined) continue;
    addDocument(doc, { file, index, text: chunk.text, lineOffset: chunk.lineOffset }, resources, problems);
    index++;
  }
  return { resources, problems };
}
