// Golden files for the Envoy sidecar generator: each testdata/<case>.yaml (Istio config) is fed to a MeshModel the
// way galley feeds pilot, the generator builds LDS/RDS/CDS/EDS for the case's proxy, and the result, as proto JSON
// with every Any expanded ("@type"), must equal testdata/<case>.golden.json. Every generated resource must also pass
// the protoc-gen-validate rules of Envoy's protos.
//
// After an intended change, refresh the goldens with one command and review the diff:
//   npx nx run pilot:update-golden
// (the same as `UPDATE_GOLDEN=1 npx jest -c apps/pilot/jest.config.cjs apps/pilot/src/generators/envoy/golden.spec.ts`).
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAll } from 'js-yaml';
import { configFromResources, envoyRuleChecker, findConfigConflicts } from '@flotilla/envoy-verify';
import { core, lookupType } from '@flotilla/proto';
import type { ResourceEntry } from '@flotilla/xds';
import { MeshModel } from '../../mesh-model';
import { applyDocs } from '../../testing/bookinfo';
import { proxyOf } from '../model';
import type { GenerateRequest } from '../types';
import { DEFAULT_MESH_CONFIG } from './common';
import type { MeshConfig } from './common';
import { EnvoyGenerator } from './envoy-generator';

const TESTDATA = join(__dirname, 'testdata');
const UPDATE = process.env['UPDATE_GOLDEN'] === '1';

interface GoldenCase {
  /** testdata/<name>.yaml in, testdata/<name>.golden.json out. */
  name: string;
  /** The Envoy node id ("sidecar~IP~POD.NS~NS.svc.cluster.local") and its LABELS metadata. */
  proxyId: string;
  labels: Record<string, string>;
  mesh?: MeshConfig;
}

const CASES: GoldenCase[] = [
  {
    name: 'route-features',
    proxyId: 'sidecar~10.1.0.5~client-0.shop~shop.svc.cluster.local',
    labels: { app: 'client', version: 'v1' },
  },
  {
    name: 'delegate',
    proxyId: 'sidecar~10.2.1.5~frontend-0.web~web.svc.cluster.local',
    labels: { app: 'frontend' },
  },
  {
    name: 'destination-rules',
    proxyId: 'sidecar~10.3.0.5~client-0.apps~apps.svc.cluster.local',
    labels: { app: 'client' },
  },
  {
    name: 'gateway-ingress',
    proxyId: 'router~10.4.9.9~istio-ingressgateway-5c7.istio-system~istio-system.svc.cluster.local',
    labels: { istio: 'ingressgateway', app: 'istio-ingressgateway' },
  },
  {
    name: 'gateway-egress',
    proxyId: 'router~10.5.0.2~istio-egressgateway-7f4.istio-system~istio-system.svc.cluster.local',
    labels: { istio: 'egressgateway' },
  },
  {
    name: 'http-routing',
    proxyId: 'sidecar~10.0.0.10~productpage-v1-5d9.shop~shop.svc.cluster.local',
    labels: { app: 'productpage', version: 'v1' },
  },
  {
    name: 'tcp-registry-only',
    proxyId: 'sidecar~10.0.1.9~client-0.data~data.svc.cluster.local',
    labels: { app: 'client' },
    mesh: { outboundTrafficPolicy: { mode: 'REGISTRY_ONLY' } },
  },
  {
    name: 'inbound-authz',
    proxyId: 'sidecar~10.0.2.5~orders-0.shop~shop.svc.cluster.local',
    labels: { app: 'orders', version: 'v1' },
  },
  {
    name: 'inbound-mtls-modes',
    proxyId: 'sidecar~10.0.3.7~ledger-0.bank~bank.svc.cluster.local',
    labels: { app: 'ledger', version: 'v1' },
  },
  {
    name: 'inbound-strict-mesh',
    proxyId: 'sidecar~10.0.4.2~ratings-v1.bookinfo~bookinfo.svc.cluster.local',
    labels: { app: 'ratings', version: 'v1' },
  },
  {
    name: 'inbound-jwt-authz',
    proxyId: 'sidecar~10.0.5.9~payments-0.shop~shop.svc.cluster.local',
    labels: { app: 'payments' },
    mesh: {
      outboundTrafficPolicy: { mode: 'ALLOW_ANY' },
      extensionProviders: [
        { name: 'mixer', envoyExtAuthzGrpc: { service: 'mixer.istio-system.svc.cluster.local', port: 9091 } },
      ],
    },
  },
];

