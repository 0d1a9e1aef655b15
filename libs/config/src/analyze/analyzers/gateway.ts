// Gateway analyzers: workload ports (IST0101/IST0162), conflicting servers (IST0145), credentials
// (IST0101/IST0161), duplicated certificates (IST0138).
import { X509Certificate } from 'node:crypto';
import type { Resource } from '../../model';
import { list, num, obj, str, strList } from '../../validate/common/access';
import { hostsMatch } from '../../validate/common/names';
import type { AnalysisContext, Analyzer } from '../context';
import { fullName, labelsOf, ns, selects, specOf, stringMap } from '../context';
import { Messages } from '../messages';

/** Kubernetes' rendering of an equality selector: `k1=v1,k2=v2`, keys sorted. */
export function selectorString(selector: Record<string, string>): string {
  return Object.keys(selector)
    .sort()
    .map((k) => `${k}=${selector[k]}`)
    .join(',');
}

const gatewaySelector = (gw: Resource): Record<string, string> => stringMap(specOf(gw).selector);

export const ingressGatewayPortAnalyzer: Analyzer = {
  name: 'gateway.IngressGatewayPortAnalyzer',
  analyze(ctx: AnalysisContext): void {
    for (const gw of ctx.all('Gateway', 'networking.istio.io')) {
      const selector = gatewaySelector(gw);
      const servicePorts = new Set<number>();
      const mapped = new Set<number>();
      let matches = 0;
      for (const pod of ctx.all('Pod')) {
        const podLabels = labelsOf(pod);
        if (!selects(selector, podLabels)) continue;
        matches++;
        for (const svc of ctx.all('Service')) {
          if (ns(svc) !== ns(pod)) continue;
          const svcSelector = stringMap(specOf(svc).selector);
          if (Object.keys(svcSelector).length === 0 || !selects(svcSelector, podLabels)) continue;
          for (const p of list(specOf(svc).ports)) {
            const port = obj(p) ?? {};
            if ((str(port.protocol) || 'TCP') !== 'TCP') continue;
            const tp =
              typeof port.targetPort === 'number'
                ? port.targetPort
                : /^\d+$/.test(str(port.targetPort))
                  ? Number(port.targetPort)
                  : 0;
            if (tp !== 0) {
              servicePorts.add(tp);
              mapped.add(num(port.port));
            } else servicePorts.add(num(port.port));
          }
        }
      }
      const sel = selectorString(selector);
      if (matches === 0) {
        ctx.report(
          Messages.ReferencedResourceNotFound,
          gw,
          `Referenced selector not found: "${sel}"`,
          'spec.selector',
        );
        continue;
      }
      list(specOf(gw).servers).forEach((s, i) => {
        const port = obj(obj(s)?.port);
        if (!port) return;
        const n = num(port.number);
        if (servicePorts.has(n) || mapped.has(n)) return;
        ctx.report(
          Messages.GatewayPortNotDefinedOnService,
          gw,
          `The gateway is listening on a target port (port ${n}) that is not defined in the Service associated with its workload instances (Pod selector ${sel}). If you need to access the gateway port through the gateway Service, it will not be available.`,
          `spec.servers[${i}].port`,
        );
      });
    }
  },
};

/** Istio's duplicate check for servers on the same port: a host (or wildcard overlap) with the same bind. */
function serversConflict(hosts: string[], bind: string, other: Map<string, string>): boolean {
  for (const h of hosts) {
    const hh = h.includes('/') ? h.slice(h.indexOf('/') + 1) : h;
    for (const [oh, ob] of other) {
      const ohh = oh.includes('/') ? oh.slice(oh.indexOf('/') + 1) : oh;
      if (ob === bind && (hh === ohh || hostsMatch(hh, ohh))) return true;
    }
  }
  return false;
}

export const conflictingGatewayAnalyzer: Analyzer = {
  name: 'gateway.ConflictingGatewayAnalyzer',
  analyze(ctx: AnalysisContext): void {
    const gws = ctx.all('Gateway', 'networking.istio.io');
    // selector~port -> gateway name -> host -> bind
    const table = new Map<string, Map<string, Map<string, string>>>();
    for (const gw of gws) {
      const sel = selectorString(gatewaySelector(gw));
      for (const s of list(specOf(gw).servers)) {
        const key = `${sel}~${num(obj(obj(s)?.port)?.number)}`;
        const byGw = table.get(key) ?? new Map<string, Map<string, string>>();
        table.set(key, byGw);
        const hb = new Map<string, string>();
        for (const h of strList(obj(s)?.hosts)) hb.set(h, str(obj(s)?.bind));
        byGw.set(fullName(gw), hb);
      }
    }
    const pods = ctx.all('Pod');
    for (const gw of gws) {
      const selector = gatewaySelector(gw);
      const sel = selectorString(selector);
      const hits = new Set<string>();
      for (const key of table.keys()) {
        const xSel = key.slice(0, key.lastIndexOf('~'));
        let matched = xSel === sel;
        if (!matched && (xSel.includes(sel) || sel.includes(xSel))) {
          const x: Record<string, string> = {};
          for (const pair of xSel.split(',')) {
            const kv = pair.split('=');
            if (kv.length === 2) x[kv[0]] = kv[1];
          }
          matched = pods.some((p) => selects(selector, labelsOf(p)) && selects(x, labelsOf(p)));
        }
        if (matched) hits.add(key);
      }
      if (sel !== '' && hits.size === 0) {
        ctx.report(
          Messages.ReferencedResourceNotFound,
          gw,
          `Referenced selector not found: "${sel}"`,
          'spec.selector',
        );
        continue;
      }
      list(specOf(gw).servers).forEach((s, i) => {
        const server = obj(s) ?? {};
        const port = String(num(obj(server.port)?.number));
        const conflicts: string[] = [];
        for (const key of hits) {
          if (key.slice(key.lastIndexOf('~') + 1) !== port) continue;
          for (const [name, hb] of table.get(key) ?? []) {
            if (name !== fullName(gw) && serversConflict(strList(server.hosts), str(server.bind), hb))
              conflicts.push(name);
          }
        }
        if (conflicts.length > 0) {
          conflicts.sort();
          ctx.report(
            Messages.ConflictingGateways,
            gw,
            `Conflict with gateways ${conflicts.join(',')} (workload selector ${sel}, port ${port}, hosts ${strList(server.hosts).join(',')}).`,
            `spec.servers[${i}]`,
          );
        }
      });
    }
  },
};

