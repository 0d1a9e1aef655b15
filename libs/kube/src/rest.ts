import type { KubeConfig } from '@kubernetes/client-node';
// node-fetch, as @kubernetes/client-node itself uses: kubeconfig TLS settings arrive as an https.Agent, which
// Node's built-in fetch ignores.
import fetch from 'node-fetch';
import type { RequestInit } from 'node-fetch';

/** An API request failed: carries the HTTP status and the API server's Status message. */
export class KubeApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly path: string,
    message: string,
  ) {
    super(`${path}: HTTP ${statusCode}: ${message}`);
    this.name = 'KubeApiError';
  }
}

/** One JSON request to the API server with the kubeconfig's credentials and TLS settings. */
export async function kubeRequest<T>(
  kc: KubeConfig,
  method: 'GET' | 'PATCH' | 'PUT' | 'POST',
  path: string,
  body?: unknown,
  contentType = 'application/json',
): Promise<T> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  const init = (await kc.applyToFetchOptions({})) as RequestInit;
  const headers: Record<string, string> = {
    ...(init.headers as Record<string, string>),
    Accept: 'application/json',
  };
  if (body !== undefined) headers['Content-Type'] = contentType;
  const res = await fetch(cluster.server + path, {
    ...init,
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) {
    let message = text;
    try {
      message = (JSON.parse(text) as { message?: string }).message ?? text;
    } catch {
      // not a Status object
    }
    throw new KubeApiError(res.status, path, message);
  }
  return JSON.parse(text) as T;
}
