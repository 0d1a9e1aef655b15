import { readJson } from '@nx/devkit';
import type { Tree } from '@nx/devkit';
import { createTreeWithEmptyWorkspace } from '@nx/devkit/testing';
import { TEMPLATE_NAMES } from '../templates';
import { adapterGenerator } from './adapter';

// skipFormat: formatFiles loads Prettier with a dynamic import(), which Jest's CommonJS runtime cannot do; the
// formatting is seen in a real `nx g` run (docs/mixer-adapters.md).
describe('adapter generator', () => {
  let tree: Tree;
  beforeEach(() => {
    tree = createTreeWithEmptyWorkspace();
    tree.write('tsconfig.json', JSON.stringify({ files: [], references: [{ path: './libs/proto' }] }));
  });

  it('scaffolds libs/mixer-adapter-NAME in the shape of the other adapter libraries', async () => {
    await adapterGenerator(tree, {
      name: 'acme-list',
      template: 'listentry',
      description: 'Acme allow list',
      skipFormat: true,
    });
    const root = 'libs/mixer-adapter-acme-list';
    for (const file of [
      'package.json',
      'project.json',
      'tsconfig.json',
      'tsconfig.lib.json',
      'tsconfig.spec.json',
      'jest.config.cjs',
      'src/index.ts',
      'src/acme-list.ts',
      'src/acme-list.spec.ts',
    ])
      expect({ file, exists: tree.exists(`${root}/${file}`) }).toEqual({ file, exists: true });

    expect(readJson(tree, `${root}/package.json`)).toMatchObject({
      name: '@flotilla/mixer-adapter-acme-list',
      description: 'Acme allow list',
      exports: { '.': { '@flotilla/source': './src/index.ts' } },
      dependencies: { '@flotilla/mixer-adapter-sdk': '*' },
    });
    expect(readJson(tree, `${root}/project.json`)).toMatchObject({
      name: 'mixer-adapter-acme-list',
      sourceRoot: `${root}/src`,
      tags: ['type:lib', 'scope:mixer'],
      targets: { build: {}, typecheck: {}, lint: {}, test: {} },
    });
    expect(readJson(tree, `${root}/tsconfig.lib.json`).references).toEqual([
      { path: '../../libs/mixer-adapter-sdk/tsconfig.lib.json' },
    ]);
    expect(readJson(tree, 'tsconfig.json').references).toEqual([
      { path: './libs/proto' },
      { path: `./${root}` },
    ]);

    const source = tree.read(`${root}/src/acme-list.ts`, 'utf-8')!;
    expect(source).toContain(
      'export const acmeListAdapter = defineAdapter<AcmeListParams, ListEntryHandler>({',
    );
    expect(source).toContain("templates: ['listentry'],");
    expect(source).toContain('async handleListEntry(instance)');
    expect(tree.read(`${root}/src/acme-list.spec.ts`, 'utf-8')).toContain(
      "await h.check('listentry', { value: 'mallory' })",
    );
    expect(tree.read(`${root}/src/index.ts`, 'utf-8')).toContain(
      "export { acmeListAdapter, acmeListAdapter as adapter } from './acme-list';",
    );
  });

  it.each(TEMPLATE_NAMES.map((t) => [t]))('writes a handler and a harness test for %s', async (template) => {
    await adapterGenerator(tree, { name: 'demo', template, skipFormat: true });
    const source = tree.read('libs/mixer-adapter-demo/src/demo.ts', 'utf-8')!;
    const spec = tree.read('libs/mixer-adapter-demo/src/demo.spec.ts', 'utf-8')!;
    expect(source).toContain(`templates: ['${template}'],`);
    expect(source).not.toContain('<%');
    expect(spec).toContain('AdapterHarness.start(demoAdapter');
    expect(spec).not.toContain('<%');
  });

  it('refuses a name in use, a bad name and an unknown template', async () => {
    await adapterGenerator(tree, { name: 'demo', skipFormat: true });
    await expect(adapterGenerator(tree, { name: 'demo', skipFormat: true })).rejects.toThrow(
      'libs/mixer-adapter-demo already exists',
    );
    await expect(adapterGenerator(tree, { name: '9lives', skipFormat: true })).rejects.toThrow(
      'use lower-case letters',
    );
    await expect(
      adapterGenerator(tree, { name: 'x', template: 'tracespan', skipFormat: true }),
    ).rejects.toThrow('template "tracespan": expected one of checknothing');
  });
});
