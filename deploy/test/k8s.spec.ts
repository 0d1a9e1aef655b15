/**
 * deploy/k8s: renders the flotilla-system overlay and each base, validates every object against its
 * Kubernetes schema, and checks namespaces, labels, selectors, probes, resources and security settings.
 * When a kubectl with kustomize v4+ is installed, its rendering must equal this suite's own renderer's.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { APPS, FACTS, MONITORING_PORT_NAME, NAMESPACE, isAppName, rel, repoPath } from './support/facts';
import type { K8sObject, Rendered } from './support/kustomize';
import {
  describe as describeObject,
  findKubectl,
  kubectlKustomizeMajor,
  kustomizationFile,
  objectId,
  readYamlDocuments,
  renderKustomization,
  renderWithKubectl,
} from './support/kustomize';
import { Problems } from './support/problems';
import { allows } from './support/rbac';
import type { PolicyRule } from './support/rbac';
import { schemaErrors } from './support/schemas';
import type { Container, DeploymentSpec, HttpProbe, ServiceSpec } from './support/workloads';
import { appLabelOf, ofKind, selects, specOf } from './support/workloads';

const OVERLAY = repoPath('deploy', 'k8s', 'overlays', 'flotilla-system');
const BASE = (app: string): string => repoPath('deploy', 'k8s', 'base', app);
const BASE_FILES = ['deployment.yaml', 'pdb.yaml', 'service.yaml', 'serviceaccount.yaml'];
const PER_APP_KINDS = ['Deployment', 'PodDisruptionBudget', 'Service', 'ServiceAccount'];
/** What a base holds besides the four: citadel's Role for Secret istio-ca-secret, and its binding. */
const EXTRA_FILES: Partial<Record<string, string[]>> = { citadel: ['role.yaml', 'rolebinding.yaml'] };
const EXTRA_KINDS: Partial<Record<string, string[]>> = { citadel: ['Role', 'RoleBinding'] };
const kindsOf = (app: string): string[] => [...PER_APP_KINDS, ...(EXTRA_KINDS[app] ?? [])].sort();

const where = (r: Rendered): string => `${r.source}: ${describeObject(r.object)}`;

let rendered: Rendered[] = [];

beforeAll(() => {
  rendered = renderKustomization(OVERLAY);
});

describe('kustomizations', () => {
  it.each(APPS)('base/%s lists its files and renders one object of each kind', (app) => {
    const file = kustomizationFile(BASE(app));
    expect(file).toBeDefined();
    const [kustomization] = readYamlDocuments(file as string) as { resources?: string[] }[];
    expect([...(kustomization.resources ?? [])].sort()).toEqual(
      [...BASE_FILES, ...(EXTRA_FILES[app] ?? [])].sort(),
    );

    const objects = renderKustomization(BASE(app)).map((r) => r.object);
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(
      kindsOf(app).map((kind) => `${kind}/${app}`),
    );
    // Bases stay namespace-free; the overlay places them.
    expect(objects.filter((o) => o.metadata.namespace !== undefined).map(describeObject)).toEqual([]);
  });

  it('the overlay installs the Namespace and the four apps, nothing else', () => {
    const expected = [
      `Namespace/${NAMESPACE}`,
      ...APPS.flatMap((app) => kindsOf(app).map((kind) => `${kind}/${app}`)),
    ].sort();
    expect(rendered.map((r) => describeObject(r.object)).sort()).toEqual(expected);
  });

  it.each([OVERLAY, ...APPS.map(BASE)].map(rel))(
    '%s holds only its kustomization and the files it lists',
    (relDir) => {
      const dir = repoPath(relDir);
      const file = kustomizationFile(dir) as string;
      const [kustomization] = readYamlDocuments(file) as { resources?: string[] }[];
      const listed = new Set((kustomization.resources ?? []).map((entry) => path.resolve(dir, entry)));
      const unused = fs
        .readdirSync(dir)
        .map((name) => path.join(dir, name))
        .filter((p) => p !== file && !listed.has(p));
      expect(unused).toEqual([]);
    },
  );
});

