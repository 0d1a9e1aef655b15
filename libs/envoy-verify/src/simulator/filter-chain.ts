import { BlockList, isIP } from 'node:net';
import { listenerComponents } from '@flotilla/proto';
import type { listener } from '@flotilla/proto';

/** What Envoy knows of a connection when it picks a filter chain (after its listener filters have run). */
export interface ConnectionInfo {
  destinationIp: string;
  destinationPort: number;
  sourceIp: string;
  sourcePort: number;
  /** SNI, when a TLS inspector read a ClientHello that had one. */
  serverName?: string;
  /** "tls" when a TLS inspector saw a ClientHello, else "raw_buffer" (Envoy's default). */
  transportProtocol: string;
  /** ALPN from the TLS inspector, or "http/1.1" / "h2c" from the HTTP inspector. */
  applicationProtocols: string[];
}

export type FilterChainChoice =
  | { chain: listenerComponents.FilterChain; index: number; isDefault: boolean }
  | { chain: undefined; reason: string };

interface Candidate {
  chain: listenerComponents.FilterChain;
  index: number;
  match: listenerComponents.FilterChainMatch;
}

interface Cidr {
  addressPrefix: string;
  prefixLen?: number;
}

/** The length of the longest of `ranges` containing `ip`; an empty list matches everything as /0; -1: none. */
function longestPrefix(ranges: readonly Cidr[], ip: string): number {
  if (ranges.length === 0) return 0;
  const family = isIP(ip) === 6 ? 'ipv6' : 'ipv4';
  let best = -1;
  for (const r of ranges) {
    const rFamily = isIP(r.addressPrefix) === 6 ? 'ipv6' : 'ipv4';
    if (rFamily !== family) continue;
    const len = r.prefixLen ?? 0;
    const block = new BlockList();
    block.addSubnet(r.addressPrefix, len, family);
    if (block.check(ip, family) && len > best) best = len;
  }
  return best;
}

/** Keeps the candidates with the highest score (>= 0); a negative score means "does not match". */
function mostSpecific(candidates: Candidate[], score: (c: Candidate) => number): Candidate[] {
  let best = -1;
  for (const c of candidates) best = Math.max(best, score(c));
  return best < 0 ? [] : candidates.filter((c) => score(c) === best);
}

/** Exact values first, and only the chains that do not ask for this criterion when no value matches. */
function exactOrUnset(
  candidates: Candidate[],
  matches: (m: listenerComponents.FilterChainMatch) => boolean | undefined,
) {
  const exact = candidates.filter((c) => matches(c.match) === true);
  return exact.length > 0 ? exact : candidates.filter((c) => matches(c.match) === undefined);
}

/**
 * The server_names score of a chain for an SNI: exact name highest, then "*.suffix" by suffix length, then a
 * chain without server_names; Envoy's wildcards are only whole leading labels.
 */
function serverNameScore(names: readonly string[], sni: string | undefined): number {
  if (names.length === 0) return 0;
  if (!sni) return -1;
  const host = sni.toLowerCase();
  let best = -1;
  for (const raw of names) {
    const name = raw.toLowerCase();
    if (name === host) best = Math.max(best, 2 * host.length + 2);
    else if (name.startsWith('*.') && host.endsWith(name.slice(1)) && host.length > name.length - 1) {
      best = Math.max(best, 2 * (name.length - 1) + 1);
    }
  }
  return best;
}

function isLocal(conn: ConnectionInfo): boolean {
  return conn.sourceIp === conn.destinationIp || conn.sourceIp.startsWith('127.') || conn.sourceIp === '::1';
}

/**
 * Envoy's filter chain selection (FilterChainManagerImpl): the criteria in the order destination port,
 * destination IP, server name, transport protocol, application protocols, direct source IP, source type, source
 * IP, source port. At each step only the most specific matches go on (an unset criterion is the least specific)
 * and there is no backtracking: if a more specific chain fails a later criterion, the connection gets the
 * default filter chain, or none. Chains that stay tied to the end are a configuration Envoy would reject.
 */
export function selectFilterChain(l: listener.Listener, conn: ConnectionInfo): FilterChainChoice {
  let candidates: Candidate[] = l.filterChains.map((chain, index) => ({
    chain,
    index,
    match: chain.filterChainMatch ?? listenerComponents.FilterChainMatch.fromPartial({}),
  }));
  const steps: [string, (cs: Candidate[]) => Candidate[]][] = [
    [
      'destination_port',
      (cs) =>
        exactOrUnset(cs, (m) => (m.destinationPort ? m.destinationPort === conn.destinationPort : undefined)),
    ],
    [
      'prefix_ranges',
      (cs) => mostSpecific(cs, (c) => longestPrefix(c.match.prefixRanges, conn.destinationIp)),
    ],
    ['server_names', (cs) => mostSpecific(cs, (c) => serverNameScore(c.match.serverNames, conn.serverName))],
    [
      'transport_protocol',
      (cs) =>
        exactOrUnset(cs, (m) =>
          m.transportProtocol ? m.transportProtocol === conn.transportProtocol : undefined,
        ),
    ],
    [
      'application_protocols',
      (cs) => {
        // The connection's protocols in its own order: the first one any chain asks for wins.
        for (const p of conn.applicationProtocols) {
          const matched = cs.filter((c) => c.match.applicationProtocols.includes(p));
          if (matched.length > 0) return matched;
        }
        return cs.filter((c) => c.match.applicationProtocols.length === 0);
      },
    ],
    [
      'direct_source_prefix_ranges',
      (cs) => mostSpecific(cs, (c) => longestPrefix(c.match.directSourcePrefixRanges, conn.sourceIp)),
    ],
    [
      'source_type',
      (cs) => {
        const type = isLocal(conn)
          ? listenerComponents.FilterChainMatch_ConnectionSourceType.SAME_IP_OR_LOOPBACK
          : listenerComponents.FilterChainMatch_ConnectionSourceType.EXTERNAL;
        return exactOrUnset(cs, (m) => (m.sourceType ? m.sourceType === type : undefined));
      },
    ],
    [
      'source_prefix_ranges',
      (cs) => mostSpecific(cs, (c) => longestPrefix(c.match.sourcePrefixRanges, conn.sourceIp)),
    ],
    [
      'source_ports',
      (cs) =>
        exactOrUnset(cs, (m) =>
          m.sourcePorts.length > 0 ? m.sourcePorts.includes(conn.sourcePort) : undefined,
        ),
    ],
  ];
  for (const [criterion, step] of steps) {
    candidates = step(candidates);
    if (candidates.length === 0) {
      if (l.defaultFilterChain) return { chain: l.defaultFilterChain, index: -1, isDefault: true };
      return { chain: undefined, reason: `no filter chain of ${l.name} matches on ${criterion}` };
    }
  }
  if (candidates.length > 1) {
    const names = candidates.map((c) => c.chain.name || `#${c.index}`).join(', ');
    return {
      chain: undefined,
      reason: `filter chains ${names} of ${l.name} have the same match (Envoy rejects this)`,
    };
  }
  return { chain: candidates[0].chain, index: candidates[0].index, isDefault: false };
}
