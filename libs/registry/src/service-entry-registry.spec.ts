import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { loadAll } from 'js-yaml';
import { ServiceEntryRegistry } from './service-entry-registry';
import type { ConfigObject, ServiceEntrySpec, WorkloadEntrySpec } from './service-entry-registry';
import type { RegistryChange } from './model';

type Obj = ConfigObject<never> & { kind: string };

function bookinfo(): {
  serviceEntries: ConfigObject<ServiceEntrySpec>[];
  workloadEntries: ConfigObject<WorkloadEntrySpec>[];
} {
  const dir = join(__dirname, '../../../examples/bookinfo');
  const docs = readdirSync(dir).flatMap((f) => loadAll(readFileSync(join(dir, f), 'utf8')) as Obj[]);
  return {
    serviceEntries: docs.filter((d) => d.kind === 'ServiceEntry'),
    workloadEntries: docs.filter((d) => d.kind === 'WorkloadEntry'),
  };
}

const se = (name: string, spec: ServiceEntrySpec, namespace = 'default'): ConfigObject<ServiceEntrySpec> => ({
  metadata: { name, namespace },
  spec,
});
const we = (
  name: string,
  spec: WorkloadEntrySpec,
  namespace = 'default',
  extra: Partial<ConfigObject<WorkloadEntrySpec>> = {},
) => ({
  metadata: { name, namespace },
  spec,
  ...extra,
});