describe('rendered objects', () => {
  it('validate against their Kubernetes schemas (kubernetes-models)', () => {
    const problems = new Problems();
    for (const r of rendered) {
      for (const [field, message] of schemaErrors(r.object)) problems.add(where(r), field, message);
    }
    expect(problems.list).toEqual([]);
  });

  it(`all land in namespace ${NAMESPACE}, except the Namespace itself`, () => {
    const problems = new Problems();
    for (const r of rendered) {
      if (r.object.kind === 'Namespace') {
        problems.expectEqual(where(r), 'metadata.name', r.object.metadata.name, NAMESPACE);
        problems.expectEqual(where(r), 'metadata.namespace', r.object.metadata.namespace, undefined);
      } else {
        problems.expectEqual(where(r), 'metadata.namespace', r.object.metadata.namespace, NAMESPACE);
      }
    }
    expect(problems.list).toEqual([]);
  });

  it('carry app.kubernetes.io labels naming their app and part-of flotilla', () => {
    const problems = new Problems();
    for (const r of rendered.filter((x) => x.object.kind !== 'Namespace')) {
      const labels = r.object.metadata.labels ?? {};
      problems.expectEqual(
        where(r),
        'metadata.labels["app.kubernetes.io/name"]',
        labels['app.kubernetes.io/name'],
        r.object.metadata.name,
      );
      problems.expectEqual(
        where(r),
        'metadata.labels["app.kubernetes.io/part-of"]',
        labels['app.kubernetes.io/part-of'],
        'flotilla',
      );
      for (const key of ['app.kubernetes.io/component', 'app.kubernetes.io/version']) {
        if (!labels[key]) problems.add(where(r), `metadata.labels["${key}"]`, 'missing');
      }
    }
    expect(problems.list).toEqual([]);
  });
});

describe('selectors', () => {
  it('each Deployment selects its own pod template labels', () => {
    const problems = new Problems();
    for (const r of ofKind(rendered, 'Deployment')) {
      const spec = specOf<DeploymentSpec>(r.object);
      if (!selects(spec.selector.matchLabels, spec.template.metadata?.labels)) {
        problems.add(
          where(r),
          'spec.selector.matchLabels',
          `does not match spec.template.metadata.labels ${JSON.stringify(spec.template.metadata?.labels)}`,
        );
      }
      problems.expectEqual(
        where(r),
        'spec.template.metadata.labels["app.kubernetes.io/name"]',
        spec.template.metadata?.labels?.['app.kubernetes.io/name'],
        r.object.metadata.name,
      );
    }
    expect(problems.list).toEqual([]);
  });

  it('each Service and PodDisruptionBudget selects the pods of exactly its own Deployment', () => {
    const problems = new Problems();
    const deployments = ofKind(rendered, 'Deployment');
    const matching = (selector: Record<string, string> | undefined, ns: string | undefined): string[] =>
      deployments
        .filter((d) => d.object.metadata.namespace === ns)
        .filter((d) => selects(selector, specOf<DeploymentSpec>(d.object).template.metadata?.labels))
        .map((d) => d.object.metadata.name);

    for (const r of ofKind(rendered, 'Service')) {
      const found = matching(specOf<ServiceSpec>(r.object).selector, r.object.metadata.namespace);
      problems.expectEqual(where(r), 'spec.selector', found, [r.object.metadata.name]);
    }
    for (const r of ofKind(rendered, 'PodDisruptionBudget')) {
      const selector = specOf<{ selector?: { matchLabels?: Record<string, string> } }>(r.object).selector;
      const found = matching(selector?.matchLabels, r.object.metadata.namespace);
      problems.expectEqual(where(r), 'spec.selector.matchLabels', found, [r.object.metadata.name]);
    }
    expect(problems.list).toEqual([]);
  });

  it('Service ports target named container ports of the selected pods, on the same port numbers', () => {
    const problems = new Problems();
    for (const r of ofKind(rendered, 'Service')) {
      const deployment = ofKind(rendered, 'Deployment').find(
        (d) => d.object.metadata.name === r.object.metadata.name,
      );
      if (!deployment) {
        problems.add(where(r), '', 'no Deployment of the same name');
        continue;
      }
      const containerPorts = specOf<DeploymentSpec>(deployment.object).template.spec.containers.flatMap(
        (c) => c.ports ?? [],
      );
      (specOf<ServiceSpec>(r.object).ports ?? []).forEach((port, i) => {
        const field = `spec.ports[${i}]`;
        if (typeof port.targetPort !== 'string') {
          problems.add(
            where(r),
            `${field}.targetPort`,
            `should name a container port, found ${JSON.stringify(port.targetPort)}`,
          );
          return;
        }
        const target = containerPorts.find((p) => p.name === port.targetPort);
        if (!target) {
          problems.add(
            where(r),
            `${field}.targetPort`,
            `no container port named ${port.targetPort} in ${deployment.source}`,
          );
          return;
        }
        problems.expectEqual(where(r), `${field}.port`, port.port, target.containerPort);
        problems.expectEqual(where(r), `${field}.name`, port.name, port.targetPort);
      });
      const serviceNames = (specOf<ServiceSpec>(r.object).ports ?? []).map((p) => p.name).sort();
      problems.expectEqual(
        where(r),
        'spec.ports[*].name',
        serviceNames,
        containerPorts.map((p) => p.name).sort(),
      );
    }
    expect(problems.list).toEqual([]);
  });
});