function decode(v: unknown): string {
  return typeof v === 'string' ? Buffer.from(v, 'base64').toString('utf8') : '';
}

function validCertificate(secret: Resource): boolean {
  const data = obj(secret.object.data) ?? {};
  const stringData = obj(secret.object.stringData) ?? {};
  const get = (k: string): string =>
    typeof stringData[k] === 'string' ? (stringData[k] as string) : decode(data[k]);
  let cert = '';
  if (get('tls.crt') && get('tls.key')) cert = get('tls.crt');
  else if (get('cert') && get('key')) cert = get('cert');
  else if (get('cacert')) cert = get('cacert');
  else if (get('ca.crt')) cert = get('ca.crt');
  if (cert === '') return false;
  try {
    const x = new X509Certificate(cert);
    const now = Date.now();
    return Date.parse(x.validFrom) <= now && now <= Date.parse(x.validTo);
  } catch {
    return false;
  }
}

export const secretAnalyzer: Analyzer = {
  name: 'gateway.SecretAnalyzer',
  analyze(ctx: AnalysisContext): void {
    for (const gw of ctx.all('Gateway', 'networking.istio.io')) {
      const selector = gatewaySelector(gw);
      const pod = ctx.all('Pod').find((p) => selects(selector, labelsOf(p)));
      if (!pod) {
        ctx.report(
          Messages.ReferencedResourceNotFound,
          gw,
          `Referenced selector not found: "${selectorString(selector)}"`,
          'spec.selector',
        );
        continue;
      }
      list(specOf(gw).servers).forEach((s, i) => {
        const cn = str(obj(obj(s)?.tls)?.credentialName);
        if (cn === '') return;
        const slash = cn.indexOf('/');
        const secret =
          slash >= 0
            ? ctx.find('Secret', cn.slice(0, slash), cn.slice(slash + 1))
            : ctx.find('Secret', ns(pod), cn);
        if (!secret) {
          ctx.report(
            Messages.ReferencedResourceNotFound,
            gw,
            `Referenced credentialName not found: "${cn}"`,
            `spec.servers[${i}].tls.credentialName`,
          );
        } else if (!validCertificate(secret)) {
          ctx.report(
            Messages.InvalidGatewayCredential,
            gw,
            `The credential referenced by the Gateway ${gw.name} in namespace ${ns(pod)} is invalid, which can cause the traffic not to work as expected.`,
            `spec.servers[${i}].tls.credentialName`,
          );
        }
      });
    }
  },
};

function sameCertificate(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  const ac = str(a.credentialName);
  const bc = str(b.credentialName);
  if (ac !== '' && bc !== '') return ac === bc;
  if (
    ac === '' &&
    bc === '' &&
    str(a.serverCertificate) !== '' &&
    str(a.serverCertificate) === str(b.serverCertificate)
  ) {
    return str(a.privateKey) !== '' && str(a.privateKey) === str(b.privateKey);
  }
  return false;
}

function selectorSubset(x: Record<string, string>, y: Record<string, string>): boolean {
  let count = 0;
  for (const [k, v] of Object.entries(x)) {
    if (k in y) {
      if (y[k] !== v) return false;
      count++;
    }
  }
  return count === Object.keys(x).length;
}

export const certificateAnalyzer: Analyzer = {
  name: 'gateway.CertificateAnalyzer',
  analyze(ctx: AnalysisContext): void {
    const gws = ctx.all('Gateway', 'networking.istio.io');
    for (const gw of gws) {
      const selector = gatewaySelector(gw);
      for (const other of gws) {
        if (other === gw) continue;
        if (Object.keys(selector).length > 0 && !selectorSubset(selector, gatewaySelector(other))) continue;
        for (const s of list(specOf(gw).servers)) {
          for (const o of list(specOf(other).servers)) {
            const a = obj(obj(s)?.tls);
            const b = obj(obj(o)?.tls);
            if (a && b && sameCertificate(a, b)) {
              ctx.report(
                Messages.GatewayDuplicateCertificate,
                gw,
                `Duplicate certificate in multiple gateways [${fullName(gw)} ${fullName(other)}] may cause 404s if clients re-use HTTP2 connections.`,
              );
            }
          }
        }
      }
    }
  },
};
