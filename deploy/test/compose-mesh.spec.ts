/**
 * deploy/compose/mesh.yml, the full mesh with real Envoy sidecars on top of docker-compose.yml: docker-compose
 * accepts the pair, and as docker-compose merges them every workload of envoy/sidecars.json has its container at
 * its fixed address, an istio-iptables step and an Envoy sharing its network namespace, bootstrapped by the
 * committed `flotilla bootstrap` output; galley serves mesh/ (valid Istio config naming the same workloads);
 * Prometheus scrapes the control plane and every sidecar.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { parse, parseAllDocuments } from 'yaml';
import { REPO_ROOT, repoPath } from './support/facts';

const BASE = 'deploy/compose/docker-compose.yml';
const MESH = 'deploy/compose/mesh.yml';

interface Sidecar {
  name: string;
  ip: string;
  labels: Record<string, string>;
}
interface MeshSidecars {
  namespace: string;
  pilot: string;
  sidecars: Sidecar[];
}
interface Service {
  image?: string;
  user?: string;
  command?: string[];
  network_mode?: string;
  cap_add?: string[];
  networks?: Record<string, { ipv4_address?: string; aliases?: string[] } | null>;
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  ports?: string[];
}

const MESH_SIDECARS: MeshSidecars = JSON.parse(
  fs.readFileSync(repoPath('deploy', 'compose', 'envoy', 'sidecars.json'), 'utf8'),
);

function run(command: string, args: string[]) {
  const result = spawnSync(command, args, { cwd: REPO_ROOT, encoding: 'utf8' });
  if (result.error && (result.error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new Error(`${command} is not installed`);
  }
  if (result.error) throw result.error;
  return result;
}

let merged: { services: Record<string, Service>; networks: Record<string, { ipam?: { config?: object[] } }> };

beforeAll(() => {
  const result = run('docker-compose', ['-f', BASE, '-f', MESH, 'config']);
  if (result.status !== 0)
    throw new Error(`docker-compose config rejected ${BASE} + ${MESH}:\n${result.stderr}`);
  merged = parse(result.stdout);
});

it('docker-compose config -q accepts the control plane plus the mesh', () => {
  expect(run('docker-compose', ['-f', BASE, '-f', MESH, 'config', '-q']).status).toBe(0);
});

it('runs the control plane, Prometheus, and per workload the app, its iptables step and its Envoy', () => {
  const expected = ['galley', 'pilot', 'mixer', 'citadel', 'redis', 'prometheus'];
  for (const s of MESH_SIDECARS.sidecars) expected.push(s.name, `${s.name}-iptables`, `${s.name}-envoy`);
  expect(Object.keys(merged.services).sort()).toEqual(expected.sort());
});

describe.each(MESH_SIDECARS.sidecars.map((s) => [s.name, s] as const))('workload %s', (name, sidecar) => {
  it('has its fixed address, outside the range Docker assigns from', () => {
    const network = merged.services[name].networks?.['default'];
    expect(network?.ipv4_address).toBe(sidecar.ip);
    const ipam = merged.networks['default'].ipam?.config?.[0] as { subnet: string; ip_range: string };
    expect(ipam).toEqual({ subnet: '10.89.0.0/24', ip_range: '10.89.0.128/25' });
    expect(Number(sidecar.ip.split('.')[3])).toBeLessThan(128);
    // Callers dial the service by its app name (reviews for both versions).
    if (sidecar.labels['app'] !== name) expect(network?.aliases).toContain(sidecar.labels['app']);
  });

  it("captures the workload's traffic with istio-iptables, sparing Envoy's uid and its stats port", () => {
    const iptables = merged.services[`${name}-iptables`];
    expect(iptables.network_mode).toBe(`service:${name}`);
    expect(iptables.cap_add).toEqual(expect.arrayContaining(['NET_ADMIN', 'NET_RAW']));
    const args = iptables.command ?? [];
    const flag = (f: string) => args[args.indexOf(f) + 1];
    expect([flag('-p'), flag('-z'), flag('-u')]).toEqual(['15001', '15006', '1337']);
    expect(flag('-d').split(',')).toContain('15090');
  });

  it('runs Envoy in that namespace as uid 1337 with its bootstrap, after iptables and a healthy pilot', () => {
    const envoy = merged.services[`${name}-envoy`];
    expect(envoy.image).toMatch(/^docker\.io\/envoyproxy\/envoy:/);
    expect(envoy.network_mode).toBe(`service:${name}`);
    expect(envoy.user).toBe('1337');
    expect(envoy.volumes).toEqual([
      `${repoPath('deploy', 'compose', 'envoy', `${name}.json`)}:/etc/envoy/bootstrap.json:ro`,
    ]);
    expect(envoy.command?.slice(0, 3)).toEqual(['envoy', '-c', '/etc/envoy/bootstrap.json']);
    expect(envoy.depends_on).toEqual({
      [`${name}-iptables`]: { condition: 'service_completed_successfully' },
      pilot: { condition: 'service_healthy' },
    });
  });

  it('is bootstrapped as the sidecar pilot knows: its IP, namespace and labels, ADS to pilot', () => {
    const bootstrap = JSON.parse(
      fs.readFileSync(repoPath('deploy', 'compose', 'envoy', `${name}.json`), 'utf8'),
    );
    const ns = MESH_SIDECARS.namespace;
    expect(bootstrap.node.id).toBe(`sidecar~${sidecar.ip}~${name}.${ns}~${ns}.svc.cluster.local`);
    expect(bootstrap.node.metadata.LABELS).toEqual(sidecar.labels);
    const xds = bootstrap.staticResources.clusters.find((c: { name: string }) => c.name === 'xds-grpc');
    const [host, port] = MESH_SIDECARS.pilot.split(':');
    expect(xds.loadAssignment.endpoints[0].lbEndpoints[0].endpoint.address.socketAddress).toEqual({
      address: host,
      portValue: Number(port),
    });
    expect(merged.services[host]).toBeDefined();
  });
});

it('has committed bootstraps equal to what flotilla bootstrap writes (node deploy/compose/envoy/generate.mjs)', () => {
  const result = run(process.execPath, ['deploy/compose/envoy/generate.mjs', '--check']);
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
});

it("gives galley mesh/ as its config: valid Istio resources with one WorkloadEntry per sidecar at the sidecar's IP", () => {
  expect(merged.services['galley'].volumes).toEqual([
    `${repoPath('deploy', 'compose', 'mesh')}:/etc/flotilla/mesh:ro`,
  ]);
  const validate = run(process.execPath, ['apps/flotilla/dist/main.js', 'validate', 'deploy/compose/mesh']);
  expect({ status: validate.status, stdout: validate.stdout }).toEqual({
    status: 0,
    stdout: validate.stdout,
  });
  const entries = parseAllDocuments(
    fs.readFileSync(repoPath('deploy', 'compose', 'mesh', 'bookinfo.yaml'), 'utf8'),
  )
    .map((d) => d.toJS())
    .filter((d) => d?.kind === 'WorkloadEntry')
    .map((d) => [d.spec.address, d.spec.labels]);
  expect(entries.sort()).toEqual(MESH_SIDECARS.sidecars.map((s) => [s.ip, s.labels]).sort());
});

it('scrapes the control plane and every sidecar, with a config promtool accepts', () => {
  const config = repoPath('deploy', 'compose', 'prometheus', 'prometheus.yml');
  const promtool = run('promtool', ['check', 'config', config]);
  expect({ status: promtool.status, stderr: promtool.stderr }).toEqual({ status: 0, stderr: '' });
  const jobs = parse(fs.readFileSync(config, 'utf8')).scrape_configs as {
    job_name: string;
    metrics_path?: string;
    static_configs: { targets: string[] }[];
  }[];
  const targets = (job: string) =>
    jobs.find((j) => j.job_name === job)!.static_configs.flatMap((c) => c.targets);
  expect(targets('flotilla').sort()).toEqual(['citadel:15016', 'galley:9902', 'mixer:9093', 'pilot:15014']);
  expect(jobs.find((j) => j.job_name === 'envoy-sidecars')?.metrics_path).toBe('/stats/prometheus');
  expect(targets('envoy-sidecars').sort()).toEqual(
    MESH_SIDECARS.sidecars.map((s) => `${s.name}:15090`).sort(),
  );
  expect(merged.services['prometheus'].volumes).toEqual([`${config}:/etc/prometheus/prometheus.yml:ro`]);
});