describe('citadel RBAC in its namespace', () => {
  const find = (kind: string) =>
    rendered.find((r) => r.object.kind === kind && r.object.metadata.name === 'citadel')?.object;

  it('lets citadel create Secret istio-ca-secret and read and replace only that one', () => {
    const rules = (find('Role') as K8sObject & { rules: PolicyRule[] }).rules;
    expect(allows(rules, 'create', 'secrets')).toBe(true);
    expect(allows(rules, 'get', 'secrets', 'istio-ca-secret')).toBe(true);
    expect(allows(rules, 'update', 'secrets', 'istio-ca-secret')).toBe(true);
    expect(allows(rules, 'get', 'secrets', 'some-other-secret')).toBe(false);
    expect(allows(rules, 'list', 'secrets')).toBe(false);
    expect(allows(rules, 'delete', 'secrets', 'istio-ca-secret')).toBe(false);
  });

  it("binds that Role to citadel's ServiceAccount, all in the overlay's namespace", () => {
    const binding = find('RoleBinding') as K8sObject & {
      roleRef: { kind: string; name: string };
      subjects: { kind: string; name: string; namespace: string }[];
    };
    expect(binding.metadata.namespace).toBe(NAMESPACE);
    expect(binding.roleRef).toMatchObject({ kind: 'Role', name: 'citadel' });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'citadel', namespace: NAMESPACE }]);
    expect(find('ServiceAccount')?.metadata.namespace).toBe(NAMESPACE);
  });

  it('runs citadel with --kube-namespace set to its own namespace, next to --kube-api-server', () => {
    const [container] = specOf<DeploymentSpec>(find('Deployment') as K8sObject).template.spec.containers;
    expect(container.args).toEqual(
      expect.arrayContaining([
        '--kube-api-server=https://kubernetes.default.svc',
        '--kube-namespace=$(POD_NAMESPACE)',
      ]),
    );
    expect(container.env).toContainEqual({
      name: 'POD_NAMESPACE',
      valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } },
    });
  });
});

