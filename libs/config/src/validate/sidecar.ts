// Sidecar: ingress and egress listeners, egress hosts in `namespace/host` form, outbound traffic policy.
import type { Issues } from '../issues';
import type { Obj } from '../schema/types';
import { isSet, list, num, obj, str, strList } from './common/access';
import type { ResourceContext } from './common/context';
import { checkFQDN, isDNS1123Label } from './common/names';
import { checkIPAddress, checkPort } from './common/net';
import { checkProtocol, isHTTP, isTLS, parseProtocol } from './common/protocol';
import { checkAlphaWorkloadSelector } from './common/selectors';
import { checkConnectionPool } from './common/traffic-policy';
import { checkUnixAddress } from './common/unix';
import { checkServerTLS, namespaceSlashHostProblems } from './gateway';

function checkPortAndBind(
  port: Obj,
  bind: string,
  issues: Issues,
  egress: boolean,
  captureMode: string,
): void {
  const name = str(port.name);
  if (name !== '' && !isDNS1123Label(name)) issues.error(`invalid port name: ${name}`, 'port', 'name');
  const pe = checkProtocol(str(port.protocol));
  if (pe) issues.error(pe, 'port', 'protocol');
  if (egress && num(port.number) === 0) {
    if (!bind.startsWith('unix://'))
      issues.error('sidecar: ports with 0 value must have a unix domain socket bind address', 'bind');
    else {
      const e = checkUnixAddress(bind.slice('unix://'.length));
      if (e) issues.error(e, 'bind');
    }
    if (captureMode !== '' && captureMode !== 'DEFAULT' && captureMode !== 'NONE') {
      issues.error(
        'sidecar: captureMode must be DEFAULT/NONE for unix domain socket listeners',
        'captureMode',
      );
    }
    return;
  }
  const ne = checkPort(num(port.number));
  if (ne) issues.error(ne, 'port', 'number');
  if (bind !== '') {
    const e = checkIPAddress(bind);
    if (e) issues.error(e, 'bind');
  }
}

function checkDefaultEndpoint(ep: string, issues: Issues): void {
  if (ep.startsWith('unix://')) {
    const e = checkUnixAddress(ep.slice('unix://'.length));
    if (e) issues.error(e, 'defaultEndpoint');
    return;
  }
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):([^:]*)$/.exec(ep);
  if (!m) {
    issues.error(`address ${ep}: missing port in address`, 'defaultEndpoint');
    return;
  }
  const host = m[1] ?? m[2] ?? '';
  if (host !== '' && !['127.0.0.1', '0.0.0.0', '::1', '::'].includes(host)) {
    issues.error(
      'sidecar: defaultEndpoint must be of form 127.0.0.1:<port>,0.0.0.0:<port>,[::1]:port,[::]:port,unix://filepath or unset',
      'defaultEndpoint',
    );
  }
  if (!/^[+-]?\d+$/.test(m[3]))
    issues.error(`sidecar: defaultEndpoint port (${m[3]}) is not a number`, 'defaultEndpoint');
  else {
    const e = checkPort(Number(m[3]));
    if (e) issues.error(e, 'defaultEndpoint');
  }
}

