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

describe('KubernetesRegistry', () => {
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
