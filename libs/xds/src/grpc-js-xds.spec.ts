// Interoperability with the real proxyless client: @grpc/grpc-js-xds resolves `xds:///` targets through our ADS
// server (LDS → RDS → CDS → EDS over one SotW stream) and its call reaches a real gRPC server on loopback.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { register as registerXdsResolver } from '@grpc/grpc-js-xds';
import {
  cluster,
  configSource,
  endpoint,
  health,
  httpConnectionManager,
  listener,
  packAny,
  route,
  router,
} from '@flotilla/proto';
import { GrpcServer, createLogger } from '@flotilla/service-kit';
import { waitFor } from '@flotilla/testing';
import { AdsServer } from './ads-server';
import { ResourceSnapshot } from './snapshot';
import { TypeUrl } from './type-urls';

const LISTENER_NAME = 'backend.flotilla.test:8080';
const ROUTE_NAME = 'backend-routes';
const CLUSTER_NAME = 'outbound|8080||backend.flotilla.test';
const EDS_SERVICE_NAME = 'backend.flotilla.test:8080';
const ADS = { ads: {}, resourceApiVersion: configSource.ApiVersion.V3 };

function staticResources(snapshot: ResourceSnapshot, backendPort: number): void {
  // An API listener (what a proxyless client asks for by its target) whose HttpConnectionManager names its
  // routes over RDS on the same ADS stream, with the router filter last (grpc-js-xds insists on both).
  const hcm = httpConnectionManager.HttpConnectionManager.fromPartial({
    rds: { configSource: ADS, routeConfigName: ROUTE_NAME },
    httpFilters: [
      {
        name: 'envoy.filters.http.router',
        typedConfig: packAny(router.Router, router.Router.fromPartial({})),
      },
    ],
  });
  snapshot.set(TypeUrl.Listener, [
    {
      name: LISTENER_NAME,
      resource: packAny(
        listener.Listener,
        listener.Listener.fromPartial({
          name: LISTENER_NAME,
          apiListener: { apiListener: packAny(httpConnectionManager.HttpConnectionManager, hcm) },
        }),
      ),
    },
  ]);
  snapshot.set(TypeUrl.RouteConfiguration, [
    {
      name: ROUTE_NAME,
      resource: packAny(
        route.RouteConfiguration,
        route.RouteConfiguration.fromPartial({
          name: ROUTE_NAME,
          virtualHosts: [
            {
              name: 'backend',
              domains: ['*'],
              routes: [{ match: { prefix: '' }, route: { cluster: CLUSTER_NAME } }],
            },
          ],
        }),
      ),
    },
  ]);
  // EDS (not STATIC, which grpc-js-xds rejects) with ROUND_ROBIN (it NACKs LEAST_REQUEST).
  snapshot.set(TypeUrl.Cluster, [
    {
      name: CLUSTER_NAME,
      resource: packAny(
        cluster.Cluster,
        cluster.Cluster.fromPartial({
          name: CLUSTER_NAME,
          type: cluster.Cluster_DiscoveryType.EDS,
          edsClusterConfig: { edsConfig: ADS, serviceName: EDS_SERVICE_NAME },
          lbPolicy: cluster.Cluster_LbPolicy.ROUND_ROBIN,
          connectTimeout: { seconds: 1, nanos: 0 },
        }),
      ),
    },
  ]);
  // A locality with a load_balancing_weight: grpc-js-xds drops localities without one.
  snapshot.set(TypeUrl.ClusterLoadAssignment, [
    {
      name: EDS_SERVICE_NAME,
      resource: packAny(
        endpoint.ClusterLoadAssignment,
        endpoint.ClusterLoadAssignment.fromPartial({
          clusterName: EDS_SERVICE_NAME,
          endpoints: [
            {
              locality: { region: 'r1', zone: 'z1', subZone: 's1' },
              loadBalancingWeight: 1,
              priority: 0,
              lbEndpoints: [
                {
                  endpoint: { address: { socketAddress: { address: '127.0.0.1', portValue: backendPort } } },
                },
              ],
            },
          ],
        }),
      ),
    },
  ]);
}

