import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bootstrap, cluster, tls, unpackAny } from '@flotilla/proto';
import { checkBootstrap } from '../commands/bootstrap';
import { program } from '../main';
import { binaryFromJson } from './proto-json';
import {
  BOOTSTRAP_TYPE,
  BootstrapError,
  bootstrapJson,
  buildBootstrap,
  parseHostPort,
  parseProxyId,
} from './envoy-bootstrap';
import type { BootstrapOptions } from './envoy-bootstrap';

const PRODUCTPAGE = 'sidecar~10.0.0.10~productpage-v1-5d9.bookinfo~bookinfo.svc.cluster.local';

function options(overrides: Partial<BootstrapOptions> = {}): BootstrapOptions {
  return {
    proxyId: PRODUCTPAGE,
    pilot: 'pilot:15012',
    sdsSocket: '/etc/istio/proxy/SDS',
    xdsTransport: { kind: 'sds' },
    labels: { app: 'productpage', version: 'v1' },
    adminPort: 15000,
    prometheusPort: 15090,
    istioVersion: '0.1.0',
    ...overrides,
  };
}

/** The bootstrap as Envoy would parse it back from the JSON we write. */
function readBack(o: BootstrapOptions): bootstrap.Bootstrap {
  return bootstrap.Bootstrap.decode(
    binaryFromJson(BOOTSTRAP_TYPE, JSON.parse(bootstrapJson(buildBootstrap(o)))),
  );
}

function staticCluster(b: bootstrap.Bootstrap, name: string): cluster.Cluster {
  const c = b.staticResources?.clusters.find((x) => x.name === name);
  if (!c) throw new Error(`no static cluster ${name}`);
  return c;
}

