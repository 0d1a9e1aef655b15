/**
 * deploy/compose/docker-compose.yml: docker-compose accepts it, and each app's image, build target, ports,
 * environment, health check, volumes and start order match the apps' contract (support/facts.ts).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ComposeFile } from './support/compose';
import {
  COMPOSE_DIR,
  COMPOSE_FILE,
  commandOf,
  dependsOn,
  environmentOf,
  healthcheckCommand,
  loadCompose,
  publishedPorts,
  volumeMounts,
} from './support/compose';
import { APPS, FACTS, REPO_ROOT, rel, repoPath } from './support/facts';
import { Problems } from './support/problems';
import { effectivePort } from './support/workloads';

const FILE = rel(COMPOSE_FILE);
const at = (service: string): string => `${FILE}: services.${service}`;

let compose: ComposeFile;

beforeAll(() => {
  compose = loadCompose();
});

it('docker-compose config -q accepts the file', () => {
  const result = spawnSync('docker-compose', ['-f', FILE, 'config', '-q'], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
  });
  if (result.error && (result.error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new Error('docker-compose is not installed: apt-get install docker-compose (Debian ships v1.29)');
  }
  if (result.error) throw result.error;
  if (result.status !== 0) throw new Error(`docker-compose config -q rejected ${FILE}:\n${result.stderr}`);
  expect(result.status).toBe(0);
});

it('has the four apps and redis, nothing else', () => {
  expect(Object.keys(compose.services).sort()).toEqual([...APPS, 'redis'].sort());
});

describe.each(APPS)('%s', (app) => {
  const fact = FACTS[app];

  it('is built from its target of deploy/docker/Dockerfile, with the repository as context', () => {
    const problems = new Problems();
    const service = compose.services[app];
    const build = typeof service.build === 'string' ? { context: service.build } : (service.build ?? {});
    const context = path.resolve(COMPOSE_DIR, build.context ?? '.');
    problems.expectEqual(at(app), 'build.context', rel(context), '.');
    const dockerfile = path.resolve(context, build.dockerfile ?? 'Dockerfile');
    problems.expectEqual(at(app), 'build.dockerfile', rel(dockerfile), 'deploy/docker/Dockerfile');
    if (!fs.existsSync(dockerfile))
      problems.add(at(app), 'build.dockerfile', `${rel(dockerfile)} does not exist`);
    problems.expectEqual(at(app), 'build.target', build.target, app);
    if (!service.image?.startsWith(`flotilla/${app}:`)) {
      problems.add(at(app), 'image', `expected flotilla/${app}:<tag>, found ${service.image}`);
    }
    const command = commandOf(service);
    if (command.length > 0) {
      problems.expectEqual(at(app), 'command[0..1]', command.slice(0, 2), [
        'node',
        `apps/${app}/dist/main.js`,
      ]);
    }
    expect(problems.list).toEqual([]);
  });

  it("sets the app's ports, host and mounts through FLOTILLA_* variables, as the contract gives them", () => {
    const problems = new Problems();
    const env = environmentOf(compose.services[app]);
    problems.expectEqual(at(app), 'environment.FLOTILLA_HOST', env.FLOTILLA_HOST, '0.0.0.0');
    for (const port of fact.ports.filter((p) => !p.kubernetesOnly)) {
      problems.expectEqual(at(app), `environment.${port.env}`, env[port.env], String(port.defaultPort));
    }
    for (const mount of fact.mounts.filter((m) => !m.kubernetesOnly)) {
      problems.expectEqual(at(app), `environment.${mount.env}`, env[mount.env], mount.path);
    }
    if (!/^\d+$/.test(env.FLOTILLA_SHUTDOWN_TIMEOUT ?? '')) {
      problems.add(
        at(app),
        'environment.FLOTILLA_SHUTDOWN_TIMEOUT',
        `expected whole seconds, found ${env.FLOTILLA_SHUTDOWN_TIMEOUT}`,
      );
    }
    if (!env.FLOTILLA_LOG_LEVEL) problems.add(at(app), 'environment.FLOTILLA_LOG_LEVEL', 'missing');
    expect(problems.list).toEqual([]);
  });

  it('publishes exactly its listening ports, on 127.0.0.1 and the same host port', () => {
    const problems = new Problems();
    const service = compose.services[app];
    const env = environmentOf(service);
    const args = commandOf(service);
    const expected = fact.ports
      .filter((p) => !p.kubernetesOnly)
      .map((p) => effectivePort(p, args, env).port)
      .sort((a, b) => a - b);
    const ports = publishedPorts(service);
    ports.forEach((p, i) => {
      problems.expectEqual(at(app), `ports[${i}] host address`, p.hostIp, '127.0.0.1');
      problems.expectEqual(at(app), `ports[${i}] host port`, p.hostPort, p.containerPort);
      problems.expectEqual(at(app), `ports[${i}] protocol`, p.protocol, 'tcp');
    });
    problems.expectEqual(
      at(app),
      'ports[*] container ports',
      ports.map((p) => p.containerPort).sort((a, b) => a - b),
      expected,
    );
    expect(problems.list).toEqual([]);
  });

  it('checks health with node against /ready on its monitoring port', () => {
    const service = compose.services[app];
    const monitoring = effectivePort(fact.monitoring, commandOf(service), environmentOf(service)).port;
    const test = healthcheckCommand(service);
    expect({ field: `${at(app)}.healthcheck.test`, kind: test[0], program: test[1] }).toEqual({
      field: `${at(app)}.healthcheck.test`,
      kind: 'CMD',
      program: 'node',
    });
    expect(test.join(' ')).toContain(`http://127.0.0.1:${monitoring}/ready`);
  });
});

describe('start order and volumes', () => {
  it('starts pilot and mixer once galley is healthy, and mixer once redis is', () => {
    const problems = new Problems();
    problems.expectEqual(at('pilot'), 'depends_on', dependsOn(compose.services.pilot), {
      galley: 'service_healthy',
    });
    problems.expectEqual(at('mixer'), 'depends_on', dependsOn(compose.services.mixer), {
      galley: 'service_healthy',
      redis: 'service_healthy',
    });
    problems.expectEqual(at('galley'), 'depends_on', dependsOn(compose.services.galley), {});
    expect(problems.list).toEqual([]);
  });

  it("keeps citadel's state in a named volume at its state folder", () => {
    const state = FACTS.citadel.mounts[0].path;
    const mount = volumeMounts(compose.services.citadel).find((m) => m.target === state);
    expect({ field: `${at('citadel')}.volumes`, mount: mount?.target }).toEqual({
      field: `${at('citadel')}.volumes`,
      mount: state,
    });
    const source = mount?.source ?? '';
    expect({ field: `${FILE}: volumes`, declared: Object.keys(compose.volumes ?? {}) }).toEqual({
      field: `${FILE}: volumes`,
      declared: expect.arrayContaining([source]),
    });
  });

  it('mounts examples/bookinfo read-only at galley’s config folder', () => {
    const configDir = FACTS.galley.mounts[0].path;
    const mount = volumeMounts(compose.services.galley).find((m) => m.target === configDir);
    expect({
      field: `${at('galley')}.volumes`,
      source: mount?.source && rel(path.resolve(COMPOSE_DIR, mount.source)),
      readOnly: mount?.readOnly,
    }).toEqual({
      field: `${at('galley')}.volumes`,
      source: rel(repoPath('examples', 'bookinfo')),
      readOnly: true,
    });
  });

  it("names the citadel service in citadel's serving certificate", () => {
    const names = (environmentOf(compose.services.citadel).FLOTILLA_SERVING_DNS_NAMES ?? '').split(',');
    expect({ field: `${at('citadel')}.environment.FLOTILLA_SERVING_DNS_NAMES`, names }).toEqual({
      field: `${at('citadel')}.environment.FLOTILLA_SERVING_DNS_NAMES`,
      names: expect.arrayContaining(['citadel']),
    });
  });

  it('runs redis 7 on 127.0.0.1:6379 with a health check', () => {
    const redis = compose.services.redis;
    expect({
      image: redis.image,
      ports: publishedPorts(redis),
      healthcheck: healthcheckCommand(redis)[0],
    }).toEqual({
      image: 'redis:7',
      ports: [{ hostIp: '127.0.0.1', hostPort: 6379, containerPort: 6379, protocol: 'tcp' }],
      healthcheck: 'CMD',
    });
  });
});