describe('@grpc/grpc-js-xds against the ADS server', () => {
  const logger = createLogger('xds-interop-test', 'silent');
  let backend: GrpcServer;
  let xdsGrpc: GrpcServer;
  let ads: AdsServer;
  let client: InstanceType<typeof health.HealthClient> | undefined;
  let dir: string;

  beforeAll(async () => {
    backend = new GrpcServer({ name: 'backend', host: '127.0.0.1', port: 0, portOption: '--port', logger });
    const backendPort = await backend.start();
    backend.markServing();

    const snapshot = new ResourceSnapshot();
    staticResources(snapshot, backendPort);
    ads = new AdsServer({ logger, fallbackGenerator: snapshot.generator(), debounce: { afterMs: 0 } });
    xdsGrpc = new GrpcServer({ name: 'xds', host: '127.0.0.1', port: 0, portOption: '--port', logger });
    xdsGrpc.addService(ads.definition, ads.implementation);
    const xdsPort = await xdsGrpc.start();

    // grpc-js-xds accepts only insecure or google_default channel creds, and requires node.locality.
    dir = mkdtempSync(join(tmpdir(), 'flotilla-xds-'));
    const bootstrap = join(dir, 'bootstrap.json');
    writeFileSync(
      bootstrap,
      JSON.stringify({
        xds_servers: [
          {
            server_uri: `127.0.0.1:${xdsPort}`,
            channel_creds: [{ type: 'insecure' }],
            server_features: ['xds_v3'],
          },
        ],
        node: {
          id: 'proxyless~127.0.0.1~client-1.default~default.svc.cluster.local',
          cluster: 'client',
          locality: { region: 'r1', zone: 'z1', sub_zone: 's1' },
          metadata: { ISTIO_VERSION: 'grpc-js-xds-test' },
        },
      }),
    );
    process.env.GRPC_XDS_BOOTSTRAP = bootstrap;
    // The bootstrap is read when the first xds: channel is created, so registering early is fine.
    registerXdsResolver();
  });

  afterAll(async () => {
    client?.close();
    ads.close();
    await xdsGrpc.stop(1000);
    await backend.stop(1000);
    rmSync(dir, { recursive: true, force: true });
    delete process.env.GRPC_XDS_BOOTSTRAP;
  });

  it('resolves xds:///<host>:<port> through LDS, RDS, CDS and EDS and reaches the backend', async () => {
    client = new health.HealthClient(`xds:///${LISTENER_NAME}`, grpc.credentials.createInsecure());
    const response = await new Promise<health.HealthCheckResponse>((resolve, reject) => {
      client!.check({ service: '' }, new grpc.Metadata(), { deadline: Date.now() + 20_000 }, (err, res) =>
        err ? reject(err) : resolve(res!),
      );
    });
    expect(response.status).toBe(health.HealthCheckResponse_ServingStatus.SERVING);

    // The client ACKed every type it was sent (a NACK would show here with grpc-js-xds's reason).
    const types = [
      TypeUrl.Listener,
      TypeUrl.RouteConfiguration,
      TypeUrl.Cluster,
      TypeUrl.ClusterLoadAssignment,
    ];
    const status = await waitFor(
      'grpc-js-xds to ACK all four types',
      () => {
        const connection = ads.status().find((c) => c.node.id.startsWith('proxyless~'));
        const acked = connection?.types.filter(
          (t) => types.includes(t.typeUrl as never) && t.state === 'ACKED',
        );
        return acked?.length === 4 ? connection : undefined;
      },
      5000,
      20,
    );
    expect(status.node.locality).toEqual({ region: 'r1', zone: 'z1', subZone: 's1' });
    expect(status.node.userAgentName).toMatch(/gRPC/i);
    for (const t of status.types) expect(t.nack).toBeUndefined();
  }, 30_000);
});
