/**
 * `nx g @flotilla/mixer-adapter-sdk:adapter NAME [--template listentry] [--description "…"]`: scaffolds
 * libs/mixer-adapter-NAME in the workspace's library shape (the one tools/new-lib.mjs makes) with an adapter whose
 * handler takes one template, and a spec that drives it through the SDK's AdapterHarness.
 *
 * Nx runs this from the SDK's built output (generators.json names dist/generators/adapter.js); the file templates
 * live beside the package, in generators/adapter/files.
 */
import { join } from 'node:path';
import { formatFiles, generateFiles, getProjects, names, offsetFromRoot, updateJson } from '@nx/devkit';
import type { GeneratorCallback, Tree } from '@nx/devkit';
import { HANDLER_METHOD } from '../handler';
import { TEMPLATE_VARIETY, isTemplateName } from '../templates';
import type { TemplateName } from '../templates';

export interface AdapterGeneratorSchema {
  /** The adapter's name: the library is libs/mixer-adapter-<name>, the package @flotilla/mixer-adapter-<name>. */
  name: string;
  template?: string;
  description?: string;
  scope?: string;
  skipFormat?: boolean;
}

/** src/generators → the package root, in the sources and in dist alike. */
export const TEMPLATE_FILES = join(__dirname, '..', '..', 'generators', 'adapter', 'files');

const HANDLER_TYPE: Readonly<Record<TemplateName, string>> = {
  checknothing: 'CheckNothingHandler',
  listentry: 'ListEntryHandler',
  authorization: 'AuthorizationHandler',
  quota: 'QuotaHandler',
  metric: 'MetricHandler',
  logentry: 'LogEntryHandler',
  reportnothing: 'ReportNothingHandler',
};

export async function adapterGenerator(
  tree: Tree,
  options: AdapterGeneratorSchema,
): Promise<GeneratorCallback | void> {
  const name = names(options.name).fileName;
  if (!/^[a-z][a-z0-9-]*$/.test(name))
    throw new Error(
      `adapter name ${JSON.stringify(options.name)}: use lower-case letters, digits and dashes`,
    );
  const template = options.template ?? 'listentry';
  if (!isTemplateName(template))
    throw new Error(
      `template ${JSON.stringify(template)}: expected one of ${Object.keys(HANDLER_TYPE).join(', ')}`,
    );
  const projectName = `mixer-adapter-${name}`;
  const projectRoot = `libs/${projectName}`;
  if (getProjects(tree).has(projectName) || tree.exists(projectRoot))
    throw new Error(`${projectRoot} already exists`);

  const description = (options.description ?? `a mixer adapter for ${template} instances`).replace(
    /['"\\]/g,
    '',
  );
  generateFiles(tree, TEMPLATE_FILES, projectRoot, {
    name,
    projectName,
    projectRoot,
    packageName: `@flotilla/${projectName}`,
    className: names(name).className,
    propertyName: names(name).propertyName,
    template,
    variety: TEMPLATE_VARIETY[template],
    handlerType: HANDLER_TYPE[template],
    method: HANDLER_METHOD[template],
    description,
    scope: options.scope ?? 'mixer',
    offset: offsetFromRoot(projectRoot),
  });

  // The workspace type-checks through project references in the root tsconfig.json (as tools/new-lib.mjs adds).
  if (tree.exists('tsconfig.json'))
    updateJson(tree, 'tsconfig.json', (json: { references?: { path: string }[] }) => {
      const references = json.references ?? [];
      if (!references.some((r) => r.path === `./${projectRoot}`))
        references.push({ path: `./${projectRoot}` });
      return { ...json, references };
    });

  if (!options.skipFormat) await formatFiles(tree);
}

export default adapterGenerator;
