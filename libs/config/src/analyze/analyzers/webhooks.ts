// Istio's admission webhooks: injection webhooks that would both inject the same pod or point at a missing
// Service (webhook.Analyzer, IST0139), and webhooks of a remote cluster that cannot reach an external control plane
// (externalcontrolplane.ExternalControlPlaneAnalyzer, IST0163/IST0164).
import { isIP } from 'node:net';
import type { Resource } from '../../model';
import { list, obj, str, strList } from '../../validate/common/access';
import type { AnalysisContext, Analyzer } from '../context';
import { labelsOf } from '../context';
import { REVISION_LABEL, SIDECAR_INJECT, INJECTION_LABEL } from '../in-mesh';
import { labelSelectorMatches } from '../label-selector';
import { Messages } from '../messages';

type Obj = Record<string, unknown>;

const webhooksOf = (config: Resource): Obj[] => list(config.object.webhooks).map((w) => obj(w) ?? {});

/** Revisions a webhook configuration serves: its istio.io/rev label and the revisions its selectors name. */
function revisionsOf(config: Resource): string[] {
  const revisions = new Set<string>();
  const label = labelsOf(config)[REVISION_LABEL];
  if (label !== undefined) revisions.add(label);
  for (const w of webhooksOf(config)) {
    for (const selector of [obj(w.namespaceSelector), obj(w.objectSelector)]) {
      if (!selector) continue;
      const matched = obj(selector.matchLabels)?.[REVISION_LABEL];
      if (typeof matched === 'string') revisions.add(matched);
      for (const e of list(selector.matchExpressions)) {
        if (obj(e)?.key === REVISION_LABEL) for (const v of strList(obj(e)?.values)) revisions.add(v);
      }
    }
  }
  return [...revisions];
}

/** The label sets of the namespaces (or pods) a cluster typically has, for each revision in use. */
function labelCombinations(key: string, values: readonly string[], revisions: readonly string[]) {
  const base: Record<string, string>[] = [{}, ...values.map((v) => ({ [key]: v }))];
  return [...base, ...revisions.flatMap((rev) => base.map((b) => ({ ...b, [REVISION_LABEL]: rev })))];
}

export const webhookAnalyzer: Analyzer = {
  name: 'webhook.Analyzer',
  analyze(ctx: AnalysisContext): void {
    const hooks: { id: string; config: Resource; webhook: Obj }[] = [];
    const revisions = new Set<string>();
    for (const config of ctx.all('MutatingWebhookConfiguration')) {
      const revs = revisionsOf(config);
      const isIstio = webhooksOf(config).some((w) => str(w.name).endsWith('istio.io'));
      if (revs.length === 0 && !isIstio) continue;
      for (const r of revs) revisions.add(r);
      for (const webhook of webhooksOf(config))
        hooks.push({ id: `${config.name}/${str(webhook.name)}`, config, webhook });
    }

    // The same overlap shows up under several label combinations; analyzeResources reports it once.
    const report = (config: Resource, text: string): void =>
      ctx.report(Messages.InvalidWebhook, config, text);

    const namespaceLabels = labelCombinations(INJECTION_LABEL, ['enabled', 'disabled'], [...revisions]);
    const objectLabels = labelCombinations(SIDECAR_INJECT, ['true', 'false'], [...revisions]);
    for (const nl of namespaceLabels) {
      for (const ol of objectLabels) {
        const matches = hooks.filter(
          (h) =>
            labelSelectorMatches(h.webhook.namespaceSelector, nl) &&
            labelSelectorMatches(h.webhook.objectSelector, ol),
        );
        const ids = [...new Set(matches.map((h) => h.id))];
        if (ids.length < 2) continue;
        for (const h of matches) {
          const others = ids.filter((id) => id !== h.id).sort();
          report(
            h.config,
            `Webhook overlaps with others: [${others.join(' ')}]. This may cause injection to occur twice.`,
          );
        }
      }
    }

    for (const h of hooks) {
      const service = obj(obj(h.webhook.clientConfig)?.service);
      if (!service) continue;
      const namespace = str(service.namespace);
      const name = str(service.name);
      if (!ctx.find('Service', namespace, name)) {
        report(
          h.config,
          `Injector refers to a control plane service that does not exist: ${namespace}/${name}.`,
        );
      }
    }
  },
};

const VALIDATOR_NAME = 'istiod-default-validator';
const VALIDATOR_PREFIX = 'istio-validator';
const INJECTOR_PREFIX = 'istio-sidecar-injector';

/** The host of a webhook URL, or undefined when the URL cannot be parsed. */
function urlHost(url: string): string | undefined {
  const match = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/([^/?#]*)/.exec(url);
  if (!match) return url.includes('://') ? undefined : '';
  let host = match[1].slice(match[1].lastIndexOf('@') + 1);
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    if (end < 0) return undefined;
    const rest = host.slice(end + 1);
    if (rest !== '' && !/^:\d*$/.test(rest)) return undefined;
    return host.slice(1, end);
  }
  const colon = host.indexOf(':');
  if (colon >= 0) {
    if (!/^\d*$/.test(host.slice(colon + 1))) return undefined;
    host = host.slice(0, colon);
  }
  return host;
}

export const externalControlPlaneAnalyzer: Analyzer = {
  name: 'externalcontrolplane.ExternalControlPlaneAnalyzer',
  analyze(ctx: AnalysisContext): void {
    const check = (config: Resource): void => {
      for (const webhook of webhooksOf(config)) {
        const name = str(webhook.name);
        const clientConfig = obj(webhook.clientConfig) ?? {};
        const url = clientConfig.url;
        if (typeof url === 'string') {
          const host = urlHost(url);
          if (host === undefined) {
            ctx.report(
              Messages.InvalidExternalControlPlaneConfig,
              config,
              `The hostname (${url}) that was provided for the webhook (${name}) to reach the ingress gateway on the external control plane cluster was provided in an invalid format. Traffic may not flow properly.`,
            );
          } else if (isIP(host) !== 0) {
            ctx.report(
              Messages.ExternalControlPlaneAddressIsNotAHostname,
              config,
              `The address (${url}) that was provided for the webhook (${name}) to reach the ingress gateway on the external control plane cluster is an IP address. This is not recommended for a production environment.`,
            );
          }
        } else if (!obj(clientConfig.service)) {
          ctx.report(
            Messages.InvalidExternalControlPlaneConfig,
            config,
            `The hostname () that was provided for the webhook (${name}) to reach the ingress gateway on the external control plane cluster is blank. Traffic may not flow properly.`,
          );
        }
      }
    };
    for (const config of ctx.all('ValidatingWebhookConfiguration')) {
      if (config.name === VALIDATOR_NAME || config.name.startsWith(VALIDATOR_PREFIX)) check(config);
    }
    for (const config of ctx.all('MutatingWebhookConfiguration')) {
      if (config.name.startsWith(INJECTOR_PREFIX)) check(config);
    }
  },
};
