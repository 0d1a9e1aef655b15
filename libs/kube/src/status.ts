import type { KubeConfig } from '@kubernetes/client-node';
import { objectPath } from './resource-types';
import type { ResourceType } from './resource-types';
import { kubeRequest } from './rest';

/** Merge-patches an object's status subresource (how Istio reports validation messages on its resources). */
export async function patchStatus(
  kc: KubeConfig,
  type: ResourceType,
  namespace: string | undefined,
  name: string,
  status: Record<string, unknown>,
): Promise<void> {
  await kubeRequest(
    kc,
    'PATCH',
    `${objectPath(type, namespace, name)}/status`,
    { status },
    'application/merge-patch+json',
  );
}
