// Galley's costs on a generated corpus of 10,000 mixed Istio resources, each against a baseline in the same run:
//  1. validation of parsed objects (schema + Istio's semantic rules) vs a schema-only check by ajv-compiled CRD
//     schemas of the same kinds (goal: within 3× of ajv, ≥ 100,000 resources/s);
//  2. from YAML text (parse + validate) vs js-yaml parsing alone (goal ≥ 15,000 resources/s);
//  3. initial load: a galley process started on a folder of the corpus until an MCP sink holds all of it (goal
//     ≤ 2 s), beside the start-up of an empty Node process;
//  4. a file change until the MCP sink has it, p50/p99 over 200 changes (goal p99 ≤ 100 ms), beside how long the
//     kernel's file notification itself takes (fs.watch in this process, the same writes).
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, watch, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Ajv from 'ajv';
import { loadAll } from 'js-yaml';
import { createRegistry, customResourceDefinitions, parseText, validateResource } from '@flotilla/config';
import { McpSink, unpackJsonBody } from '@flotilla/mcp';
import { createLogger } from '@flotilla/service-kit';
import { freePorts, tempDir, waitFor } from '@flotilla/testing';
import { corpusFiles } from './galley-corpus';
import { bench, formatResults, percentile } from './harness';

const COUNT = 10_000;
const FILES = 100;
const CHANGES = 200;
const GALLEY = resolve(__dirname, '../../apps/galley/dist/main.js');

function perResource(results: ReturnType<typeof bench>) {
  return results.map((r) => ({ ...r, opsPerSecond: r.opsPerSecond * COUNT }));
}