describe('ServiceEntryRegistry', () => {
  it('builds bookinfo: one service per host, WorkloadEntries selected by labels, ports mapped by port name', () => {
    const registry = new ServiceEntryRegistry();
    registry.update(bookinfo());
    expect(
      registry
        .services()
        .map((s) => s.hostname)
        .sort(),
    ).toEqual([
      'details.bookinfo.svc.cluster.local',
      'productpage.bookinfo.svc.cluster.local',
      'ratings.bookinfo.svc.cluster.local',
      'reviews.bookinfo.svc.cluster.local',
    ]);
    const reviews = registry.endpoints('reviews.bookinfo.svc.cluster.local', 9080);
    expect(reviews.map((e) => `${e.address}:${e.port} ${e.labels.version}`).sort()).toEqual([
      '127.0.0.1:19082 v1',
      '127.0.0.1:19083 v2',
    ]);
    expect(reviews[0]).toMatchObject({
      identity: 'spiffe://cluster.local/ns/bookinfo/sa/bookinfo-reviews',
      locality: { region: 'local', zone: 'zone-a', subZone: '' },
      health: 'HEALTHY',
      weight: 1,
    });
    expect(registry.service('reviews.bookinfo.svc.cluster.local')).toMatchObject({
      namespace: 'bookinfo',
      ports: [{ name: 'grpc', port: 9080, protocol: 'GRPC' }],
      resolution: 'STATIC',
      meshExternal: false,
    });
  });

  it('uses targetPort, then the port number, when an endpoint does not map the port name', () => {
    const registry = new ServiceEntryRegistry();
    registry.update({
      serviceEntries: [
        se('db', {
          hosts: ['db.example.com'],
          resolution: 'STATIC',
          ports: [
            { number: 5432, name: 'pg', protocol: 'TCP', targetPort: 15432 },
            { number: 80, name: 'http', protocol: 'HTTP' },
          ],
          endpoints: [{ address: '10.0.0.1', ports: { http: 8080 } }, { address: '10.0.0.2' }],
        }),
      ],
      workloadEntries: [],
    });
    expect(registry.endpoints('db.example.com', 5432).map((e) => `${e.address}:${e.port}`)).toEqual([
      '10.0.0.1:15432',
      '10.0.0.2:15432',
    ]);
    expect(registry.endpoints('db.example.com', 80).map((e) => `${e.address}:${e.port}`)).toEqual([
      '10.0.0.1:8080',
      '10.0.0.2:80',
    ]);
    expect(registry.service('db.example.com')?.meshExternal).toBe(true);
  });

  it('resolves a DNS ServiceEntry without endpoints to its host, and gives NONE resolution no endpoints', () => {
    const registry = new ServiceEntryRegistry();
    registry.update({
      serviceEntries: [
        se('api', {
          hosts: ['api.example.com'],
          resolution: 'DNS',
          ports: [{ number: 443, name: 'tls', protocol: 'TLS' }],
        }),
        se('any', {
          hosts: ['*.example.org'],
          resolution: 'NONE',
          ports: [{ number: 443, name: 'tls', protocol: 'TLS' }],
        }),
      ],
      workloadEntries: [],
    });
    expect(registry.endpoints('api.example.com', 443)).toMatchObject([
      { address: 'api.example.com', port: 443 },
    ]);
    expect(registry.endpoints('*.example.org', 443)).toEqual([]);
  });

  it('selects WorkloadEntries only in the ServiceEntry’s namespace, and marks unhealthy ones', () => {
    const registry = new ServiceEntryRegistry();
    registry.update({
      serviceEntries: [
        se('vm', {
          hosts: ['vm.svc'],
          resolution: 'STATIC',
          ports: [{ number: 80, name: 'http' }],
          workloadSelector: { labels: { app: 'vm' } },
        }),
      ],
      workloadEntries: [
        we('vm-1', { address: '10.0.0.1', labels: { app: 'vm' }, weight: 3 }),
        we('vm-2', { address: '10.0.0.2', labels: { app: 'vm' } }, 'default', {
          status: { conditions: [{ type: 'Healthy', status: 'False' }] },
        }),
        we('vm-3', { address: '10.0.0.3', labels: { app: 'vm' } }, 'other'),
        we('db-1', { address: '10.0.0.4', labels: { app: 'db' } }),
      ],
    });
    expect(registry.endpoints('vm.svc', 80).map((e) => `${e.address} ${e.health} w${e.weight}`)).toEqual([
      '10.0.0.1 HEALTHY w3',
      '10.0.0.2 UNHEALTHY w1',
    ]);
  });

  it('resolves exportTo "." to the namespace and drops "~"', () => {
    const registry = new ServiceEntryRegistry();
    registry.update({
      serviceEntries: [
        se('a', { hosts: ['a.svc'], exportTo: ['.', 'istio-system'] }, 'team'),
        se('b', { hosts: ['b.svc'], exportTo: ['~'] }),
        se('c', { hosts: ['c.svc'] }),
      ],
      workloadEntries: [],
    });
    expect(registry.service('a.svc')?.exportTo).toEqual(['team', 'istio-system']);
    expect(registry.service('b.svc')?.exportTo).toEqual([]);
    expect(registry.service('c.svc')?.exportTo).toEqual(['*']);
  });

  it('tells listeners which hostnames changed, and whether services or only endpoints', () => {
    const registry = new ServiceEntryRegistry();
    const changes: RegistryChange[] = [];
    registry.onChange((c) => changes.push(c));
    const inputs = bookinfo();
    registry.update(inputs);
    expect(changes[0].services.size).toBe(4);
    const moved = inputs.workloadEntries.map((w) =>
      w.metadata.name === 'ratings-v1' ? { ...w, spec: { ...w.spec, ports: { grpc: 29084 } } } : w,
    );
    registry.update({ ...inputs, workloadEntries: moved });
    expect(changes[1]).toEqual({
      services: new Set(),
      endpoints: new Set(['ratings.bookinfo.svc.cluster.local']),
    });
    registry.update({ ...inputs, workloadEntries: moved });
    expect(changes).toHaveLength(2);
  });

  describe('incremental updates', () => {
    const mesh = (n: number) => ({
      serviceEntries: Array.from({ length: n }, (_, i) =>
        se(`svc-${i}`, {
          hosts: [`svc-${i}.example`],
          resolution: 'STATIC',
          ports: [{ number: 80, name: 'http' }],
          workloadSelector: { labels: { app: `svc-${i}` } },
        }),
      ),
      workloadEntries: Array.from({ length: n }, (_, i) =>
        we(`svc-${i}-a`, { address: `10.0.${i}.1`, labels: { app: `svc-${i}` } }),
      ),
    });

    it('recomputes only the service whose WorkloadEntry changed, naming only its host', () => {
      const registry = new ServiceEntryRegistry();
      const inputs = mesh(50);
      registry.update(inputs);
      const untouched = registry.service('svc-7.example');
      const changes: RegistryChange[] = [];
      registry.onChange((c) => changes.push(c));

      // Galley hands over the whole collection again, as fresh objects, with one entry changed.
      const workloadEntries = structuredClone(inputs.workloadEntries);
      workloadEntries[3].spec.address = '10.9.9.9';
      const change = registry.update({ serviceEntries: inputs.serviceEntries, workloadEntries });

      expect(change).toEqual({ services: new Set(), endpoints: new Set(['svc-3.example']) });
      expect(changes).toEqual([change]);
      expect(registry.endpoints('svc-3.example', 80).map((e) => e.address)).toEqual(['10.9.9.9']);
      // Other services are the very objects computed before: they were not rebuilt.
      expect(registry.service('svc-7.example')).toBe(untouched);
      expect(registry.services()).toHaveLength(50);
    });

    it('moves an endpoint between services when a WorkloadEntry’s labels change, naming both hosts', () => {
      const registry = new ServiceEntryRegistry();
      const inputs = mesh(5);
      registry.update(inputs);
      const workloadEntries = inputs.workloadEntries.map((w) =>
        w.metadata.name === 'svc-1-a' ? we('svc-1-a', { address: '10.0.1.1', labels: { app: 'svc-2' } }) : w,
      );
      const change = registry.update({ ...inputs, workloadEntries });
      expect(change.endpoints).toEqual(new Set(['svc-1.example', 'svc-2.example']));
      expect(registry.endpoints('svc-1.example', 80)).toEqual([]);
      expect(registry.endpoints('svc-2.example', 80).map((e) => e.address)).toEqual(['10.0.1.1', '10.0.2.1']);
    });

    it('changes, adds and removes ServiceEntries by host, falling back to the next one naming a host', () => {
      const registry = new ServiceEntryRegistry();
      const shared = (name: string, port: number) =>
        se(name, { hosts: ['shared.example'], resolution: 'DNS', ports: [{ number: port, name: 'http' }] });
      registry.update({ serviceEntries: [shared('b', 81), shared('a', 80)], workloadEntries: [] });
      expect(registry.service('shared.example')?.ports[0].port).toBe(80);

      const added = registry.update({
        serviceEntries: [shared('b', 81), shared('a', 80), se('c', { hosts: ['c.example'] })],
        workloadEntries: [],
      });
      expect(added.services).toEqual(new Set(['c.example']));

      const removed = registry.update({ serviceEntries: [shared('b', 81)], workloadEntries: [] });
      expect(removed.services).toEqual(new Set(['shared.example', 'c.example']));
      expect(registry.service('shared.example')?.ports[0].port).toBe(81);
      expect(registry.service('c.example')).toBeUndefined();
      expect(registry.endpoints('shared.example', 81)).toMatchObject([{ address: 'shared.example' }]);
    });

    it('ends with the same services and endpoints as a registry built from scratch', () => {
      const incremental = new ServiceEntryRegistry();
      const inputs = bookinfo();
      incremental.update({ serviceEntries: [], workloadEntries: inputs.workloadEntries });
      incremental.update({ serviceEntries: inputs.serviceEntries.slice(0, 2), workloadEntries: [] });
      incremental.update(inputs);
      const fresh = new ServiceEntryRegistry();
      fresh.update(inputs);
      const view = (r: ServiceEntryRegistry) =>
        r
          .services()
          .sort((a, b) => a.hostname.localeCompare(b.hostname))
          .map((s) => ({ s, endpoints: s.ports.map((p) => r.endpoints(s.hostname, p.port)) }));
      expect(view(incremental)).toEqual(view(fresh));
    });

    it('agrees with a registry built from scratch through any sequence of updates (selectors, labels, namespaces)', () => {
      const view = (r: ServiceEntryRegistry) =>
        r
          .services()
          .sort((a, b) => a.hostname.localeCompare(b.hostname))
          .map((s) => ({ s, endpoints: s.ports.map((p) => r.endpoints(s.hostname, p.port)) }));
      const namespace = fc.constantFrom('ns1', 'ns2');
      const labels = fc.record(
        { app: fc.constantFrom('a', 'b'), version: fc.constantFrom('v1', 'v2') },
        { requiredKeys: [] },
      );
      const serviceEntry = fc
        .record({
          i: fc.integer({ min: 0, max: 3 }),
          namespace,
          selector: labels,
          host: fc.integer({ min: 0, max: 2 }),
        })
        .map(({ i, namespace, selector, host }) =>
          se(
            `se-${i}`,
            {
              hosts: [`h${host}.example`],
              resolution: 'STATIC',
              ports: [{ number: 80, name: 'http' }],
              workloadSelector: { labels: selector },
            },
            namespace,
          ),
        );
      const workloadEntry = fc
        .record({
          i: fc.integer({ min: 0, max: 5 }),
          namespace,
          labels,
          address: fc.integer({ min: 1, max: 9 }),
        })
        .map(({ i, namespace, labels, address }) =>
          we(`we-${i}`, { address: `10.0.0.${address}`, labels }, namespace),
        );
      const inputs = fc.record({
        serviceEntries: fc.array(serviceEntry, { maxLength: 5 }),
        workloadEntries: fc.array(workloadEntry, { maxLength: 8 }),
        // Galley resends an unchanged collection as the same array: model that too.
        keepServiceEntries: fc.boolean(),
      });
      fc.assert(
        fc.property(fc.array(inputs, { minLength: 1, maxLength: 6 }), (steps) => {
          const incremental = new ServiceEntryRegistry();
          let serviceEntries: ConfigObject<ServiceEntrySpec>[] = [];
          for (const step of steps) {
            if (!step.keepServiceEntries) serviceEntries = step.serviceEntries;
            incremental.update({ serviceEntries, workloadEntries: step.workloadEntries });
            const fresh = new ServiceEntryRegistry();
            fresh.update({ serviceEntries, workloadEntries: step.workloadEntries });
            expect(view(incremental)).toEqual(view(fresh));
          }
        }),
        { numRuns: 300 },
      );
    });
  });
});