describe('pods', () => {
  const eachContainer = (fn: (r: Rendered, c: Container, field: string) => void): void => {
    for (const r of ofKind(rendered, 'Deployment')) {
      specOf<DeploymentSpec>(r.object).template.spec.containers.forEach((c, i) =>
        fn(r, c, `spec.template.spec.containers[${i}]`),
      );
    }
  };

  it(`probe /ready and /healthz over HTTP on the port named ${MONITORING_PORT_NAME}, the app's monitoring port`, () => {
    const problems = new Problems();
    eachContainer((r, c, field) => {
      const app = appLabelOf(r.object) ?? '';
      if (!isAppName(app)) {
        problems.add(
          where(r),
          'metadata.labels["app.kubernetes.io/name"]',
          `${app} is not one of ${APPS.join(', ')}`,
        );
        return;
      }
      const probes: [keyof Container, string | undefined][] = [
        ['readinessProbe', '/ready'],
        ['livenessProbe', '/healthz'],
        ['startupProbe', undefined],
      ];
      for (const [name, path] of probes) {
        const probe = c[name] as HttpProbe | undefined;
        if (!probe) {
          if (name !== 'startupProbe') problems.add(where(r), `${field}.${name}`, 'missing');
          continue;
        }
        if (!probe.httpGet) {
          problems.add(
            where(r),
            `${field}.${name}.httpGet`,
            'missing: probes use HTTP on the monitoring port',
          );
          continue;
        }
        if (path) problems.expectEqual(where(r), `${field}.${name}.httpGet.path`, probe.httpGet.path, path);
        problems.expectEqual(
          where(r),
          `${field}.${name}.httpGet.port`,
          probe.httpGet.port,
          MONITORING_PORT_NAME,
        );
      }
      const monitoring = (c.ports ?? []).find((p) => p.name === MONITORING_PORT_NAME);
      if (!monitoring) problems.add(where(r), `${field}.ports`, `no port named ${MONITORING_PORT_NAME}`);
    });
    expect(problems.list).toEqual([]);
  });

  it('run as non-root without privilege escalation, with requests and limits', () => {
    const problems = new Problems();
    for (const r of ofKind(rendered, 'Deployment')) {
      const pod = specOf<DeploymentSpec>(r.object).template.spec;
      pod.containers.forEach((c, i) => {
        const field = `spec.template.spec.containers[${i}]`;
        const nonRoot = c.securityContext?.runAsNonRoot ?? pod.securityContext?.runAsNonRoot;
        if (nonRoot !== true)
          problems.add(where(r), 'spec.template.spec.securityContext.runAsNonRoot', 'must be true');
        // The image's user is the name `node`; runAsNonRoot can only be enforced with a numeric user.
        if (!pod.securityContext?.runAsUser) {
          problems.add(
            where(r),
            'spec.template.spec.securityContext.runAsUser',
            'must be set (node is uid 1000)',
          );
        }
        problems.expectEqual(
          where(r),
          `${field}.securityContext.allowPrivilegeEscalation`,
          c.securityContext?.allowPrivilegeEscalation,
          false,
        );
        for (const kind of ['requests', 'limits'] as const) {
          for (const resource of ['cpu', 'memory']) {
            if (!c.resources?.[kind]?.[resource])
              problems.add(where(r), `${field}.resources.${kind}.${resource}`, 'missing');
          }
        }
      });
    }
    expect(problems.list).toEqual([]);
  });

  it('run their app image and entry point, under their own ServiceAccount', () => {
    const problems = new Problems();
    const accounts = new Set(ofKind(rendered, 'ServiceAccount').map((r) => r.object.metadata.name));
    for (const r of ofKind(rendered, 'Deployment')) {
      const app = r.object.metadata.name;
      const pod = specOf<DeploymentSpec>(r.object).template.spec;
      problems.expectEqual(where(r), 'spec.template.spec.serviceAccountName', pod.serviceAccountName, app);
      if (!accounts.has(pod.serviceAccountName ?? '')) {
        problems.add(
          where(r),
          'spec.template.spec.serviceAccountName',
          `no ServiceAccount ${pod.serviceAccountName} rendered`,
        );
      }
      problems.expectEqual(
        where(r),
        'spec.template.spec.containers[*].name',
        pod.containers.map((c) => c.name),
        [app],
      );
      const c = pod.containers[0];
      if (!c?.image?.startsWith(`flotilla/${app}:`)) {
        problems.add(
          where(r),
          'spec.template.spec.containers[0].image',
          `expected flotilla/${app}:<tag>, found ${c?.image}`,
        );
      }
      problems.expectEqual(where(r), 'spec.template.spec.containers[0].command', c?.command, [
        'node',
        ...(isAppName(app) ? FACTS[app].nodeArgs : []),
        `apps/${app}/dist/main.js`,
      ]);
    }
    expect(problems.list).toEqual([]);
  });

  it("mount citadel's state folder and galley's config folder where their flags point", () => {
    const problems = new Problems();
    for (const r of ofKind(rendered, 'Deployment')) {
      const app = r.object.metadata.name;
      if (!isAppName(app)) continue;
      const c = specOf<DeploymentSpec>(r.object).template.spec.containers[0];
      for (const mount of FACTS[app].mounts) {
        const field = 'spec.template.spec.containers[0]';
        if (!(c.args ?? []).includes(`${mount.flag}=${mount.path}`)) {
          problems.add(where(r), `${field}.args`, `expected ${mount.flag}=${mount.path}`);
        }
        if (!(c.volumeMounts ?? []).some((m) => m.mountPath === mount.path)) {
          problems.add(where(r), `${field}.volumeMounts`, `nothing mounted at ${mount.path}`);
        }
      }
    }
    expect(problems.list).toEqual([]);
  });
});

const kubectl = findKubectl();
const kustomizeMajor = kubectl ? kubectlKustomizeMajor(kubectl) : undefined;
const crossCheck = kubectl && kustomizeMajor !== undefined && kustomizeMajor >= 4;

describe('kubectl kustomize', () => {
  (crossCheck ? it : it.skip)(
    `renders the overlay exactly as this suite does (${kubectl ?? 'no kubectl'}, kustomize v${kustomizeMajor ?? '?'})`,
    () => {
      const byId = (objects: K8sObject[]): Record<string, K8sObject> =>
        Object.fromEntries(objects.map((o) => [objectId(o), o]));
      const theirs = byId(renderWithKubectl(kubectl as string, OVERLAY));
      const ours = byId(renderKustomization(OVERLAY).map((r) => r.object));
      expect(Object.keys(theirs).sort()).toEqual(Object.keys(ours).sort());
      expect(theirs).toEqual(ours);
    },
  );
});
