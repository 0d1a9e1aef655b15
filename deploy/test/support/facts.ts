/**
 * The apps' contract as deploy/ relies on it: ports, flags and environment variables. Tests compare the
 * compose file, the Kubernetes manifests and the Dockerfile against these facts, and flags.spec.ts compares
 * the flags and variables used there against the apps' own `--help`.
 */
import * as path from 'node:path';

export const APPS = ['galley', 'pilot', 'mixer', 'citadel'] as const;
export type AppName = (typeof APPS)[number];

/** A port an app listens on, the flag and variable that set it, and its default. */
export interface PortFact {
  /** Container and Service port name in deploy/k8s. */
  name: string;
  flag: string;
  env: string;
  defaultPort: number;
  /** Only in Kubernetes (galley's admission webhook): not published by the compose mesh. */
  kubernetesOnly?: boolean;
}

export interface AppFact {
  name: AppName;
  ports: PortFact[];
  /** The port serving /metrics, /ready, /healthz and /debug. */
  monitoring: PortFact;
  /** The app's own flags, besides the common ones. */
  ownFlags: string[];
  /** Where the app keeps state or reads config in containers, with the variable that sets it. */
  mounts: { flag: string; env: string; path: string; kubernetesOnly?: boolean }[];
  /** Node's own flags before the entry point (citadel's young-generation size, as `flotilla up` runs it). */
  nodeArgs: string[];
}

export const COMMON_FLAGS = [
  '--host',
  '--grpc-port',
  '--monitoring-port',
  '--log-level',
  '--shutdown-timeout',
];
export const MONITORING_PORT_NAME = 'http-monitoring';
export const NAMESPACE = 'flotilla-system';
const CITADEL_STATE_DIR = '/var/lib/flotilla/citadel';
const GALLEY_CONFIG_DIR = '/etc/flotilla/mesh';

/** `--grpc-port` → `FLOTILLA_GRPC_PORT`, the rule every app's options follow. */
export function envNameOf(flag: string): string {
  return 'FLOTILLA_' + flag.replace(/^--/, '').replace(/-/g, '_').toUpperCase();
}

function port(name: string, flag: string, defaultPort: number): PortFact {
  return { name, flag, env: envNameOf(flag), defaultPort };
}

function monitoring(defaultPort: number): PortFact {
  return port(MONITORING_PORT_NAME, '--monitoring-port', defaultPort);
}

function app(
  name: AppName,
  grpc: PortFact,
  monitoringPort: PortFact,
  extra: PortFact[],
  ownFlags: string[],
  mounts: AppFact['mounts'],
  nodeArgs: string[] = [],
): AppFact {
  return {
    name,
    ports: [grpc, ...extra, monitoringPort],
    monitoring: monitoringPort,
    ownFlags,
    mounts,
    nodeArgs,
  };
}

export const FACTS: Record<AppName, AppFact> = {
  galley: app(
    'galley',
    port('grpc', '--grpc-port', 9901),
    monitoring(9902),
    [{ ...port('https-webhook', '--webhook-port', 15017), kubernetesOnly: true }],
    ['--config-dir', '--kubernetes', '--webhook-port', '--webhook-cert-dir'],
    [
      { flag: '--config-dir', env: 'FLOTILLA_CONFIG_DIR', path: GALLEY_CONFIG_DIR },
      {
        flag: '--webhook-cert-dir',
        env: 'FLOTILLA_WEBHOOK_CERT_DIR',
        path: '/etc/flotilla/webhook',
        kubernetesOnly: true,
      },
    ],
  ),
  pilot: app(
    'pilot',
    port('grpc', '--grpc-port', 15011),
    monitoring(15014),
    [
      port('grpc-xds', '--xds-port', 15010),
      // Envoy's mTLS xDS port needs citadel's certificate and a service-account token: clusters only.
      { ...port('grpc-xds-tls', '--secure-xds-port', 15012), kubernetesOnly: true },
    ],
    [
      '--xds-port',
      '--galley-address',
      '--secure-xds-port',
      '--citadel-address',
      '--citadel-server-name',
      '--citadel-root-cert',
      '--citadel-token-file',
    ],
    [],
  ),
  mixer: app(
    'mixer',
    port('grpc', '--grpc-port', 9091),
    monitoring(9093),
    [port('http-prom', '--prometheus-port', 42422)],
    ['--galley-address', '--prometheus-port'],
    [],
  ),
  citadel: app(
    'citadel',
    port('grpc-tls', '--grpc-port', 8060),
    monitoring(15016),
    [],
    [
      '--state-dir',
      '--trust-domain',
      '--serving-dns-names',
      '--local-tokens',
      '--kube-api-server',
      '--kube-token-file',
      '--kube-ca-file',
      '--kube-namespace',
    ],
    [{ flag: '--state-dir', env: 'FLOTILLA_STATE_DIR', path: CITADEL_STATE_DIR }],
    ['--max-semi-space-size=4'],
  ),
};

/** The repository root (deploy/test/support → three levels up). */
export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');

export function repoPath(...parts: string[]): string {
  return path.join(REPO_ROOT, ...parts);
}

/** A path relative to the repository root, for messages. */
export function rel(file: string): string {
  return path.relative(REPO_ROOT, file) || '.';
}

export function isAppName(name: string): name is AppName {
  return (APPS as readonly string[]).includes(name);
}
