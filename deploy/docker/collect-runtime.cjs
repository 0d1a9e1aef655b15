#!/usr/bin/env node
// Copies what one app needs at run time, besides node_modules, into an output folder that keeps the
// repository layout: the app's own package and every workspace library it depends on (transitively).
// For each of those packages it copies the entries of its package.json "files" (["dist"] when absent),
// the same rule npm uses to decide what a published package contains.
//
//   node deploy/docker/collect-runtime.cjs <app> <out-dir>      (run from the repository root)
//
// Used by deploy/docker/Dockerfile after `nx run <app>:build`; it fails if an entry is missing, which
// usually means the build did not produce dist/.
'use strict';

const fs = require('node:fs');
const path = require('node:path');

function readJson(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

/** Maps each workspace package name to its folder, for the folders under apps/ and libs/. */
function workspacePackages(root) {
  const byName = new Map();
  for (const group of ['apps', 'libs']) {
    const groupDir = path.join(root, group);
    if (!fs.existsSync(groupDir)) continue;
    for (const entry of fs.readdirSync(groupDir, { withFileTypes: true })) {
      const manifest = path.join(groupDir, entry.name, 'package.json');
      if (entry.isDirectory() && fs.existsSync(manifest)) {
        byName.set(readJson(manifest).name, path.join(group, entry.name));
      }
    }
  }
  return byName;
}

function main(argv) {
  const [app, outDir] = argv;
  if (!app || !outDir) {
    throw new Error('usage: node deploy/docker/collect-runtime.cjs <app> <out-dir>');
  }
  const root = process.cwd();
  const packages = workspacePackages(root);
  const start = path.join('apps', app);
  if (!fs.existsSync(path.join(root, start, 'package.json'))) {
    throw new Error(`${start}/package.json not found: is "${app}" an app of this repository?`);
  }

  const queue = [start];
  const seen = new Set();
  while (queue.length > 0) {
    const dir = queue.shift();
    if (seen.has(dir)) continue;
    seen.add(dir);
    const manifest = readJson(path.join(root, dir, 'package.json'));
    for (const entry of manifest.files ?? ['dist']) {
      if (/[*?[\]{}!]/.test(entry)) {
        throw new Error(
          `${dir}/package.json: "files" entry ${JSON.stringify(entry)} is a pattern; use a path`,
        );
      }
      const from = path.join(root, dir, entry);
      if (!fs.existsSync(from)) {
        throw new Error(`${dir}/${entry} does not exist: was ${dir} built?`);
      }
      fs.cpSync(from, path.join(outDir, dir, entry), { recursive: true, dereference: true });
    }
    for (const dep of Object.keys(manifest.dependencies ?? {})) {
      const depDir = packages.get(dep);
      if (depDir) queue.push(depDir);
    }
  }
  process.stdout.write(`collected ${[...seen].join(', ')} into ${outDir}\n`);
}

try {
  main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`collect-runtime: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
