// Test-only: a MeshModel fed the way galley feeds pilot, from YAML documents (examples/bookinfo by default).
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadAll } from 'js-yaml';
import { mcpResourceOf } from '@flotilla/mcp';
import type { McpResource } from '@flotilla/mcp';
import { core } from '@flotilla/proto';
import { MeshModel } from '../mesh-model';

export const BOOKINFO_DIR = resolve(__dirname, '..', '..', '..', '..', 'examples', 'bookinfo');
export const REVIEWS = 'reviews.bookinfo.svc.cluster.local';

interface Doc {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec: Record<string, unknown>;
}

export function bookinfoDocs(): Doc[] {
  const docs: Doc[] = [];
  for (const file of readdirSync(BOOKINFO_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .sort()) {
    for (const d of loadAll(readFileSync(join(BOOKINFO_DIR, file), 'utf8'))) if (d) docs.push(d as Doc);
  }
  return docs;
}

function collectionOf(doc: Doc): string {
  const group = doc.apiVersion.split('/')[0];
  const version = group.startsWith('security') ? 'v1beta1' : 'v1alpha3';
  return `${group}/${version}/${doc.kind}`;
}

/** Applies documents to a model, one collection at a time as MCP delivers them (every collection named is replaced). */
export function applyDocs(model: MeshModel, docs: readonly Doc[], collections?: readonly string[]): void {
  const byCollection = new Map<string, McpResource[]>();
  for (const c of collections ?? []) byCollection.set(c, []);
  for (const doc of docs) {
    const collection = collectionOf(doc);
    let list = byCollection.get(collection);
    if (!list) byCollection.set(collection, (list = []));
    list.push(
      mcpResourceOf({
        namespace: doc.metadata.namespace ?? 'default',
        name: doc.metadata.name,
        labels: doc.metadata.labels,
        spec: doc.spec,
      }),
    );
  }
  for (const [collection, resources] of byCollection) model.apply(collection, resources);
}

export function bookinfoModel(extra: Doc[] = []): MeshModel {
  const model = new MeshModel();
  applyDocs(model, [...bookinfoDocs(), ...extra]);
  return model;
}

export function grpcNode(
  id = 'sidecar~127.0.0.1~client-1.bookinfo~bookinfo.svc.cluster.local',
  metadata = {},
) {
  return core.Node.fromPartial({
    id,
    locality: { region: 'local', zone: 'zone-a' },
    metadata: { GENERATOR: 'grpc', ...metadata },
  });
}
