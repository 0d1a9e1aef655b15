// Writes deploy/compose/envoy/<sidecar>.json, the Envoy bootstrap of every sidecar in sidecars.json, with the
// built CLI (`npx nx run flotilla:build` first):
//
//   node deploy/compose/envoy/generate.mjs
//
// With --check it writes nothing and exits 1 naming every committed bootstrap that differs from what it would
// write (deploy/test/compose-mesh.spec.ts runs that).
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as prettier from 'prettier';

const here = dirname(fileURLToPath(import.meta.url));
const cli = resolve(here, '../../../apps/flotilla/dist/main.js');

/** The `flotilla bootstrap` arguments of one sidecar: plaintext ADS to pilot (no mesh agent runs in compose yet). */
export function bootstrapArgs(mesh, sidecar) {
  const id = `sidecar~${sidecar.ip}~${sidecar.name}.${mesh.namespace}~${mesh.namespace}.svc.cluster.local`;
  const labels = Object.entries(sidecar.labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]);
  // A fixed version, so that the committed files do not change with the CLI's.
  return [
    'bootstrap',
    '--proxy',
    id,
    '--pilot',
    mesh.pilot,
    '--plaintext',
    '--istio-version',
    'compose',
    ...labels,
  ];
}

/** The bootstrap as the repository's formatter writes JSON, so that `prettier --check` and this agree. */
export async function bootstrapOf(mesh, sidecar, path) {
  const json = execFileSync(process.execPath, [cli, ...bootstrapArgs(mesh, sidecar)], { encoding: 'utf8' });
  return prettier.format(json, { ...(await prettier.resolveConfig(path)), filepath: path });
}

function committed(path) {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const check = process.argv.includes('--check');
  const mesh = JSON.parse(readFileSync(join(here, 'sidecars.json'), 'utf8'));
  const stale = [];
  for (const sidecar of mesh.sidecars) {
    const path = join(here, `${sidecar.name}.json`);
    const json = await bootstrapOf(mesh, sidecar, path);
    if (check) {
      if (committed(path) !== json) stale.push(`deploy/compose/envoy/${sidecar.name}.json`);
      continue;
    }
    writeFileSync(path, json);
    process.stdout.write(`wrote ${sidecar.name}.json\n`);
  }
  if (stale.length > 0) {
    process.stderr.write(`stale (run node deploy/compose/envoy/generate.mjs): ${stale.join(', ')}\n`);
    process.exitCode = 1;
  }
}