async function main(): Promise<void> {
  const files = corpusFiles(COUNT, FILES);
  const text = files.join('---\n');
  const parsed = parseText(text, 'corpus.yaml');
  const registry = createRegistry();
  if (parsed.resources.length !== COUNT || parsed.problems.length > 0)
    throw new Error('the corpus does not parse');
  const invalid = parsed.resources.filter((r) => !validateResource(r, registry).valid);
  if (invalid.length > 0)
    throw new Error(`${invalid.length} corpus resources are invalid, e.g. ${invalid[0].name}`);

  // 1. Parsed objects: Flotilla's validation vs ajv on the CRD schemas Flotilla generates for the same kinds.
  const ajv = new Ajv({ strict: false, allErrors: false });
  // The formats the generated CRDs use, checked as the API server checks them, so ajv does the same work.
  ajv.addFormat('int32', {
    type: 'number',
    validate: (n: number) => Number.isInteger(n) && n >= -2147483648 && n <= 2147483647,
  });
  ajv.addFormat('double', { type: 'number', validate: (n: number) => Number.isFinite(n) });
  ajv.addFormat('byte', /^[A-Za-z0-9+/]*={0,2}$/);
  const schemaOf = new Map<string, ReturnType<Ajv['compile']>>();
  for (const crd of customResourceDefinitions(registry) as {
    spec: { names: { kind: string }; versions: { schema: { openAPIV3Schema: object } }[] };
  }[]) {
    schemaOf.set(crd.spec.names.kind, ajv.compile(crd.spec.versions[0].schema.openAPIV3Schema));
  }
  const ajvValidators = parsed.resources.map((r) => schemaOf.get(r.kind)!);
  const objects = parsed.resources.map((r) => r.object);
  const validation = bench(
    {
      name: 'ajv schema only',
      run: () => {
        let ok = 0;
        for (let i = 0; i < objects.length; i++) if (ajvValidators[i](objects[i])) ok++;
        return ok;
      },
    },
    [
      {
        name: 'flotilla schema + semantic',
        run: () => {
          let ok = 0;
          for (const r of parsed.resources) if (validateResource(r, registry).valid) ok++;
          return ok;
        },
      },
    ],
    { rounds: 5, msPerRound: 400 },
  );
  console.log(
    formatResults(`1. Validation of ${COUNT} parsed resources, in resources/s`, perResource(validation)),
  );

  // 2. From YAML text.
  const fromText = bench(
    { name: 'js-yaml parse only', run: () => loadAll(text).length },
    [
      {
        name: 'flotilla parse + validate',
        run: () => {
          const result = parseText(text, 'corpus.yaml');
          let ok = 0;
          for (const r of result.resources) if (validateResource(r, registry).valid) ok++;
          return ok;
        },
      },
    ],
    { rounds: 3, msPerRound: 1500, warmupMs: 1000 },
  );
  console.log(
    formatResults(`2. From YAML text (${FILES} files' worth), in resources/s`, perResource(fromText)),
  );

  // 3. Initial load by a real galley process, until an MCP sink holds every resource.
  const dir = tempDir('galley-bench-');
  mkdirSync(dir, { recursive: true });
  files.forEach((content, i) =>
    writeFileSync(join(dir, `corpus-${String(i).padStart(3, '0')}.yaml`), content),
  );
  const nodeStart = Date.now();
  spawnSync(process.execPath, ['-e', '0']);
  const emptyNodeMs = Date.now() - nodeStart;
  const [grpcPort, monitoringPort] = await freePorts(2);
  const started = Date.now();
  const galley = spawn(
    process.execPath,
    [
      GALLEY,
      '--host',
      '127.0.0.1',
      '--grpc-port',
      String(grpcPort),
      '--monitoring-port',
      String(monitoringPort),
      '--config-dir',
      dir,
      '--log-level',
      'error',
    ],
    { stdio: 'inherit' },
  );
  const collections = [
    'networking.istio.io/v1alpha3/VirtualService',
    'networking.istio.io/v1alpha3/DestinationRule',
    'networking.istio.io/v1alpha3/ServiceEntry',
    'networking.istio.io/v1alpha3/Gateway',
    'networking.istio.io/v1alpha3/Sidecar',
    'security.istio.io/v1beta1/AuthorizationPolicy',
  ];
  const sink = new McpSink({
    address: `127.0.0.1:${grpcPort}`,
    node: { id: 'bench' },
    collections,
    mode: 'delta',
    logger: createLogger('bench', 'silent'),
    backoff: { initialMs: 20, maxMs: 100 },
  });
  sink.start();
  try {
    const total = () => collections.reduce((n, c) => n + sink.resources(c).length, 0);
    await waitFor('the whole corpus at the sink', () => total() === COUNT, 60_000, 5);
    const loadMs = Date.now() - started;
    console.log(
      `3. Initial load of ${COUNT} resources in ${FILES} files, galley start to MCP sink: ${loadMs} ms ` +
        `(an empty Node process starts in ${emptyNodeMs} ms here)`,
    );

    // 4. File change to sink, against the file notification alone.
    const file = join(dir, 'corpus-000.yaml');
    const original = readFileSync(file, 'utf8');
    let notified = 0;
    const watcher = watch(dir, () => (notified = Date.now()));
    const vsCollection = 'networking.istio.io/v1alpha3/VirtualService';
    const timeoutOf = () => {
      const vs = sink.resources(vsCollection).find((r) => r.name === 'team-0/vs-0');
      return vs ? (unpackJsonBody(vs.body) as { http: { timeout?: string }[] }).http[0].timeout : undefined;
    };
    const toSink: number[] = [];
    const toWatch: number[] = [];
    for (let k = 0; k < CHANGES; k++) {
      const timeout = `${(k % 50) + 4}s`;
      if (timeoutOf() === timeout) continue;
      notified = 0;
      const written = Date.now();
      writeFileSync(file, original.replace('timeout: 3s', `timeout: ${timeout}`));
      await waitFor('the change at the sink', () => timeoutOf() === timeout, 10_000, 1);
      toSink.push(Date.now() - written);
      if (notified) toWatch.push(notified - written);
    }
    watcher.close();
    toSink.sort((a, b) => a - b);
    toWatch.sort((a, b) => a - b);
    console.log(
      `4. File change to MCP sink over ${toSink.length} changes: p50 ${percentile(toSink, 50)} ms, p99 ${percentile(toSink, 99)} ms ` +
        `(galley debounces 10 ms; the file notification alone: p50 ${percentile(toWatch, 50)} ms, p99 ${percentile(toWatch, 99)} ms)`,
    );
  } finally {
    sink.stop();
    galley.kill('SIGTERM');
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
