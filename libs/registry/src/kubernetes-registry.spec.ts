import { AggregateRegistry } from './aggregate-registry';
import { KubernetesRegistry } from './kubernetes-registry';
import type { KubernetesInputs } from './kubernetes-registry';
import { ServiceEntryRegistry } from './service-entry-registry';

function reviews(): KubernetesInputs {
  return {
    services: [
      {
        metadata: { name: 'reviews', namespace: 'bookinfo' },
        spec: {
          clusterIP: '10.96.0.10',
          ports: [
            { name: 'http-web', port: 9080 },
            { name: 'metrics', port: 15090, appProtocol: 'http' },
            { name: 'db', port: 5432 },
          ],
        },
      },
    ],
    endpointSlices: [
      {
        metadata: {
          name: 'reviews-abc',
          namespace: 'bookinfo',
          labels: { 'kubernetes.io/service-name': 'reviews' },
        },
        endpoints: [
          {
            addresses: ['10.1.0.5'],
            conditions: { ready: true },
            targetRef: { kind: 'Pod', name: 'reviews-v1-x', namespace: 'bookinfo' },
            zone: 'zone-a',
          },
          {
            addresses: ['10.1.0.6'],
            conditions: { ready: false },
            targetRef: { kind: 'Pod', name: 'reviews-v2-y' },
          },
          { addresses: ['10.1.0.7'], conditions: { ready: false, terminating: true } },
        ],
        ports: [
          { name: 'http-web', port: 9081 },
          { name: 'metrics', port: 15090 },
        ],
      },
    ],
    pods: [
      {
        metadata: {
          name: 'reviews-v1-x',
          namespace: 'bookinfo',
          labels: { app: 'reviews', version: 'v1', 'istio-locality': 'eu.zone-a.rack1' },
        },
        spec: { serviceAccountName: 'bookinfo-reviews' },
      },
      {
        metadata: { name: 'reviews-v2-y', namespace: 'bookinfo', labels: { app: 'reviews', version: 'v2' } },
        spec: {},
      },
    ],
  };
}

/** `count` services of one port, each with a slice of two pods, for the incremental-update tests. */
function cluster(count: number): KubernetesInputs {
  const inputs: KubernetesInputs = { services: [], endpointSlices: [], pods: [] };
  for (let i = 0; i < count; i++) {
    inputs.services.push({
      metadata: { name: `svc-${i}`, namespace: 'apps', resourceVersion: '1' },
      spec: { clusterIP: `10.96.1.${i}`, ports: [{ name: 'http', port: 8080 }] },
    });
    inputs.endpointSlices.push({
      metadata: {
        name: `svc-${i}-x`,
        namespace: 'apps',
        resourceVersion: '1',
        labels: { 'kubernetes.io/service-name': `svc-${i}` },
      },
      endpoints: [0, 1].map((j) => ({
        addresses: [`10.2.${i}.${j}`],
        targetRef: { kind: 'Pod', name: `svc-${i}-pod-${j}`, namespace: 'apps' },
      })),
      ports: [{ name: 'http', port: 8080 }],
    });
    for (const j of [0, 1]) {
      inputs.pods.push({
        metadata: { name: `svc-${i}-pod-${j}`, namespace: 'apps', resourceVersion: '1', labels: { v: 'a' } },
        spec: { serviceAccountName: `sa-${i}` },
      });
    }
  }
  return inputs;
}

const host = (i: number) => `svc-${i}.apps.svc.cluster.local`;