describe('Envoy bootstrap', () => {
  it('decodes as envoy.config.bootstrap.v3.Bootstrap and keeps every protoc-gen-validate rule, in each xDS mode', () => {
    for (const xdsTransport of [
      { kind: 'sds' },
      { kind: 'plaintext' },
      { kind: 'files', certFile: '/certs/cert.pem', keyFile: '/certs/key.pem', caFile: '/certs/root.pem' },
    ] as const) {
      expect([
        xdsTransport.kind,
        checkBootstrap(bootstrapJson(buildBootstrap(options({ xdsTransport })))),
      ]).toEqual([xdsTransport.kind, []]);
    }
  });

  it('finds a broken bootstrap (the checker is not vacuous)', () => {
    const json = JSON.parse(bootstrapJson(buildBootstrap(options())));
    expect(json.staticResources.clusters[1].connectTimeout).toBe('1s');
    json.staticResources.clusters[1].connectTimeout = '-1s';
    json.dynamicResources.adsConfig.grpcServices[0].envoyGrpc.clusterName = '';
    const problems = checkBootstrap(JSON.stringify(json));
    expect(problems.some((p) => p.includes('connect_timeout'))).toBe(true);
    expect(problems.some((p) => p.includes('cluster_name'))).toBe(true);
    // Envoy rejects unknown fields; so does the check.
    expect(checkBootstrap('{"node": {"ident": "x"}}')[0]).toMatch(
      /does not decode as envoy.config.bootstrap.v3.Bootstrap/,
    );
  });

  it('carries the node identity and the metadata pilot reads', () => {
    const b = readBack(options());
    expect(b.node?.id).toBe(PRODUCTPAGE);
    expect(b.node?.cluster).toBe('productpage.bookinfo');
    expect(b.node?.metadata).toMatchObject({
      ISTIO_VERSION: '0.1.0',
      LABELS: { app: 'productpage', version: 'v1' },
      NAMESPACE: 'bookinfo',
      INSTANCE_IPS: '10.0.0.10',
      POD_NAME: 'productpage-v1-5d9',
    });
    expect(b.admin?.address?.socketAddress).toMatchObject({ address: '127.0.0.1', portValue: 15000 });
  });

  it('takes LDS and CDS from ADS over xds-grpc, an HTTP/2 cluster to pilot', () => {
    const b = readBack(options());
    expect(b.dynamicResources?.ldsConfig?.ads).toBeDefined();
    expect(b.dynamicResources?.cdsConfig?.ads).toBeDefined();
    expect(b.dynamicResources?.adsConfig?.grpcServices[0].envoyGrpc?.clusterName).toBe('xds-grpc');
    const xds = staticCluster(b, 'xds-grpc');
    expect(xds.type).toBe(cluster.Cluster_DiscoveryType.STRICT_DNS);
    expect(xds.loadAssignment?.endpoints[0].lbEndpoints[0].endpoint?.address?.socketAddress).toMatchObject({
      address: 'pilot',
      portValue: 15012,
    });
    expect(Object.keys(xds.typedExtensionProtocolOptions)).toEqual([
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
    ]);
  });

  it("authenticates to pilot with the agent's SDS secrets, or files, or not at all", () => {
    const context = (o: BootstrapOptions) => {
      const socket = staticCluster(readBack(o), 'xds-grpc').transportSocket;
      return socket ? unpackAny(socket.typedConfig!, tls.UpstreamTlsContext) : undefined;
    };
    const sds = context(options({ pilotIdentity: 'spiffe://cluster.local/ns/istio-system/sa/pilot' }))!;
    expect(sds.sni).toBe('pilot');
    expect(sds.commonTlsContext?.alpnProtocols).toEqual(['h2']);
    expect(sds.commonTlsContext?.tlsCertificateSdsSecretConfigs.map((s) => s.name)).toEqual(['default']);
    const validation = sds.commonTlsContext?.combinedValidationContext;
    expect(validation?.validationContextSdsSecretConfig?.name).toBe('ROOTCA');
    expect(validation?.defaultValidationContext?.matchTypedSubjectAltNames[0].matcher?.exact).toBe(
      'spiffe://cluster.local/ns/istio-system/sa/pilot',
    );
    const files = context(
      options({ xdsTransport: { kind: 'files', certFile: '/c.pem', keyFile: '/k.pem', caFile: '/ca.pem' } }),
    )!;
    expect(files.commonTlsContext?.tlsCertificates[0].certificateChain?.filename).toBe('/c.pem');
    expect(files.commonTlsContext?.validationContext?.trustedCa?.filename).toBe('/ca.pem');
    expect(context(options({ xdsTransport: { kind: 'plaintext' } }))).toBeUndefined();
  });

  it('exposes only /stats/prometheus of the localhost admin interface, on the Prometheus port', () => {
    const b = readBack(options());
    expect(b.staticResources?.listeners.map((l) => [l.name, l.address?.socketAddress?.portValue])).toEqual([
      ['prometheus_stats', 15090],
    ]);
    const stats = staticCluster(b, 'prometheus_stats');
    expect(stats.loadAssignment?.endpoints[0].lbEndpoints[0].endpoint?.address?.socketAddress).toMatchObject({
      address: '127.0.0.1',
      portValue: 15000,
    });
    expect(readBack(options({ prometheusPort: 0 })).staticResources?.listeners).toEqual([]);
  });

  it("reaches the mesh agent's SDS over its Unix socket", () => {
    const sds = staticCluster(readBack(options()), 'sds-grpc');
    expect(sds.type).toBe(cluster.Cluster_DiscoveryType.STATIC);
    expect(sds.loadAssignment?.endpoints[0].lbEndpoints[0].endpoint?.address?.pipe?.path).toBe(
      '/etc/istio/proxy/SDS',
    );
  });

  it('refuses node ids and addresses pilot could not use, saying what is expected', () => {
    expect(() => parseProxyId('productpage')).toThrow(BootstrapError);
    expect(() => parseProxyId('sidecar~10.0.0.1~nopod~x.svc.cluster.local')).toThrow(/sidecar~<ip>~<pod>/);
    expect(parseProxyId('router~10.0.0.2~gw-1.istio-system~istio-system.svc.cluster.local')).toMatchObject({
      type: 'router',
      pod: 'gw-1',
      namespace: 'istio-system',
    });
    expect(parseHostPort('[::1]:15012', '--pilot')).toEqual({ host: '::1', port: 15012 });
    expect(() => parseHostPort('pilot', '--pilot')).toThrow(/host:port/);
  });
});

describe('flotilla bootstrap', () => {
  it('writes a checked bootstrap with the labels and addresses given', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'flotilla-bootstrap-')), 'envoy.json');
    await program().parseAsync([
      'node',
      'flotilla',
      'bootstrap',
      '--proxy',
      PRODUCTPAGE,
      '--pilot',
      'pilot:15010',
      '--plaintext',
      '--sds-socket',
      '/var/run/sds.sock',
      '--label',
      'app=productpage',
      '--label',
      'version=v1',
      '-o',
      out,
    ]);
    const json = readFileSync(out, 'utf8');
    expect(checkBootstrap(json)).toEqual([]);
    const b = bootstrap.Bootstrap.decode(binaryFromJson(BOOTSTRAP_TYPE, JSON.parse(json)));
    expect(b.node?.metadata?.['LABELS']).toEqual({ app: 'productpage', version: 'v1' });
    expect(staticCluster(b, 'xds-grpc').transportSocket).toBeUndefined();
  });

  it('exits 2 with the expected form for a bad node id', async () => {
    const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      await program().parseAsync(['node', 'flotilla', 'bootstrap', '--proxy', 'nope']);
      expect(process.exitCode).toBe(2);
      expect(String(stderr.mock.calls[0][0])).toMatch(/expected "sidecar~<ip>~<pod>/);
    } finally {
      stderr.mockRestore();
      process.exitCode = 0;
    }
  });
});
