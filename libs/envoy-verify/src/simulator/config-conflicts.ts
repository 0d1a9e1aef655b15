import { listenerComponents } from '@flotilla/proto';
import type { listener } from '@flotilla/proto';
import type { EnvoyConfig } from './envoy-config';

/** One key per concrete combination a FilterChainMatch accepts (its lists expanded), as Envoy indexes them. */
function matchKeys(m: listenerComponents.FilterChainMatch): string[] {
  const cidrs = (ranges: { addressPrefix: string; prefixLen?: number }[]) =>
    ranges.length === 0 ? [''] : ranges.map((r) => `${r.addressPrefix}/${r.prefixLen ?? 0}`);
  const orAny = <T>(values: T[]) => (values.length === 0 ? [''] : values.map(String));
  const dimensions = [
    [String(m.destinationPort ?? 0)],
    cidrs(m.prefixRanges),
    orAny(m.serverNames.map((s) => s.toLowerCase())),
    [m.transportProtocol],
    orAny(m.applicationProtocols),
    cidrs(m.directSourcePrefixRanges),
    [String(m.sourceType)],
    cidrs(m.sourcePrefixRanges),
    orAny(m.sourcePorts),
  ];
  return dimensions.reduce<string[]>(
    (keys, values) => keys.flatMap((k) => values.map((v) => `${k}|${v}`)),
    [''],
  );
}

function filterChainConflicts(l: listener.Listener): string[] {
  const owner = new Map<string, string>();
  const out = new Set<string>();
  for (const [index, chain] of l.filterChains.entries()) {
    const label = chain.name || `#${index}`;
    const match = chain.filterChainMatch ?? listenerComponents.FilterChainMatch.fromPartial({});
    for (const key of matchKeys(match)) {
      const first = owner.get(key);
      if (first !== undefined && first !== label) {
        out.add(`listener ${l.name}: filter chains ${first} and ${label} have the same matching rules`);
      }
      if (first === undefined) owner.set(key, label);
    }
  }
  return [...out];
}

/**
 * What Envoy rejects when it loads a configuration although every message passes its proto rules: filter chains
 * of one listener with the same matching rules, the same domain in two virtual hosts of a route configuration,
 * and two resources of one type with the same name.
 */
export function findConfigConflicts(config: EnvoyConfig): string[] {
  const out: string[] = [];
  for (const [kind, names] of [
    ['listener', config.listeners.map((l) => l.name)],
    ['route configuration', config.routes.map((r) => r.name)],
    ['cluster', config.clusters.map((c) => c.name)],
  ] as const) {
    const seen = new Set<string>();
    for (const name of names) {
      if (seen.has(name)) out.push(`${kind} ${name} is defined twice`);
      seen.add(name);
    }
  }
  for (const l of config.listeners) out.push(...filterChainConflicts(l));
  for (const rc of config.routes) {
    const owner = new Map<string, string>();
    for (const vh of rc.virtualHosts) {
      for (const domain of vh.domains.map((d) => d.toLowerCase())) {
        const first = owner.get(domain);
        if (first !== undefined) {
          out.push(
            `route configuration ${rc.name}: domain ${domain} is in virtual hosts ${first} and ${vh.name}`,
          );
        } else owner.set(domain, vh.name);
      }
    }
  }
  return out;
}