export function validateSidecar(spec: Obj, ctx: ResourceContext, issues: Issues): void {
  const before = issues.errors.length;
  const emptySelector = checkAlphaWorkloadSelector(spec.workloadSelector, issues, 'workloadSelector');
  if (issues.errors.length > before) return;
  if (emptySelector) {
    issues.warn(
      'sidecar: workload selector specified without labels, will be applied to all services in namespace',
      'workloadSelector',
    );
  }
  const ingress = list(spec.ingress);
  const egress = list(spec.egress);
  if (
    ingress.length === 0 &&
    egress.length === 0 &&
    !isSet(spec.outboundTrafficPolicy) &&
    !isSet(spec.inboundConnectionPool)
  ) {
    issues.error('sidecar: empty configuration provided');
    return;
  }
  let ports = new Set<number>();
  ingress.forEach((iv, i) => {
    issues.push('ingress');
    issues.push(i);
    const ing = obj(iv);
    const port = obj(ing?.port);
    if (!ing) issues.error('sidecar: ingress may not be null');
    else if (!port) issues.error('sidecar: port is required for ingress listeners', 'port');
    else {
      if (num(port.targetPort) > 0)
        issues.error('targetPort has no impact on Sidecars', 'port', 'targetPort');
      checkPortAndBind(port, str(ing.bind), issues, false, '');
      if (ports.has(num(port.number)))
        issues.error('sidecar: ports on IP bound listeners must be unique', 'port');
      ports.add(num(port.number));
      if (str(ing.defaultEndpoint) !== '') checkDefaultEndpoint(str(ing.defaultEndpoint), issues);
      const tls = obj(ing.tls);
      if (tls) {
        if (list(tls.subjectAltNames).length > 0)
          issues.error('sidecar: subjectAltNames is not supported in ingress tls', 'tls');
        if (tls.httpsRedirect === true) issues.error('sidecar: httpsRedirect is not supported', 'tls');
        if (str(tls.credentialName) !== '')
          issues.error('sidecar: credentialName is not currently supported', 'tls');
        if (list(tls.credentialNames).length > 0)
          issues.error('sidecar: credentialNames is not currently supported', 'tls');
        if (list(tls.tlsCertificates).length > 0)
          issues.error('sidecar: tls_certificates is not currently supported', 'tls');
        const mode = str(tls.mode);
        if (mode === 'ISTIO_MUTUAL' || mode === 'AUTO_PASSTHROUGH') {
          issues.error(`configuration is invalid: cannot set mode to ${mode} in sidecar ingress tls`, 'tls');
        }
        if (!isTLS(parseProtocol(port.protocol)))
          issues.error('server cannot have TLS settings for non HTTPS/TLS ports', 'tls');
        checkServerTLS(tls, issues);
      }
      if (isSet(ing.connectionPool)) {
        issues.push('connectionPool');
        checkConnectionPool(ing.connectionPool, issues);
        issues.pop();
        if (obj(obj(ing.connectionPool)?.http) && !isHTTP(parseProtocol(port.protocol))) {
          issues.warn(
            `sidecar: HTTP connection pool settings are configured for port ${num(port.number)} ("${str(port.name)}") but its protocol is not HTTP (${str(port.protocol)}); only TCP settings will apply`,
            'connectionPool',
          );
        }
      }
    }
    issues.pop();
    issues.pop();
  });
  if (isSet(spec.inboundConnectionPool)) {
    issues.push('inboundConnectionPool');
    checkConnectionPool(spec.inboundConnectionPool, issues);
    issues.pop();
  }
  ports = new Set<number>();
  const uds = new Set<string>();
  let catchAll = false;
  egress.forEach((ev, index) => {
    issues.push('egress');
    issues.push(index);
    try {
      const eg = obj(ev);
      if (!eg) {
        issues.error('egress listener may not be null');
        return;
      }
      const port = obj(eg.port);
      if (!port) {
        if (!catchAll) {
          if (index === egress.length - 1) catchAll = true;
          else
            issues.error(
              'sidecar: the egress listener with empty port should be the last listener in the list',
            );
        } else {
          issues.error('sidecar: egress can have only one listener with empty port');
          return;
        }
      } else {
        if (num(port.targetPort) > 0)
          issues.error('targetPort has no impact on Sidecars', 'port', 'targetPort');
        const bind = str(eg.bind);
        checkPortAndBind(port, bind, issues, true, str(eg.captureMode));
        if (num(port.number) === 0) {
          if (uds.has(bind))
            issues.error('sidecar: unix domain socket values for listeners must be unique', 'bind');
          uds.add(bind);
        } else {
          if (ports.has(num(port.number)))
            issues.error('sidecar: ports on IP bound listeners must be unique', 'port');
          ports.add(num(port.number));
        }
      }
      const hosts = strList(eg.hosts);
      if (hosts.length === 0) {
        issues.error('sidecar: egress listener must contain at least one host', 'hosts');
        return;
      }
      const bySpace = new Map<string, Set<string>>();
      hosts.forEach((h, i) => {
        const slash = h.indexOf('/');
        if (slash >= 0 && !h.startsWith('~')) {
          let ns = h.slice(0, slash);
          const svc = h.slice(slash + 1);
          if (ns === '.') ns = ctx.namespace;
          const set = bySpace.get(ns) ?? new Set<string>();
          bySpace.set(ns, set);
          if (svc !== '*' ? set.has(svc) || set.has('*') : set.size !== 0)
            issues.warn(`duplicated egress host: ${h}`, 'hosts', i);
          set.add(svc);
        }
        for (const p of namespaceSlashHostProblems(h, false)) issues.error(p, 'hosts', i);
      });
      if (bySpace.get('*')?.has('*') && bySpace.size !== 1) {
        issues.warn('`*/*` host select all resources, no other hosts can be added', 'hosts');
      }
    } finally {
      issues.pop();
      issues.pop();
    }
  });
  const otp = obj(spec.outboundTrafficPolicy);
  if (otp) {
    issues.push('outboundTrafficPolicy');
    const mode = str(otp.mode) || 'REGISTRY_ONLY';
    const proxy = obj(otp.egressProxy);
    if (mode === 'ALLOW_ANY_DYNAMIC_DNS') {
      issues.error(
        'sidecar: ALLOW_ANY_DYNAMIC_DNS mode is only supported in MeshConfig, not in Sidecar resource',
        'mode',
      );
    } else if (proxy) {
      if (mode !== 'ALLOW_ANY')
        issues.error(
          'sidecar: egress_proxy must be set only with ALLOW_ANY outbound_traffic_policy mode',
          'egressProxy',
        );
      else {
        const fe = checkFQDN(str(proxy.host));
        if (fe) issues.error(fe, 'egressProxy', 'host');
        const port = obj(proxy.port);
        if (!port) issues.error('sidecar: egress_proxy port must be non-nil', 'egressProxy', 'port');
        else {
          const pe = checkPort(num(port.number));
          if (pe) issues.error(pe, 'egressProxy', 'port', 'number');
          const subset = str(proxy.subset);
          if (subset !== '' && !isDNS1123Label(subset))
            issues.error(`subset name is invalid: ${subset}`, 'egressProxy', 'subset');
        }
      }
    }
    issues.pop();
  }
}
