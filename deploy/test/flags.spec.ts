/**
 * Flags in step: every `--flag` and FLOTILLA_* variable that deploy/ passes to an app (Kubernetes args and
 * env, compose environment and command, Dockerfile ENV) must be one the app lists in its `--help`, and the
 * container ports must be the ports those flags, variables or the apps' defaults make the app listen on.
 *
 * The `--help` part needs the apps built (the `test` target depends on their `build` targets).
 */
import { commandOf, COMPOSE_FILE, environmentOf, loadCompose } from './support/compose';
import { DOCKERFILE, envOf, readDockerfile } from './support/dockerfile';
import type { AppName } from './support/facts';
import { APPS, COMMON_FLAGS, FACTS, envNameOf, rel, repoPath } from './support/facts';
import type { Help } from './support/help';
import { runHelp } from './support/help';
import type { Rendered } from './support/kustomize';
import { describe as describeObject, renderKustomization } from './support/kustomize';
import { Problems } from './support/problems';
import type { DeploymentSpec } from './support/workloads';
import { effectivePort, envRecord, parseFlags, specOf } from './support/workloads';

const OVERLAY = repoPath('deploy', 'k8s', 'overlays', 'flotilla-system');

/** A flag or variable deploy/ uses, and where (file: object: field). */
interface Use {
  name: string;
  where: string;
  field: string;
}

function deploymentOf(rendered: Rendered[], app: AppName): Rendered {
  const found = rendered.find((r) => r.object.kind === 'Deployment' && r.object.metadata.name === app);
  if (!found) throw new Error(`${rel(OVERLAY)}: no Deployment/${app} rendered`);
  return found;
}

/** Every flag and FLOTILLA_* variable deploy/ sets for `app`. */
function usesOf(rendered: Rendered[], app: AppName): { flags: Use[]; envs: Use[] } {
  const flags: Use[] = [];
  const envs: Use[] = [];

  const deployment = deploymentOf(rendered, app);
  const where = `${deployment.source}: ${describeObject(deployment.object)}`;
  specOf<DeploymentSpec>(deployment.object).template.spec.containers.forEach((c, i) => {
    const field = `spec.template.spec.containers[${i}]`;
    for (const f of parseFlags(c.args ?? []))
      flags.push({ name: f.flag, where, field: `${field}.args[${f.index}]` });
    (c.env ?? []).forEach((e, j) => {
      if (e.name.startsWith('FLOTILLA_'))
        envs.push({ name: e.name, where, field: `${field}.env[${j}].name` });
    });
  });

  const service = loadCompose().services[app];
  const composeWhere = `${rel(COMPOSE_FILE)}: services.${app}`;
  if (service) {
    for (const name of Object.keys(environmentOf(service)).filter((n) => n.startsWith('FLOTILLA_'))) {
      envs.push({ name, where: composeWhere, field: `environment.${name}` });
    }
    for (const f of parseFlags(commandOf(service))) {
      flags.push({ name: f.flag, where: composeWhere, field: `command[${f.index}]` });
    }
  }

  const stage = readDockerfile().stages.find((s) => s.name === app);
  for (const name of Object.keys(stage ? envOf(stage) : {}).filter((n) => n.startsWith('FLOTILLA_'))) {
    envs.push({ name, where: `${rel(DOCKERFILE)}: stage ${app}`, field: `ENV ${name}` });
  }
  return { flags, envs };
}

let rendered: Rendered[] = [];

beforeAll(() => {
  rendered = renderKustomization(OVERLAY);
});

describe('container ports follow the flags, variables and defaults (no build needed)', () => {
  it.each(APPS)('%s: Kubernetes container ports are the ports the app listens on', (app) => {
    const problems = new Problems();
    const deployment = deploymentOf(rendered, app);
    const where = `${deployment.source}: ${describeObject(deployment.object)}`;
    const c = specOf<DeploymentSpec>(deployment.object).template.spec.containers[0];
    const env = envRecord(c.env);
    for (const port of FACTS[app].ports) {
      const expected = effectivePort(port, c.args ?? [], env);
      const index = (c.ports ?? []).findIndex((p) => p.name === port.name);
      if (index < 0) {
        problems.add(
          where,
          'spec.template.spec.containers[0].ports',
          `no port named ${port.name} (${expected.where}: ${expected.port})`,
        );
        continue;
      }
      const field = `spec.template.spec.containers[0].ports[${index}].containerPort`;
      if (c.ports?.[index].containerPort !== expected.port) {
        problems.add(
          where,
          field,
          `is ${c.ports?.[index].containerPort}, but the app listens on ${expected.port} (${expected.where})`,
        );
      }
    }
    problems.expectEqual(
      where,
      'spec.template.spec.containers[0].ports[*].name',
      (c.ports ?? []).map((p) => p.name).sort(),
      FACTS[app].ports.map((p) => p.name).sort(),
    );
    expect(problems.list).toEqual([]);
  });

  it.each(APPS)('%s: every flag and variable deploy/ sets is one the contract gives the app', (app) => {
    const problems = new Problems();
    const known = [...COMMON_FLAGS, ...FACTS[app].ownFlags];
    const knownEnvs = new Set(known.map(envNameOf));
    const { flags, envs } = usesOf(rendered, app);
    for (const use of flags) {
      if (!known.includes(use.name))
        problems.add(use.where, use.field, `${use.name} is not one of ${known.join(' ')}`);
    }
    for (const use of envs) {
      if (!knownEnvs.has(use.name))
        problems.add(use.where, use.field, `${use.name} is not one of ${[...knownEnvs].join(' ')}`);
    }
    expect(problems.list).toEqual([]);
  });
});

describe.each(APPS)("%s --help (needs the app's build)", (app) => {
  let help: Help;

  beforeAll(() => {
    help = runHelp(app);
  });

  it('lists the common flags and its own, each with its FLOTILLA_* variable', () => {
    const problems = new Problems();
    const where = `node apps/${app}/dist/main.js --help`;
    for (const flag of [...COMMON_FLAGS, ...FACTS[app].ownFlags]) {
      const option = help.options.get(flag);
      if (!option) {
        problems.add(where, flag, 'not listed');
        continue;
      }
      problems.expectEqual(where, `${flag} env`, option.env, envNameOf(flag));
    }
    expect(problems.list).toEqual([]);
  });

  it('gives the port defaults deploy/ relies on', () => {
    const problems = new Problems();
    const where = `node apps/${app}/dist/main.js --help`;
    for (const port of FACTS[app].ports) {
      problems.expectEqual(
        where,
        `${port.flag} default`,
        help.options.get(port.flag)?.defaultValue,
        String(port.defaultPort),
      );
    }
    problems.expectEqual(where, '--host default', help.options.get('--host')?.defaultValue, '0.0.0.0');
    expect(problems.list).toEqual([]);
  });

  it('knows every flag and FLOTILLA_* variable that deploy/ passes it', () => {
    const problems = new Problems();
    const { flags, envs } = usesOf(rendered, app);
    expect(flags.length).toBeGreaterThan(0);
    for (const use of flags) {
      if (!help.options.has(use.name))
        problems.add(use.where, use.field, `${use.name} is not a flag of ${app} (not in --help)`);
    }
    const helpEnvs = new Set([...help.options.values()].flatMap((o) => (o.env ? [o.env] : [])));
    for (const use of envs) {
      if (!helpEnvs.has(use.name) && !help.envNames.has(use.name)) {
        problems.add(use.where, use.field, `${use.name} is not a variable of ${app} (not in --help)`);
      }
    }
    expect(problems.list).toEqual([]);
  });
});
