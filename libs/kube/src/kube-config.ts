import { KubeConfig } from '@kubernetes/client-node';

/**
 * The cluster to talk to: the kubeconfig file given, else the in-cluster service account when running in a pod,
 * else the default kubeconfig (KUBECONFIG, ~/.kube/config).
 */
export function loadKubeConfig(kubeconfigPath?: string): KubeConfig {
  const kc = new KubeConfig();
  if (kubeconfigPath) kc.loadFromFile(kubeconfigPath);
  else if (process.env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
  else kc.loadFromDefault();
  return kc;
}

/**
 * A kubeconfig for one API server URL and bearer token. client-node refuses plain http unless TLS verification is
 * "skipped", so an http:// server gets that flag (there is no TLS to verify).
 */
export function kubeConfigFor(
  server: string,
  token: string,
  skipTLSVerify = server.startsWith('http://'),
  /** PEM bundle the API server's certificate must chain to; none: the system's roots. */
  caFile?: string,
): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'cluster', server, skipTLSVerify, ...(caFile ? { caFile } : {}) }],
    users: [{ name: 'user', token }],
    contexts: [{ name: 'context', cluster: 'cluster', user: 'user' }],
    currentContext: 'context',
  });
  return kc;
}
