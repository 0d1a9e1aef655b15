// `flotilla validate`: checks Istio resources the way Istio's CRD schemas and validating webhook would.
import { Command, Option } from 'commander';
import { createRegistry, DEFAULT_NAMESPACE, locate, validateResource } from '@flotilla/config';
import type { Issue, ParseProblem, Registry, Resource } from '@flotilla/config';
import { collectFiles, InputError, loadFiles, outputFormat, processIO, usageExit } from './inputs';
import type { CommandIO, OutputFormat } from './inputs';

export interface ValidateEntry {
  file: string;
  index: number;
  apiVersion: string;
  kind: string;
  name: string;
  namespace: string;
  valid: boolean;
  errors: Issue[];
  warnings: Issue[];
}

interface Located extends ValidateEntry {
  resource?: Resource;
  problem?: ParseProblem;
}

function fromProblem(p: ParseProblem): Located {
  return {
    file: p.file,
    index: p.index,
    apiVersion: p.apiVersion ?? '',
    kind: p.kind ?? '',
    name: p.name ?? '',
    namespace: p.namespace || (p.kind ? DEFAULT_NAMESPACE : ''),
    valid: false,
    errors: [{ path: '', message: p.message }],
    warnings: [],
    problem: p,
  };
}

function fromResource(r: Resource, registry: Registry): Located {
  const v = validateResource(r, registry);
  return {
    file: r.source.file,
    index: r.source.index,
    apiVersion: r.apiVersion,
    kind: r.kind,
    name: r.name,
    namespace: r.namespace || DEFAULT_NAMESPACE,
    valid: v.valid,
    errors: [...v.errors],
    warnings: [...v.warnings],
    resource: r,
  };
}

/** Message without a leading copy of its own path (Kubernetes-style messages start with it). */
function detail(issue: Issue): string {
  if (issue.path === '') return issue.message;
  if (issue.message.startsWith(`${issue.path}: `) || issue.message.startsWith(`${issue.path} `))
    return issue.message;
  return `${issue.path}: ${issue.message}`;
}

function textLines(e: Located): string[] {
  const who = e.kind ? `${e.kind} ${e.namespace}/${e.name}` : `document ${e.index}`;
  const where = (issue: Issue): string => {
    if (e.resource) {
      const pos = locate(e.resource.source, issue.path);
      if (pos) return `${e.file}:${pos.line}:${pos.column}`;
    }
    if (e.problem?.line !== undefined) return `${e.file}:${e.problem.line}:${e.problem.column ?? 1}`;
    return e.file;
  };
  const lines = e.errors.map((i) => `${where(i)} ${who}: ${detail(i)}`);
  for (const w of e.warnings) lines.push(`${where(w)} ${who}: warning: ${detail(w)}`);
  return lines;
}

/** Runs validate and returns the exit status: 0 all valid, 1 something invalid, 2 usage or I/O error. */
export function runValidate(
  paths: readonly string[],
  format: OutputFormat,
  io: CommandIO,
  registry: Registry = createRegistry(),
): number {
  let inputs;
  try {
    inputs = loadFiles(collectFiles(paths));
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    io.err(`flotilla validate: ${e.message}\n`);
    return 2;
  }
  const order = new Map(inputs.files.map((f, i) => [f, i]));
  const entries: Located[] = [
    ...inputs.problems.map(fromProblem),
    ...inputs.resources.map((r) => fromResource(r, registry)),
  ].sort((a, b) => (order.get(a.file) ?? 0) - (order.get(b.file) ?? 0) || a.index - b.index);
  const invalid = entries.filter((e) => !e.valid).length;
  if (format === 'json') {
    const resources: ValidateEntry[] = entries.map((e) => ({
      file: e.file,
      index: e.index,
      apiVersion: e.apiVersion,
      kind: e.kind,
      name: e.name,
      namespace: e.namespace,
      valid: e.valid,
      errors: e.errors,
      warnings: e.warnings,
    }));
    io.out(`${JSON.stringify({ resources }, null, 2)}\n`);
  } else {
    const lines = entries.flatMap(textLines);
    if (lines.length > 0) io.out(`${lines.join('\n')}\n`);
    io.out(`${entries.length} resource${entries.length === 1 ? '' : 's'} checked, ${invalid} invalid\n`);
  }
  return invalid > 0 ? 1 : 0;
}

export function validateCommand(io: CommandIO = processIO): Command {
  return new Command('validate')
    .description('validate Istio configuration files (YAML or JSON; directories are searched recursively)')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
    .argument('<paths...>', 'files or directories')
    .exitOverride(usageExit)
    .action((paths: string[], opts: { output: string }) => {
      process.exitCode = runValidate(paths, outputFormat(opts.output), io);
    });
}
