/**
 * deploy/docker: the Dockerfile's per-app targets expose the apps' ports, start their entry points as `node`,
 * and carry production dependencies only; the build-context filter keeps host installs out; and
 * collect-runtime.cjs copies exactly what an app needs at run time.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Dockerfile, Stage } from './support/dockerfile';
import {
  DOCKERFILE,
  ancestry,
  envOf,
  execCmdOf,
  exposedPorts,
  lastValue,
  readDockerfile,
} from './support/dockerfile';
import { APPS, FACTS, rel, repoPath } from './support/facts';
import { Problems } from './support/problems';

const FILE = rel(DOCKERFILE);
const COLLECT = repoPath('deploy', 'docker', 'collect-runtime.cjs');

let dockerfile: Dockerfile;

beforeAll(() => {
  dockerfile = readDockerfile();
});

const stage = (name: string): Stage => {
  const found = dockerfile.stages.find((s) => s.name === name);
  if (!found) throw new Error(`${FILE}: no stage named ${name}`);
  return found;
};
const at = (s: Stage): string => `${FILE}:${s.line}: stage ${s.name ?? '(unnamed)'}`;
const runs = (s: Stage): string[] => s.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.value);

it('builds every stage from node:20-slim', () => {
  const problems = new Problems();
  const image = dockerfile.globalArgs.NODE_IMAGE;
  problems.expectEqual(FILE, 'ARG NODE_IMAGE', image, 'node:20-slim');
  for (const s of dockerfile.stages) {
    const root = ancestry(dockerfile, s).at(-1) as Stage;
    const from = root.from.replace('${NODE_IMAGE}', image ?? '');
    problems.expectEqual(at(s), 'FROM (root of its chain)', from, 'node:20-slim');
  }
  expect(problems.list).toEqual([]);
});

it('installs production dependencies only into the runtime stage', () => {
  const problems = new Problems();
  const prodDeps = stage('prod-deps');
  if (!runs(prodDeps).some((r) => /\bnpm (ci|install)\b.*--omit=dev/.test(r))) {
    problems.add(at(prodDeps), 'RUN', 'expected npm install --omit=dev (or npm ci --omit=dev)');
  }
  const runtime = stage('runtime');
  const copies = runtime.instructions
    .filter((i) => i.keyword === 'COPY')
    .map((i) => /--from=(\S+)/.exec(i.value)?.[1]);
  problems.expectEqual(at(runtime), 'COPY --from', copies, ['prod-deps']);
  expect(problems.list).toEqual([]);
});

describe.each(APPS)('target %s', (app) => {
  const fact = FACTS[app];

  it(`has a ${app}-build stage running nx run ${app}:build and collecting its runtime files`, () => {
    const build = stage(`${app}-build`);
    const problems = new Problems();
    const run = runs(build).join(' && ');
    if (!run.includes(`npx nx run ${app}:build`))
      problems.add(at(build), 'RUN', `expected npx nx run ${app}:build`);
    if (!run.includes(`collect-runtime.cjs ${app} /out`))
      problems.add(at(build), 'RUN', `expected collect-runtime.cjs ${app} /out`);
    expect(problems.list).toEqual([]);
  });

  it('starts from the runtime stage, takes only its build output, and never the dev dependencies', () => {
    const problems = new Problems();
    const final = stage(app);
    const chain = ancestry(dockerfile, final).map((s) => s.name);
    problems.expectEqual(at(final), 'FROM', final.from, 'runtime');
    for (const forbidden of ['deps', 'source', `${app}-build`]) {
      if (chain.includes(forbidden)) problems.add(at(final), 'FROM', `must not descend from ${forbidden}`);
    }
    const copies = final.instructions.filter((i) => i.keyword === 'COPY');
    problems.expectEqual(
      at(final),
      'COPY',
      copies.map((c) => c.value),
      [`--from=${app}-build /out/ ./`],
    );
    expect(problems.list).toEqual([]);
  });

  it('exposes its default ports and runs its entry point as node', () => {
    const problems = new Problems();
    const final = stage(app);
    const expected = fact.ports.map((p) => p.defaultPort).sort((a, b) => a - b);
    problems.expectEqual(
      at(final),
      'EXPOSE',
      exposedPorts(final).sort((a, b) => a - b),
      expected,
    );
    problems.expectEqual(at(final), 'CMD', execCmdOf(final), [
      'node',
      ...fact.nodeArgs,
      `apps/${app}/dist/main.js`,
    ]);
    problems.expectEqual(at(final), 'USER', lastValue(final, 'USER'), 'node');
    const env = envOf(final);
    problems.expectEqual(
      at(final),
      'ENV HEALTHCHECK_PORT',
      env.HEALTHCHECK_PORT,
      String(fact.monitoring.defaultPort),
    );
    for (const mount of fact.mounts.filter((m) => m.env === 'FLOTILLA_STATE_DIR')) {
      problems.expectEqual(at(final), `ENV ${mount.env}`, env[mount.env], mount.path);
    }
    expect(problems.list).toEqual([]);
  });
});

it('checks health against /ready on the monitoring port', () => {
  const runtime = stage('runtime');
  const healthcheck = lastValue(runtime, 'HEALTHCHECK') ?? '';
  expect({ where: at(runtime), healthcheck }).toEqual({
    where: at(runtime),
    healthcheck: expect.stringMatching(/FLOTILLA_MONITORING_PORT.*HEALTHCHECK_PORT.*\/ready/),
  });
});

it('keeps host installs, build output and .git out of the build context', () => {
  const ignoreFile = repoPath('deploy', 'docker', 'Dockerfile.dockerignore');
  const lines = fs
    .readFileSync(ignoreFile, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  expect({ file: rel(ignoreFile), lines }).toEqual({
    file: rel(ignoreFile),
    lines: expect.arrayContaining(['.git', '**/node_modules', '**/dist', '**/*.tsbuildinfo', '.nx']),
  });
});

describe('collect-runtime.cjs', () => {
  let root: string;

  const write = (file: string, content: string): void => {
    fs.mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    fs.writeFileSync(path.join(root, file), content);
  };
  const pkg = (name: string, extra: Record<string, unknown> = {}): string =>
    JSON.stringify({ name, ...extra });
  const listFiles = (dir: string): string[] =>
    fs.existsSync(dir)
      ? (fs.readdirSync(dir, { recursive: true, withFileTypes: true }) as fs.Dirent[])
          .filter((d) => d.isFile())
          .map((d) => path.relative(dir, path.join(d.parentPath, d.name)))
          .sort()
      : [];
  const collect = (app: string, out: string): ReturnType<typeof spawnSync> =>
    spawnSync(process.execPath, [COLLECT, app, out], { cwd: root, encoding: 'utf8' });

  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'flotilla-collect-'));
    write(
      'apps/demo/package.json',
      pkg('@flotilla/demo', { dependencies: { '@flotilla/a': '*', pino: '*' } }),
    );
    write('apps/demo/dist/main.js', '');
    write('apps/demo/src/main.ts', '');
    write('apps/other/package.json', pkg('@flotilla/other'));
    write('apps/other/dist/main.js', '');
    write(
      'libs/a/package.json',
      pkg('@flotilla/a', { files: ['dist', 'descriptors'], dependencies: { '@flotilla/b': '*' } }),
    );
    write('libs/a/dist/index.js', '');
    write('libs/a/descriptors/set.binpb', '');
    write('libs/a/src/index.ts', '');
    write('libs/b/package.json', pkg('@flotilla/b'));
    write('libs/b/dist/index.js', '');
    write('libs/unused/package.json', pkg('@flotilla/unused'));
    write('libs/unused/dist/index.js', '');
  });

  afterEach(() => {
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("copies the app's and its workspace libraries' package files, and nothing else", () => {
    const result = collect('demo', path.join(root, 'out'));
    expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: '' });
    expect(listFiles(path.join(root, 'out'))).toEqual([
      'apps/demo/dist/main.js',
      'libs/a/descriptors/set.binpb',
      'libs/a/dist/index.js',
      'libs/b/dist/index.js',
    ]);
  });

  it('fails, naming the package, when a listed entry was not built', () => {
    fs.rmSync(path.join(root, 'libs/b/dist'), { recursive: true });
    const result = collect('demo', path.join(root, 'out'));
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('libs/b/dist does not exist');
  });

  it.each(APPS)('collects %s from this repository once it is built', (app) => {
    const out = path.join(root, 'real');
    const result = spawnSync(process.execPath, [COLLECT, app, out], { cwd: repoPath(), encoding: 'utf8' });
    expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: '' });
    expect(fs.existsSync(path.join(out, 'apps', app, 'dist', 'main.js'))).toBe(true);
  });
});
