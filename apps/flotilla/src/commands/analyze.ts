// `flotilla analyze`: cross-resource checks in the manner of `istioctl analyze`, over files and directories.
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { load } from 'js-yaml';
import { analyzeResources, createRegistry, effectiveNamespace, locate, Messages } from '@flotilla/config';
import type { AnalysisMessage, Registry, Resource } from '@flotilla/config';
import { collectFiles, InputError, loadFiles, outputFormat, processIO, usageExit } from './inputs';
import type { CommandIO, OutputFormat } from './inputs';

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A YAML mapping from a file (an empty file is an empty mapping); what is wrong is an InputError naming the file. */
function readYamlMapping(file: string, what: string): Obj {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new InputError(`${file}: ${(e as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = load(text);
  } catch (e) {
    throw new InputError(`${file}: invalid YAML: ${(e as Error).message}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (!isObj(parsed)) throw new InputError(`${file}: ${what} must be a YAML mapping`);
  return parsed;
}

/** MeshConfig from a file: plain MeshConfig YAML, or an `istio` ConfigMap carrying it under `data.mesh`. */
export function readMeshConfig(file: string): Obj {
  const parsed = readYamlMapping(file, 'mesh config');
  return meshFromConfigMap(parsed) ?? parsed;
}

function meshFromConfigMap(o: Obj): Obj | undefined {
  if (o.kind !== 'ConfigMap' || !isObj(o.data) || typeof o.data.mesh !== 'string') return undefined;
  const mesh = load(o.data.mesh);
  return isObj(mesh) ? mesh : {};
}

/** The `istio` ConfigMap in istio-system, when the input carries one. */
function meshFromInputs(resources: readonly Resource[]): Obj | undefined {
  for (const r of resources) {
    if (r.kind === 'ConfigMap' && r.name === 'istio' && effectiveNamespace(r) === 'istio-system') {
      try {
        return meshFromConfigMap(r.object);
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

function where(m: AnalysisMessage): string {
  if (!m.resource) return '';
  const pos = locate(m.resource.source, m.path ?? '');
  return pos ? ` ${m.resource.source.file}:${pos.line}` : ` ${m.resource.source.file}`;
}

export interface AnalyzeOptionsCli {
  readonly meshConfigFile?: string;
  /** MeshNetworks YAML (`networks: {…}`), as istiod's --meshNetworks file. */
  readonly meshNetworksFile?: string;
}

/** Runs analyze and returns the exit status: 0 no errors, 1 an Error-level message, 2 usage or I/O error. */
export function runAnalyze(
  paths: readonly string[],
  format: OutputFormat,
  io: CommandIO,
  options: AnalyzeOptionsCli = {},
  registry: Registry = createRegistry(),
): number {
  let inputs;
  let meshConfig: Obj | undefined;
  let meshNetworks: Obj | undefined;
  try {
    if (options.meshConfigFile !== undefined) meshConfig = readMeshConfig(options.meshConfigFile);
    if (options.meshNetworksFile !== undefined)
      meshNetworks = readYamlMapping(options.meshNetworksFile, 'mesh networks');
    inputs = loadFiles(collectFiles(paths));
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    io.err(`flotilla analyze: ${e.message}\n`);
    return 2;
  }
  const messages: AnalysisMessage[] = inputs.problems.map((p) => ({
    code: Messages.SchemaValidationError.code,
    level: Messages.SchemaValidationError.level,
    origin: `${p.file} document ${p.index}`,
    message: `Schema validation error: ${p.message}`,
  }));
  messages.push(
    ...analyzeResources(inputs.resources, {
      registry,
      meshConfig: meshConfig ?? meshFromInputs(inputs.resources) ?? {},
      meshNetworks,
    }),
  );
  if (format === 'json') {
    const out = messages.map((m) => ({ code: m.code, level: m.level, origin: m.origin, message: m.message }));
    io.out(`${JSON.stringify({ messages: out }, null, 2)}\n`);
  } else if (messages.length === 0) {
    io.out('✔ No validation issues found when analyzing the given files.\n');
  } else {
    for (const m of messages) io.out(`${m.level} [${m.code}] (${m.origin}${where(m)}) ${m.message}\n`);
  }
  return messages.some((m) => m.level === 'Error') ? 1 : 0;
}

export function analyzeCommand(io: CommandIO = processIO): Command {
  return new Command('analyze')
    .description(
      'analyze Istio configuration together with Kubernetes objects and report problems (istioctl codes)',
    )
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
    .option('--meshconfig <file>', 'mesh configuration (MeshConfig YAML, or the istio ConfigMap)')
    .option(
      '--meshnetworks <file>',
      'mesh networks (MeshNetworks YAML); by default the istio ConfigMap’s meshNetworks, if the input has it',
    )
    .argument('<paths...>', 'files or directories')
    .exitOverride(usageExit)
    .action((paths: string[], opts: { output: string; meshconfig?: string; meshnetworks?: string }) => {
      process.exitCode = runAnalyze(paths, outputFormat(opts.output), io, {
        meshConfigFile: opts.meshconfig,
        meshNetworksFile: opts.meshnetworks,
      });
    });
}