describe('KubernetesRegistry', () => {
  it('recomputes only the services whose Service, slices or pods changed, naming only them', () => {
    const registry = new KubernetesRegistry();
    const changes: string[][] = [];
    registry.onChange((c) => changes.push([...new Set([...c.services, ...c.endpoints])].sort()));
    const inputs = cluster(50);
    registry.update(inputs);
    const untouched = registry.service(host(7));

    // One slice: an endpoint goes unready.
    const slices = inputs.endpointSlices.map((s, i) =>
      i === 3
        ? {
            ...s,
            metadata: { ...s.metadata, resourceVersion: '2' },
            endpoints: [{ ...s.endpoints![0], conditions: { ready: false } }, s.endpoints![1]],
          }
        : s,
    );
    registry.update({ ...inputs, endpointSlices: slices });
    expect(changes.at(-1)).toEqual([host(3)]);
    expect(registry.endpoints(host(3), 8080).map((e) => e.health)).toEqual(['UNHEALTHY', 'HEALTHY']);
    expect(registry.service(host(7))).toBe(untouched);

    // One pod's labels: the service whose slice points at it.
    const pods = inputs.pods.map((p) =>
      p.metadata.name === 'svc-9-pod-1'
        ? { ...p, metadata: { ...p.metadata, resourceVersion: '2', labels: { v: 'b' } } }
        : p,
    );
    registry.update({ ...inputs, endpointSlices: slices, pods });
    expect(changes.at(-1)).toEqual([host(9)]);
    expect(registry.endpoints(host(9), 8080).map((e) => e.labels.v)).toEqual(['a', 'b']);

    // A Service removed, and one with the same resourceVersion but a new object: only the removal counts.
    const services = inputs.services.filter((_, i) => i !== 12).map((s) => ({ ...s }));
    registry.update({ services, endpointSlices: slices, pods });
    expect(changes.at(-1)).toEqual([host(12)]);
    expect(registry.service(host(12))).toBeUndefined();
    expect(changes).toHaveLength(4);
  });

  it('sees changes when the caller keeps one inputs object and swaps its lists (as pilot does)', () => {
    const registry = new KubernetesRegistry();
    const inputs = cluster(5);
    registry.update(inputs);
    inputs.endpointSlices = inputs.endpointSlices.map((s, i) =>
      i === 2 ? { ...s, metadata: { ...s.metadata, resourceVersion: '2' }, endpoints: [] } : s,
    );
    registry.update(inputs);
    expect(registry.endpoints(host(2), 8080)).toEqual([]);
    expect(registry.endpoints(host(1), 8080)).toHaveLength(2);
  });

  it('ends in the same state as a registry built from scratch, whatever the sequence of changes', () => {
    const incremental = new KubernetesRegistry();
    let inputs = cluster(20);
    incremental.update(inputs);
    for (let step = 0; step < 40; step++) {
      const i = (step * 7) % 20;
      const version = String(step + 2);
      if (step % 3 === 0) {
        inputs = {
          ...inputs,
          pods: inputs.pods.map((p) =>
            p.metadata.name === `svc-${i}-pod-0`
              ? { ...p, metadata: { ...p.metadata, resourceVersion: version, labels: { v: version } } }
              : p,
          ),
        };
      } else if (step % 3 === 1) {
        inputs = {
          ...inputs,
          endpointSlices: inputs.endpointSlices.map((s) =>
            s.metadata.name === `svc-${i}-x`
              ? {
                  ...s,
                  metadata: { ...s.metadata, resourceVersion: version },
                  endpoints: s.endpoints!.slice(step % 2),
                }
              : s,
          ),
        };
      } else {
        inputs = {
          ...inputs,
          services: inputs.services.map((s) =>
            s.metadata.name === `svc-${i}`
              ? {
                  ...s,
                  metadata: { ...s.metadata, resourceVersion: version },
                  spec: { ...s.spec, clusterIP: `10.97.0.${step}` },
                }
              : s,
          ),
        };
      }
      incremental.update(inputs);
    }
    const scratch = new KubernetesRegistry();
    scratch.update(inputs);
    expect(incremental.services()).toEqual(scratch.services());
    for (let i = 0; i < 20; i++)
      expect(incremental.endpoints(host(i), 8080)).toEqual(scratch.endpoints(host(i), 8080));
  });

  it('names services <name>.<namespace>.svc.<domain> and detects protocols from appProtocol or the port name', () => {
    const registry = new KubernetesRegistry();
    registry.update(reviews());
    expect(registry.service('reviews.bookinfo.svc.cluster.local')).toMatchObject({
      ports: [
        { name: 'http-web', port: 9080, protocol: 'HTTP' },
        { name: 'metrics', port: 15090, protocol: 'HTTP' },
        { name: 'db', port: 5432, protocol: 'UNKNOWN' },
      ],
      addresses: ['10.96.0.10'],
      resolution: 'STATIC',
      exportTo: ['*'],
    });
  });

  it('takes endpoints from slices by port name, with health from conditions and identity and labels from the Pod', () => {
    const registry = new KubernetesRegistry();
    registry.update(reviews());
    const endpoints = registry.endpoints('reviews.bookinfo.svc.cluster.local', 9080);
    expect(endpoints.map((e) => `${e.address}:${e.port} ${e.health} ${e.labels.version ?? '-'}`)).toEqual([
      '10.1.0.5:9081 HEALTHY v1',
      '10.1.0.6:9081 UNHEALTHY v2',
      '10.1.0.7:9081 DRAINING -',
    ]);
    expect(endpoints[0]).toMatchObject({
      identity: 'spiffe://cluster.local/ns/bookinfo/sa/bookinfo-reviews',
      locality: { region: 'eu', zone: 'zone-a', subZone: 'rack1' },
    });
    expect(endpoints[1].identity).toBe('spiffe://cluster.local/ns/bookinfo/sa/default');
    expect(registry.endpoints('reviews.bookinfo.svc.cluster.local', 5432)).toEqual([]);
  });

  it('serves an ExternalName service as DNS to its external name, and a headless one without a VIP', () => {
    const registry = new KubernetesRegistry();
    registry.update({
      services: [
        {
          metadata: { name: 'ext', namespace: 'a' },
          spec: {
            type: 'ExternalName',
            externalName: 'db.example.com',
            ports: [{ name: 'tcp', port: 5432 }],
          },
        },
        {
          metadata: { name: 'hl', namespace: 'a' },
          spec: { clusterIP: 'None', ports: [{ name: 'grpc', port: 50051 }] },
        },
      ],
      endpointSlices: [],
      pods: [],
    });
    expect(registry.service('ext.a.svc.cluster.local')?.resolution).toBe('DNS');
    expect(registry.endpoints('ext.a.svc.cluster.local', 5432)).toMatchObject([
      { address: 'db.example.com', port: 5432 },
    ]);
    expect(registry.service('hl.a.svc.cluster.local')).toMatchObject({ resolution: 'NONE', addresses: [] });
  });
});