type Doc = Parameters<typeof applyDocs>[1][number];

/** One resource as proto JSON; the generated toJSON expands nested Anys through the type registry. */
function resourceJson(entry: ResourceEntry): unknown {
  const type = lookupType(entry.resource.typeUrl);
  if (!type) throw new Error(`${entry.name}: unknown type ${entry.resource.typeUrl}`);
  return { '@type': entry.resource.typeUrl, ...(type.toJSON(type.decode(entry.resource.value)) as object) };
}

/** Resources sorted by name, so that the golden does not depend on generation order. */
function sortedByName(entries: ResourceEntry[]): ResourceEntry[] {
  return [...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * JSON as the repository's formatter writes it, so that `prettier --check` and the goldens agree. Prettier runs in
 * a child process because its API loads ES modules, which Jest's CommonJS runtime cannot.
 */
function prettierJson(json: string, path: string): string {
  const bin = require.resolve('prettier/bin/prettier.cjs');
  return execFileSync(process.execPath, [bin, '--stdin-filepath', path], { input: json, encoding: 'utf8' });
}

function generate(c: GoldenCase) {
  const model = new MeshModel();
  const docs = loadAll(readFileSync(join(TESTDATA, `${c.name}.yaml`), 'utf8')).filter(Boolean) as Doc[];
  applyDocs(model, docs);
  const request = {
    proxy: proxyOf(core.Node.fromPartial({ id: c.proxyId, metadata: { LABELS: c.labels } })),
    push: model.pushContext(),
    names: undefined,
    cache: undefined,
  } satisfies GenerateRequest;
  const generator = new EnvoyGenerator(c.mesh ?? DEFAULT_MESH_CONFIG);
  return {
    listeners: sortedByName(generator.buildListeners(request)),
    routes: sortedByName(generator.buildRoutes(request)),
    clusters: sortedByName(generator.buildClusters(request)),
    endpoints: sortedByName(generator.buildEndpoints(request)),
  };
}

describe('Envoy generator goldens (testdata/*.yaml → *.golden.json)', () => {
  it.each(CASES.map((c) => [c.name, c] as const))('%s', (_, c) => {
    const output = generate(c);
    const violations = Object.values(output)
      .flat()
      .flatMap((e) => envoyRuleChecker().checkAny(e.resource, e.name));
    expect(violations).toEqual([]);
    const resources = Object.values(output)
      .flat()
      .map((e) => e.resource);
    expect(findConfigConflicts(configFromResources(resources))).toEqual([]);
    const json = {
      proxy: { id: c.proxyId, labels: c.labels, mesh: c.mesh ?? DEFAULT_MESH_CONFIG },
      ...Object.fromEntries(Object.entries(output).map(([k, entries]) => [k, entries.map(resourceJson)])),
    };
    const goldenPath = join(TESTDATA, `${c.name}.golden.json`);
    const text = prettierJson(JSON.stringify(json, null, 2), goldenPath);
    if (UPDATE) writeFileSync(goldenPath, text);
    let golden: string;
    try {
      golden = readFileSync(goldenPath, 'utf8');
    } catch {
      throw new Error(`${goldenPath} is missing; create it with: npx nx run pilot:update-golden`);
    }
    // Compared as parsed JSON so that a failure shows a readable diff of the resources.
    expect(json).toEqual(JSON.parse(golden));
    expect(text).toBe(golden);
  });

  it('has a case for every testdata input and golden, and no stray files', () => {
    const names = new Set(CASES.map((c) => c.name));
    for (const file of readdirSync(TESTDATA)) {
      const name = file.replace(/\.golden\.json$|\.yaml$/, '');
      expect([file, names.has(name)]).toEqual([file, true]);
    }
  });
});
