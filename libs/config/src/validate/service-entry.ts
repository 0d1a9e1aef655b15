// ServiceEntry: hosts, addresses, ports, resolution modes and their endpoints.
import type { Issues } from '../issues';
import type { Obj } from '../schema/types';
import { isSet, keys, list, num, obj, str, strList } from './common/access';
import type { ResourceContext } from './common/context';
import { labelProblems } from './common/labels';
import {
  checkFQDN,
  checkPartialWildcard,
  checkWildcardDomain,
  isDNS1123Label,
  isWildcarded,
} from './common/names';
import { checkIPSubnet, checkPort, isIPAddress } from './common/net';
import { checkProtocol, isHTTP, isTCP, isTLS, parseProtocol } from './common/protocol';
import { checkAlphaWorkloadSelector, checkExportTo } from './common/selectors';
import { checkWorkloadEntry } from './workload-entry';

/** Whether Istio allocates addresses for this ServiceEntry (mesh config DNS auto-allocation, opt-out label). */
export function autoAllocates(labels: Readonly<Record<string, string>>): boolean {
  return labels['networking.istio.io/enable-autoallocate-ip'] !== 'false';
}

export function validateServiceEntry(spec: Obj, ctx: ResourceContext, issues: Issues): void {
  if (checkAlphaWorkloadSelector(spec.workloadSelector, issues, 'workloadSelector')) {
    issues.warn(
      'service entry: workload selector specified without labels, will be applied to all services in namespace',
      'workloadSelector',
    );
  }
  const endpoints = list(spec.endpoints);
  const resolution = str(spec.resolution) || 'NONE';
  if (isSet(spec.workloadSelector) && isSet(spec.endpoints)) {
    issues.error('only one of WorkloadSelector or Endpoints is allowed in Service Entry');
  }
  const hosts = strList(spec.hosts);
  if (hosts.length === 0) issues.error('service entry must have at least one host', 'hosts');
  hosts.forEach((h, i) => {
    if (h === '*') issues.error(`invalid host ${h}`, 'hosts', i);
    else {
      const e = checkWildcardDomain(h);
      if (e) issues.error(e, 'hosts', i);
      if (resolution !== 'DYNAMIC_DNS') {
        const w = checkPartialWildcard(h);
        if (w) issues.warn(w, 'hosts', i);
      }
    }
  });
  const addresses = strList(spec.addresses);
  let cidr = false;
  addresses.forEach((a, i) => {
    cidr = cidr || a.includes('/');
    const e = checkIPSubnet(a);
    if (e) issues.error(e, 'addresses', i);
  });
  if (cidr && resolution !== 'NONE' && resolution !== 'STATIC') {
    issues.error('CIDR addresses are allowed only for NONE/STATIC resolution types', 'addresses');
  }
  const auto = autoAllocates(ctx.labels);
  const portNames = new Set<string>();
  const portNumbers = new Set<number>();
  const ports = list(spec.ports);
  ports.forEach((pv, i) => {
    issues.push('ports');
    issues.push(i);
    const p = obj(pv);
    if (!p) issues.error('service entry port may not be null');
    else {
      const name = str(p.name);
      const number = num(p.number);
      if (portNames.has(name)) issues.error(`service entry port name "${name}" already defined`, 'name');
      portNames.add(name);
      if (portNumbers.has(number)) issues.error(`service entry port ${number} already defined`, 'number');
      portNumbers.add(number);
      if (num(p.targetPort) !== 0) {
        const e = checkPort(num(p.targetPort));
        if (e) issues.error(e, 'targetPort');
      }
      if (addresses.length === 0 && !auto && (str(p.protocol) === '' || str(p.protocol) === 'TCP')) {
        issues.warn(
          'addresses are required for ports serving TCP (or unset) protocol when IP Autoallocation is not enabled',
        );
      }
      if (!isDNS1123Label(name)) issues.error(`invalid port name: ${name}`, 'name');
      const pe = checkProtocol(str(p.protocol));
      if (pe) issues.error(pe, 'protocol');
      const ne = checkPort(number);
      if (ne) issues.error(ne, 'number');
    }
    issues.pop();
    issues.pop();
  });
  switch (resolution) {
    case 'NONE':
      if (endpoints.length !== 0)
        issues.error('no endpoints should be provided for resolution type none', 'endpoints');
      if (isSet(spec.workloadSelector))
        issues.warn('workloadSelector should not be set when resolution mode is NONE', 'workloadSelector');
      break;
    case 'STATIC':
      endpoints.forEach((e, i) => {
        issues.push('endpoints');
        issues.push(i);
        const ep = obj(e);
        if (!ep) issues.error('endpoint cannot be nil');
        else checkWorkloadEntry(ep, issues, portNames, false);
        issues.pop();
        issues.pop();
      });
      break;
    case 'DNS':
    case 'DNS_ROUND_ROBIN':
      if (endpoints.length === 0) {
        for (const h of hosts) {
          const e = checkFQDN(h);
          if (e) {
            issues.error(
              `hosts must be FQDN or contain only prefix wildcards if no endpoints are provided for resolution mode ${resolution}, ${e}`,
              'hosts',
            );
            break;
          }
        }
      }
      if (resolution === 'DNS_ROUND_ROBIN' && endpoints.length > 1) {
        issues.error(`there must only be 0 or 1 endpoint for resolution mode ${resolution}`, 'endpoints');
      }
      endpoints.forEach((e, i) => {
        issues.push('endpoints');
        issues.push(i);
        const ep = obj(e);
        if (!ep) issues.error('endpoint cannot be nil');
        else {
          const addr = str(ep.address);
          if (!isIPAddress(addr) && checkFQDN(addr))
            issues.error(`endpoint address "${addr}" is not a valid FQDN or an IP address`, 'address');
          for (const p of labelProblems(ep.labels)) issues.error(p, 'labels');
          const eports = obj(ep.ports) ?? {};
          for (const name of keys(eports)) {
            const port = num(eports[name]);
            if (!portNames.has(name))
              issues.error(`endpoint port ${port} is not defined by the service entry`, 'ports');
            if (!isDNS1123Label(name)) issues.error(`invalid port name: ${name}`, 'ports');
            const pe = checkPort(port);
            if (pe) issues.error(pe, 'ports');
          }
        }
        issues.pop();
        issues.pop();
      });
      if (
        addresses.length > 0 &&
        hosts.length > 1 &&
        ports.some((p) => isTCP(parseProtocol(obj(p)?.protocol)))
      ) {
        issues.warn(
          'service entry can not have more than one host specified simultaneously with address and tcp port',
        );
      }
      break;
    case 'DYNAMIC_DNS': {
      if (hosts.length === 0)
        issues.error(
          `at least one wildcard host must be provided for resolution type ${resolution}`,
          'hosts',
        );
      for (const h of hosts)
        if (!isWildcarded(h))
          issues.error(`host must be wildcarded for resolution mode ${resolution}`, 'hosts');
      if (addresses.length !== 0) {
        issues.error(
          `addresses cannot be set for resolution type ${resolution}. HTTP route domains will only be generatedfrom the hosts field values`,
          'addresses',
        );
      }
      if (endpoints.length !== 0) {
        issues.error(
          `endpoints cannot be set for resolution type ${resolution}. Destination IP address determined from hostsfield values`,
          'endpoints',
        );
      }
      for (const p of ports) {
        const proto = parseProtocol(obj(p)?.protocol);
        if (proto !== 'HTTP' && proto !== 'TLS' && proto !== 'GRPC' && proto !== 'HTTP2') {
          issues.error(
            `only HTTP, TLS, GRPC, and HTTP2 protocols are supported for resolution type ${resolution}`,
            'ports',
          );
        }
      }
      const location = str(spec.location) || 'MESH_EXTERNAL';
      const waypoint = ctx.labels['istio.io/use-waypoint'];
      if (location === 'MESH_INTERNAL' && waypoint && waypoint.toLowerCase() !== 'none') {
        issues.error(
          `location MESH_INTERNAL with resolution type ${resolution} is not supported when using waypoints`,
          'location',
        );
      }
      break;
    }
    default:
      issues.error(`unsupported resolution type ${resolution}`, 'resolution');
  }
  if (resolution !== 'NONE' && hosts.length > 1) {
    for (const p of ports) {
      const proto = parseProtocol(obj(p)?.protocol);
      if (!isHTTP(proto) && !isTLS(proto)) {
        issues.error('multiple hosts provided with non-HTTP, non-TLS ports', 'ports');
        break;
      }
    }
  }
  checkExportTo(ctx.namespace, spec.exportTo, issues, true);
}
