// ProxyConfig.
import type { Issues } from '../issues';
import type { Obj } from '../schema/types';
import type { ResourceContext } from './common/context';
import { checkWorkloadSelector } from './common/selectors';

export function validateProxyConfig(spec: Obj, _ctx: ResourceContext, issues: Issues): void {
  checkWorkloadSelector(spec.selector, issues);
  if (typeof spec.concurrency === 'number' && spec.concurrency < 0) {
    issues.error('concurrency must be greater than or equal to 0', 'concurrency');
  }
}
