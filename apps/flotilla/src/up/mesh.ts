import { join, resolve } from 'node:path';

/** The local mesh's ports; each has an `up` option to override it. */
export interface MeshPorts {
  galleyGrpc: number;
  galleyMonitoring: number;
  pilotXds: number;
  /** pilot's mTLS xDS port for Envoy sidecars (Istio's 15012), certificate from citadel. */
  pilotSecureXds: number;
  pilotGrpc: number;
  pilotMonitoring: number;
  mixerGrpc: number;
  mixerMonitoring: number;
  /** Where mixer's prometheus adapter serves /metrics (Istio's 42422). */
  mixerPrometheus: number;
  citadelGrpc: number;
  citadelMonitoring: number;
}

export const DEFAULT_PORTS: MeshPorts = {
  galleyGrpc: 9901,
  galleyMonitoring: 9902,
  pilotXds: 15010,
  pilotSecureXds: 15012,
  pilotGrpc: 15011,
  pilotMonitoring: 15014,
  mixerGrpc: 9091,
  mixerMonitoring: 9093,
  mixerPrometheus: 42422,
  citadelGrpc: 8060,
  citadelMonitoring: 15016,
};

/** `galleyGrpc` → `--galley-grpc-port`: the `up` option that sets a port. */
export function portOptionOf(key: keyof MeshPorts): string {
  return '--' + key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase()) + '-port';
}

export interface MeshSettings {
  host: string;
  ports: MeshPorts;
  configDir: string;
  stateDir: string;
  logLevel: string;
}

export interface GrpcEndpoint {
  port: keyof MeshPorts;
  /** PEM file of the CA that signs the server's certificate; plaintext when absent. */
  tlsRootCert?: string;
}

/** One control-plane app as the local mesh runs it. */
export interface MeshComponent {
  name: 'galley' | 'pilot' | 'mixer' | 'citadel';
  args: string[];
  /** Node's own flags for the app's process. */
  nodeArgs?: string[];
  grpc: GrpcEndpoint[];
  monitoringPort: keyof MeshPorts;
}

export function citadelStateDir(settings: MeshSettings): string {
  return join(resolve(settings.stateDir), 'citadel');
}

export function rootCertPath(settings: MeshSettings): string {
  return join(citadelStateDir(settings), 'root-cert.pem');
}

/** citadel's trust bundle: its root, and during a root rotation the old and new roots. Agents follow this file. */
export function trustBundlePath(settings: MeshSettings): string {
  return join(citadelStateDir(settings), 'trust-bundle.pem');
}

/**
 * A 4 MB young generation for citadel (V8's default grows to 16 MB): each scavenge then frees the native objects
 * (keys, TLS and HTTP/2 handles) of fewer calls, so its pauses are ~2 ms instead of ~10 ms at 1,000 CSRs/s, for
 * the same total GC time (docs/benchmarks.md, Citadel). Also in deploy/docker and deploy/k8s.
 */
export const CITADEL_SEMI_SPACE = '--max-semi-space-size=4';

/** The four apps with the flags that place them on the mesh's host, ports and state folder. */
export function meshComponents(settings: MeshSettings): MeshComponent[] {
  const { host, ports, logLevel } = settings;
  const common = (grpc: keyof MeshPorts, monitoring: keyof MeshPorts) => [
    '--host',
    host,
    '--grpc-port',
    String(ports[grpc]),
    '--monitoring-port',
    String(ports[monitoring]),
    '--log-level',
    logLevel,
  ];
  return [
    {
      name: 'galley',
      args: [...common('galleyGrpc', 'galleyMonitoring'), '--config-dir', resolve(settings.configDir)],
      grpc: [{ port: 'galleyGrpc' }],
      monitoringPort: 'galleyMonitoring',
    },
    {
      name: 'pilot',
      args: [
        ...common('pilotGrpc', 'pilotMonitoring'),
        '--xds-port',
        String(ports.pilotXds),
        // Pilot follows galley over MCP on galley's gRPC port.
        '--galley-address',
        `${host}:${ports.galleyGrpc}`,
        // Its mTLS xDS port gets a certificate from citadel, for a token pilot signs with the local token key.
        '--secure-xds-port',
        String(ports.pilotSecureXds),
        '--citadel-address',
        `${host}:${ports.citadelGrpc}`,
        '--citadel-root-cert',
        trustBundlePath(settings),
        '--citadel-token-key-dir',
        citadelStateDir(settings),
      ],
      grpc: [{ port: 'pilotGrpc' }, { port: 'pilotXds' }],
      monitoringPort: 'pilotMonitoring',
    },
    {
      name: 'mixer',
      args: [
        ...common('mixerGrpc', 'mixerMonitoring'),
        // Mixer's policy and telemetry config comes from the mesh config folder through galley.
        '--galley-address',
        `${host}:${ports.galleyGrpc}`,
        '--prometheus-port',
        String(ports.mixerPrometheus),
      ],
      grpc: [{ port: 'mixerGrpc' }],
      monitoringPort: 'mixerMonitoring',
    },
    {
      name: 'citadel',
      args: [
        ...common('citadelGrpc', 'citadelMonitoring'),
        '--state-dir',
        citadelStateDir(settings),
        '--serving-dns-names',
        ['localhost', '127.0.0.1', host].filter((v, i, all) => all.indexOf(v) === i).join(','),
      ],
      nodeArgs: [CITADEL_SEMI_SPACE],
      grpc: [{ port: 'citadelGrpc', tlsRootCert: rootCertPath(settings) }],
      monitoringPort: 'citadelMonitoring',
    },
  ];
}

/**
 * `<state>/endpoints.json`: where each app of the running mesh answers. Later issues add keys; these are never
 * renamed.
 */
export function endpointsOf(settings: MeshSettings) {
  const { host, ports } = settings;
  const addr = (p: keyof MeshPorts) => `${host}:${ports[p]}`;
  const metrics = (p: keyof MeshPorts) => `http://${addr(p)}/metrics`;
  return {
    galley: { grpc: addr('galleyGrpc'), metrics: metrics('galleyMonitoring') },
    pilot: {
      grpc: addr('pilotGrpc'),
      xds: addr('pilotXds'),
      secureXds: addr('pilotSecureXds'),
      metrics: metrics('pilotMonitoring'),
      debug: `http://${addr('pilotMonitoring')}`,
    },
    mixer: {
      grpc: addr('mixerGrpc'),
      metrics: metrics('mixerMonitoring'),
      prometheus: metrics('mixerPrometheus'),
    },
    citadel: {
      grpc: addr('citadelGrpc'),
      metrics: metrics('citadelMonitoring'),
      rootCert: rootCertPath(settings),
      trustBundle: trustBundlePath(settings),
    },
  };
}

/**
 * How the samples find the mesh: pilot's xDS port for routing; citadel's address, root and local token key for
 * each workload's mesh agent (certificates under <state>/bookinfo); mixer's gRPC port for checks and reports.
 */
export function sampleArgs(settings: MeshSettings): string[] {
  const endpoints = endpointsOf(settings);
  return [
    ...['--xds', endpoints.pilot.xds],
    ...['--citadel', endpoints.citadel.grpc, '--citadel-root-cert', endpoints.citadel.trustBundle],
    ...['--token-key-dir', citadelStateDir(settings)],
    ...['--cert-dir', join(resolve(settings.stateDir), 'bookinfo')],
    ...['--mixer', endpoints.mixer.grpc],
  ];
}
