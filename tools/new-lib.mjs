#!/usr/bin/env node
// Scaffolds libs/<name> in the workspace's shape: package.json with the "@flotilla/source" export condition,
// project.json with Nx tags, project-reference tsconfigs, and Jest config. Then add it to the root
// tsconfig.json references (done here) and run `npm install --ignore-scripts` to link it.
//   node tools/new-lib.mjs <name> <scope> "<description>" [dep-lib ...]
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';

const [name, scope, description, ...deps] = process.argv.slice(2);
if (!name || !scope || !description) {
  console.error('usage: node tools/new-lib.mjs <name> <scope> "<description>" [dep-lib ...]');
  process.exit(2);
}
const root = join('libs', name);
if (existsSync(root)) {
  console.error(`${root} exists`);
  process.exit(1);
}
mkdirSync(join(root, 'src'), { recursive: true });
const json = (file, value) => writeFileSync(join(root, file), JSON.stringify(value, null, 2) + '\n');
json('package.json', {
  name: `@flotilla/${name}`,
  version: '0.1.0',
  private: true,
  description,
  main: './dist/index.js',
  types: './dist/index.d.ts',
  exports: {
    '.': { '@flotilla/source': './src/index.ts', types: './dist/index.d.ts', default: './dist/index.js' },
    './package.json': './package.json',
  },
  files: ['dist'],
  dependencies: Object.fromEntries(deps.map((d) => [`@flotilla/${d}`, '*'])),
});
json('project.json', {
  name,
  $schema: '../../node_modules/nx/schemas/project-schema.json',
  projectType: 'library',
  sourceRoot: `libs/${name}/src`,
  tags: ['type:lib', `scope:${scope}`],
  targets: { build: {}, typecheck: {}, lint: {}, test: {} },
});
json('tsconfig.json', {
  files: [],
  references: [{ path: './tsconfig.lib.json' }, { path: './tsconfig.spec.json' }],
});
json('tsconfig.lib.json', {
  extends: '../../tsconfig.base.json',
  compilerOptions: { rootDir: 'src', outDir: 'dist', tsBuildInfoFile: 'dist/tsconfig.lib.tsbuildinfo' },
  include: ['src/**/*.ts'],
  exclude: ['src/**/*.spec.ts'],
  references: deps.map((d) => ({ path: `../${d}/tsconfig.lib.json` })),
});
json('tsconfig.spec.json', {
  extends: '../../tsconfig.base.json',
  compilerOptions: {
    outDir: 'out-tsc/spec',
    tsBuildInfoFile: 'out-tsc/spec/tsconfig.spec.tsbuildinfo',
    types: ['node', 'jest'],
    emitDeclarationOnly: true,
  },
  include: ['src/**/*.spec.ts'],
  references: [{ path: './tsconfig.lib.json' }],
});
writeFileSync(
  join(root, 'jest.config.cjs'),
  `module.exports = { ...require('../../jest.preset.cjs'), displayName: '${name}' };\n`,
);
writeFileSync(join(root, 'src', 'index.ts'), '');
const rootTsconfig = JSON.parse(readFileSync('tsconfig.json', 'utf8'));
rootTsconfig.references.push({ path: `./libs/${name}` });
writeFileSync('tsconfig.json', JSON.stringify(rootTsconfig, null, 2) + '\n');
// Leave the files as the repo's Prettier settings would.
execFileSync('npx', ['prettier', '--write', root, 'tsconfig.json'], { stdio: 'ignore' });
console.log(`created ${root}`);
