// Port protocols as Istio parses them (case-insensitive).

export type Protocol =
  | 'TCP'
  | 'UDP'
  | 'GRPC'
  | 'GRPC-Web'
  | 'HTTP'
  | 'HTTP_PROXY'
  | 'HTTP2'
  | 'HTTPS'
  | 'TLS'
  | 'Mongo'
  | 'Redis'
  | 'MySQL'
  | 'Unsupported';

const BY_LOWER: Record<string, Protocol> = {
  tcp: 'TCP',
  udp: 'UDP',
  grpc: 'GRPC',
  'grpc-web': 'GRPC-Web',
  http: 'HTTP',
  http_proxy: 'HTTP_PROXY',
  http2: 'HTTP2',
  https: 'HTTPS',
  tls: 'TLS',
  mongo: 'Mongo',
  redis: 'Redis',
  mysql: 'MySQL',
};

export function parseProtocol(text: unknown): Protocol {
  return typeof text === 'string' ? (BY_LOWER[text.toLowerCase()] ?? 'Unsupported') : 'Unsupported';
}

export const isHTTP = (p: Protocol): boolean =>
  p === 'HTTP' || p === 'HTTP2' || p === 'HTTP_PROXY' || p === 'GRPC' || p === 'GRPC-Web';
export const isTLS = (p: Protocol): boolean => p === 'HTTPS' || p === 'TLS';
export const isTCP = (p: Protocol): boolean =>
  p === 'TCP' || p === 'HTTPS' || p === 'TLS' || p === 'Mongo' || p === 'Redis' || p === 'MySQL';

/** Empty means "sniff"; anything else must be a known protocol. */
export function checkProtocol(text: string): string | undefined {
  if (text !== '' && parseProtocol(text) === 'Unsupported') return `unsupported protocol: ${text}`;
  return undefined;
}