describe('AggregateRegistry', () => {
  it('serves a hostname from the first registry that has it, and forwards every member’s changes', () => {
    const kube = new KubernetesRegistry();
    const entries = new ServiceEntryRegistry();
    const aggregate = new AggregateRegistry([kube, entries]);
    const changed: string[] = [];
    aggregate.onChange((c) => changed.push(...c.services));
    kube.update(reviews());
    entries.update({
      serviceEntries: [
        {
          metadata: { name: 'r', namespace: 'bookinfo' },
          spec: {
            hosts: ['reviews.bookinfo.svc.cluster.local', 'extra.svc'],
            resolution: 'STATIC',
            ports: [{ number: 9080, name: 'http' }],
            endpoints: [{ address: '192.0.2.1' }],
          },
        },
      ],
      workloadEntries: [],
    });
    expect(
      aggregate
        .services()
        .map((s) => s.hostname)
        .sort(),
    ).toEqual(['extra.svc', 'reviews.bookinfo.svc.cluster.local']);
    expect(aggregate.service('reviews.bookinfo.svc.cluster.local')?.source).toBe(
      'Kubernetes Service bookinfo/reviews',
    );
    expect(
      aggregate.endpoints('reviews.bookinfo.svc.cluster.local', 9080).map((e) => e.address),
    ).not.toContain('192.0.2.1');
    expect(aggregate.endpoints('extra.svc', 9080).map((e) => e.address)).toEqual(['192.0.2.1']);
    expect(changed.sort()).toEqual([
      'extra.svc',
      'reviews.bookinfo.svc.cluster.local',
      'reviews.bookinfo.svc.cluster.local',
    ]);
  });
});
