import type { Protocol } from './model';

const PROTOCOLS: Record<string, Protocol> = {
  http: 'HTTP',
  http2: 'HTTP2',
  https: 'HTTPS',
  grpc: 'GRPC',
  'grpc-web': 'GRPC-WEB',
  tcp: 'TCP',
  tls: 'TLS',
  mongo: 'MONGO',
  redis: 'REDIS',
  mysql: 'MYSQL',
  udp: 'UDP',
  h2c: 'HTTP2',
};

/** A protocol name as written (any case) to Istio's protocol, or UNKNOWN. */
export function parseProtocol(value: string | undefined): Protocol {
  return (value && PROTOCOLS[value.toLowerCase()]) || 'UNKNOWN';
}

/**
 * Istio's protocol selection for a Kubernetes Service port: the appProtocol field first, then the port name's
 * prefix before the first "-" ("http-web", "grpc"), else UNKNOWN (sniffed by the proxy).
 */
export function protocolOfKubernetesPort(
  name: string | undefined,
  appProtocol: string | undefined,
): Protocol {
  if (appProtocol) {
    const fromApp = parseProtocol(appProtocol.replace(/^kubernetes\.io\//, ''));
    if (fromApp !== 'UNKNOWN') return fromApp;
  }
  if (!name) return 'UNKNOWN';
  return parseProtocol(name.split('-')[0]);
}
