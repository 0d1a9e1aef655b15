// Telemetry: providers, tracing sampling and custom tags, metric tag overrides.
import type { Issues } from '../issues';
import type { Obj } from '../schema/types';
import { keys, list, obj, str } from './common/access';
import type { ResourceContext } from './common/context';
import { checkPolicyTargets } from './common/selectors';

function checkProviders(providers: unknown, issues: Issues): void {
  for (const p of list(providers)) {
    if (str(obj(p)?.name) === '') {
      issues.error('providers.name may not be empty', 'providers');
      return;
    }
  }
}

export function validateTelemetry(spec: Obj, _ctx: ResourceContext, issues: Issues): void {
  checkPolicyTargets(spec, issues);
  list(spec.metrics).forEach((m, i) => {
    const metrics = obj(m);
    if (!metrics) return;
    issues.push('metrics');
    issues.push(i);
    checkProviders(metrics.providers, issues);
    list(metrics.overrides).forEach((o, j) => {
      const override = obj(o);
      if (!override) {
        issues.error('tagOverrides may not be null', 'overrides', j);
        return;
      }
      const tags = obj(override.tagOverrides) ?? {};
      for (const name of keys(tags)) {
        if (name === '') issues.warn('tagOverrides.name may not be empty', 'overrides', j, 'tagOverrides');
        const t = obj(tags[name]);
        if (!t) {
          issues.error('tagOverrides may not be null', 'overrides', j, 'tagOverrides');
          continue;
        }
        if (t.operation === 'REMOVE' ? str(t.value) !== '' : str(t.value) === '') {
          issues.error(
            t.operation === 'REMOVE'
              ? 'tagOverrides.value may only be set when operation is UPSERT'
              : 'tagOverrides.value must be set when operation is UPSERT',
            'overrides',
            j,
            'tagOverrides',
          );
        }
      }
      const match = obj(override.match);
      if (match && typeof match.customMetric === 'string' && match.customMetric === '') {
        issues.error('customMetric may not be empty', 'overrides', j, 'match', 'customMetric');
      }
    });
    issues.pop();
    issues.pop();
  });
  const tracing = list(spec.tracing);
  if (tracing.length > 1) issues.warn('multiple tracing is not currently supported', 'tracing');
  tracing.forEach((t, i) => {
    const tr = obj(t);
    if (!tr) return;
    issues.push('tracing');
    issues.push(i);
    if (list(tr.providers).length > 1)
      issues.warn('multiple providers is not currently supported', 'providers');
    checkProviders(tr.providers, issues);
    const pct = tr.randomSamplingPercentage;
    if (typeof pct === 'number' && (pct < 0 || pct > 100)) {
      issues.error('randomSamplingPercentage must be in range [0.0, 100.0]', 'randomSamplingPercentage');
    }
    const tags = obj(tr.customTags) ?? {};
    for (const name of keys(tags)) {
      if (name === '') issues.error('tag name may not be empty', 'customTags');
      const tag = obj(tags[name]);
      if (!tag) {
        issues.error(`tag '${name}' may not have a nil value`, 'customTags');
        continue;
      }
      if (obj(tag.literal) && str(obj(tag.literal)!.value) === '')
        issues.error('literal tag value may not be empty', 'customTags');
      if (obj(tag.header) && str(obj(tag.header)!.name) === '')
        issues.error('header tag name may not be empty', 'customTags');
      if (obj(tag.environment) && str(obj(tag.environment)!.name) === '')
        issues.error('environment tag name may not be empty', 'customTags');
    }
    issues.pop();
    issues.pop();
  });
  list(spec.accessLogging).forEach((l, i) => {
    const log = obj(l);
    if (!log) return;
    issues.push('accessLogging');
    issues.push(i);
    checkProviders(log.providers, issues);
    issues.pop();
    issues.pop();
  });
}
