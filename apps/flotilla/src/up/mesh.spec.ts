import { DEFAULT_PORTS, endpointsOf, meshComponents, portOptionOf, sampleArgs } from './mesh';
import { formatLine, painter } from './log-lines';

const settings = {
  host: '127.0.0.1',
  ports: DEFAULT_PORTS,
  configDir: '/mesh',
  stateDir: '/state',
  logLevel: 'info',
};

describe('local mesh layout', () => {
  it('names the up option of each port', () => {
    expect(portOptionOf('galleyGrpc')).toBe('--galley-grpc-port');
    expect(portOptionOf('pilotXds')).toBe('--pilot-xds-port');
    expect(portOptionOf('citadelMonitoring')).toBe('--citadel-monitoring-port');
  });

  it('writes endpoints.json in the documented shape with the default ports', () => {
    expect(endpointsOf(settings)).toEqual({
      galley: { grpc: '127.0.0.1:9901', metrics: 'http://127.0.0.1:9902/metrics' },
      pilot: {
        grpc: '127.0.0.1:15011',
        xds: '127.0.0.1:15010',
        secureXds: '127.0.0.1:15012',
        metrics: 'http://127.0.0.1:15014/metrics',
        debug: 'http://127.0.0.1:15014',
      },
      mixer: {
        grpc: '127.0.0.1:9091',
        metrics: 'http://127.0.0.1:9093/metrics',
        prometheus: 'http://127.0.0.1:42422/metrics',
      },
      citadel: {
        grpc: '127.0.0.1:8060',
        metrics: 'http://127.0.0.1:15016/metrics',
        rootCert: '/state/citadel/root-cert.pem',
        trustBundle: '/state/citadel/trust-bundle.pem',
      },
    });
  });

  it("runs citadel with a 4 MB young generation, as deploy/docker and deploy/k8s do, and the others with Node's defaults", () => {
    const byName = Object.fromEntries(meshComponents(settings).map((c) => [c.name, c]));
    expect(byName.citadel.nodeArgs).toEqual(['--max-semi-space-size=4']);
    expect(byName.pilot.nodeArgs).toBeUndefined();
  });

  it('passes each app its ports, and citadel its state folder and a certificate for the host', () => {
    const byName = Object.fromEntries(
      meshComponents({ ...settings, host: '10.1.2.3' }).map((c) => [c.name, c]),
    );
    expect(byName.pilot.args).toEqual(
      expect.arrayContaining(['--xds-port', '15010', '--grpc-port', '15011']),
    );
    expect(byName.pilot.args.join(' ')).toContain('--galley-address 10.1.2.3:9901');
    expect(byName.galley.args).toEqual(expect.arrayContaining(['--config-dir', '/mesh']));
    const citadel = byName.citadel.args;
    expect(citadel[citadel.indexOf('--state-dir') + 1]).toBe('/state/citadel');
    expect(citadel[citadel.indexOf('--serving-dns-names') + 1]).toBe('localhost,127.0.0.1,10.1.2.3');
    expect(byName.citadel.grpc).toEqual([
      { port: 'citadelGrpc', tlsRootCert: '/state/citadel/root-cert.pem' },
    ]);
  });
});

describe('sample workloads', () => {
  it('get pilot for routing, citadel and its token key for their agents, and mixer for policy', () => {
    expect(sampleArgs(settings)).toEqual([
      ...['--xds', '127.0.0.1:15010'],
      ...['--citadel', '127.0.0.1:8060', '--citadel-root-cert', '/state/citadel/trust-bundle.pem'],
      ...['--token-key-dir', '/state/citadel'],
      ...['--cert-dir', '/state/bookinfo'],
      ...['--mixer', '127.0.0.1:9091'],
    ]);
  });
});

describe('app output lines', () => {
  const plain = painter(false);

  it('renders pino records as time, level, message and fields', () => {
    const line = JSON.stringify({
      level: 'info',
      time: '2026-11-22T01:55:44.647Z',
      component: 'galley',
      address: '127.0.0.1:9902',
      msg: 'monitoring server listening',
    });
    expect(formatLine('galley', line, plain)).toBe(
      '[galley]  01:55:44.647 INFO  monitoring server listening address=127.0.0.1:9902',
    );
  });

  it('passes other lines through under the prefix, and colours only when asked', () => {
    expect(formatLine('pilot', 'plain text', plain)).toBe('[pilot]   plain text');
    expect(formatLine('pilot', 'x', painter(true))).toBe('\x1b[35m[pilot]  \x1b[0m x');
  });
});
