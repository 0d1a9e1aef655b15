// WorkloadEntry and WorkloadGroup (and ServiceEntry endpoints, which share the WorkloadEntry shape).
import type { Issues } from '../issues';
import type { Obj } from '../schema/types';
import { keys, list, num, obj, str } from './common/access';
import type { ResourceContext } from './common/context';
import { checkProbeHeaderName } from './common/headers';
import { labelProblems } from './common/labels';
import { checkFQDN, isDNS1123Label } from './common/names';
import { checkPort, isIPAddress } from './common/net';
import { checkUnixAddress } from './common/unix';

/**
 * Checks one workload entry. `servicePorts` is the ServiceEntry's port names when the entry is an endpoint of one;
 * `allowFQDN` accepts DNS names as addresses.
 */
export function checkWorkloadEntry(
  we: Obj,
  issues: Issues,
  servicePorts: Set<string> | undefined,
  allowFQDN: boolean,
): void {
  const addr = str(we.address);
  let unix = false;
  if (addr === '') {
    if (str(we.network) === '') {
      issues.error('address is required', 'address');
      return;
    }
    issues.warn(`address is unset with network "${str(we.network)}"`, 'address');
  }
  if (addr.startsWith('unix://')) {
    unix = true;
    const e = checkUnixAddress(addr.slice('unix://'.length));
    if (e) issues.error(e, 'address');
    if (keys(we.ports).length !== 0) issues.error(`unix endpoint ${addr} must not include ports`, 'ports');
  } else if (addr !== '' && !isIPAddress(addr)) {
    if (!allowFQDN) issues.error(`endpoint address "${addr}" is not a valid IP address`, 'address');
    else if (checkFQDN(addr))
      issues.error(`endpoint address "${addr}" is not a valid FQDN or an IP address`, 'address');
  }
  const ports = obj(we.ports) ?? {};
  for (const name of keys(ports)) {
    const port = num(ports[name]);
    if (servicePorts && !servicePorts.has(name))
      issues.error(`endpoint port ${port} is not defined by the service entry`, 'ports');
    if (!isDNS1123Label(name)) issues.error(`invalid port name: ${name}`, 'ports');
    const pe = checkPort(port);
    if (pe) issues.error(pe, 'ports');
  }
  for (const p of labelProblems(we.labels)) issues.error(p, 'labels');
  if (unix && servicePorts && servicePorts.size !== 1)
    issues.error('exactly 1 service port required for unix endpoints');
}

export function validateWorkloadEntry(spec: Obj, _ctx: ResourceContext, issues: Issues): void {
  checkWorkloadEntry(spec, issues, undefined, true);
}

export function validateWorkloadGroup(spec: Obj, _ctx: ResourceContext, issues: Issues): void {
  if (!obj(spec.template)) {
    issues.error('template is required', 'template');
    return;
  }
  const md = obj(spec.metadata);
  if (md) {
    const problems = labelProblems(md.labels);
    if (problems.length > 0) {
      issues.error(`invalid labels: ${problems.join('; ')}`, 'metadata', 'labels');
      return;
    }
  }
  const probe = obj(spec.probe);
  if (!probe) return;
  issues.push('probe');
  for (const f of [
    'periodSeconds',
    'initialDelaySeconds',
    'timeoutSeconds',
    'successThreshold',
    'failureThreshold',
  ]) {
    if (num(probe[f]) < 0) issues.error(`${f} must be non-negative`, f);
  }
  const http = obj(probe.httpGet);
  const tcp = obj(probe.tcpSocket);
  const exec = obj(probe.exec);
  if (http) {
    const pe = checkPort(num(http.port));
    if (pe) issues.error(pe, 'httpGet', 'port');
    const scheme = str(http.scheme);
    if (scheme !== '' && scheme !== 'HTTPS' && scheme !== 'HTTP')
      issues.error('httpGet.scheme must be one of "HTTPS", "HTTP"', 'httpGet', 'scheme');
    list(http.httpHeaders).forEach((h, i) => {
      const header = obj(h);
      if (!header) issues.error('invalid nil header', 'httpGet', 'httpHeaders', i);
      else {
        const e = checkProbeHeaderName(str(header.name));
        if (e) issues.error(e, 'httpGet', 'httpHeaders', i, 'name');
      }
    });
  } else if (tcp) {
    const pe = checkPort(num(tcp.port));
    if (pe) issues.error(pe, 'tcpSocket', 'port');
  } else if (exec) {
    if (list(exec.command).length === 0) issues.error('exec.command is required', 'exec', 'command');
  } else if (!obj(probe.grpc)) {
    issues.error('unknown health check method <nil>');
  }
  issues.pop();
}
