// Gateway: servers, hosts, ports, binds and TLS settings.
import type { Issues } from '../issues';
import type { Obj } from '../schema/types';
import { list, num, obj, str, strList } from './common/access';
import type { ResourceContext } from './common/context';
import { checkUnixAddress } from './common/unix';
import { checkPartialWildcard, checkWildcardDomain, isDNS1123Label } from './common/names';
import { checkIPAddress, checkPort, isIPAddress } from './common/net';
import { isHTTP, isTLS, parseProtocol } from './common/protocol';

const VALID_CIPHERS = new Set([
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'ECDHE-ECDSA-AES128-SHA',
  'ECDHE-RSA-AES128-SHA',
  'ECDHE-ECDSA-AES256-SHA',
  'ECDHE-RSA-AES256-SHA',
  'AES128-GCM-SHA256',
  'AES256-GCM-SHA384',
  'AES128-SHA',
  'AES256-SHA',
  'DES-CBC3-SHA',
]);

function isValidCipher(cs: string): boolean {
  if (cs === '' || cs === 'ALL') return true;
  if (!/^[\p{L}\p{N}]/u.test(cs)) return true;
  return VALID_CIPHERS.has(cs);
}

/** The host part of `namespace/host` entries in Gateways and Sidecars. */
function checkHostPart(host: string, isGateway: boolean): string[] {
  const out: string[] = [];
  if (host !== '*' && !host.includes('.')) out.push('short names (non FQDN) are not allowed');
  const e = checkWildcardDomain(host);
  if (e) {
    if (!isGateway) out.push(e);
    if (!isIPAddress(host)) out.push(e);
  }
  const pw = checkPartialWildcard(host);
  if (pw) out.push(pw);
  return out;
}

/** `namespace/dnsName` hosts (Gateway servers and Sidecar egress listeners). */
export function namespaceSlashHostProblems(hostname: string, isGateway: boolean): string[] {
  const slash = hostname.indexOf('/');
  if (slash < 0) {
    if (isGateway) return checkHostPart(hostname, true);
    return ['host must be of form namespace/dnsName'];
  }
  const ns = hostname.slice(0, slash);
  const host = hostname.slice(slash + 1);
  const out: string[] = [];
  if (ns === '' || host === '') out.push('config namespace and dnsName in host entry cannot be empty');
  if (!isGateway) {
    const n = ns.startsWith('~') ? ns.slice(1) : ns;
    if (n !== '' && n !== '*' && n !== '.' && !isDNS1123Label(n))
      out.push(`invalid namespace value "${ns}" in sidecar`);
  } else if (ns !== '*' && ns !== '.' && !isDNS1123Label(ns)) {
    out.push(`invalid namespace value "${ns}" in gateway`);
  }
  out.push(...checkHostPart(host, isGateway));
  return out;
}

/** ServerTLSSettings checks shared by Gateway servers and Sidecar ingress listeners. */
export function checkServerTLS(tls: Obj, issues: Issues): void {
  issues.push('tls');
  try {
    const mode = str(tls.mode) || 'PASSTHROUGH';
    const ciphers = strList(tls.cipherSuites);
    const min = str(tls.minProtocolVersion);
    if ((min === 'TLSV1_0' || min === 'TLSV1_1') && ciphers.length === 0) {
      issues.warn(
        'TLS version below TLSV1_2 require setting compatible ciphers as by default they no longer include compatible ciphers.',
      );
    }
    const invalid = new Set<string>();
    const seen = new Set<string>();
    const dup = new Set<string>();
    for (const c of ciphers) {
      if (!isValidCipher(c)) invalid.add(c);
      else if (seen.has(c)) dup.add(c);
      else seen.add(c);
    }
    if (invalid.size > 0)
      issues.warn(`ignoring invalid cipher suites: [${[...invalid].sort().join(' ')}]`, 'cipherSuites');
    if (dup.size > 0)
      issues.warn(`ignoring duplicate cipher suites: [${[...dup].sort().join(' ')}]`, 'cipherSuites');
    const serverCert = str(tls.serverCertificate);
    const key = str(tls.privateKey);
    const ca = str(tls.caCertificates);
    const cred = str(tls.credentialName);
    const creds = list(tls.credentialNames);
    const certs = list(tls.tlsCertificates);
    if (mode === 'ISTIO_MUTUAL') {
      if (serverCert) issues.error('ISTIO_MUTUAL TLS cannot have associated server certificate');
      if (key) issues.error('ISTIO_MUTUAL TLS cannot have associated private key');
      if (ca) issues.error('ISTIO_MUTUAL TLS cannot have associated CA bundle');
      if (certs.length > 0) issues.error('ISTIO_MUTUAL TLS cannot have associated tlsCertificates');
      if (cred) issues.error('ISTIO_MUTUAL TLS cannot have associated credentialName');
      if (creds.length > 0) issues.error('ISTIO_MUTUAL TLS cannot have associated credentialNames');
      return;
    }
    if (mode === 'PASSTHROUGH' || mode === 'AUTO_PASSTHROUGH') {
      if (str(tls.caCrl) || serverCert || key || ca || certs.length > 0 || cred || creds.length > 0) {
        issues.warn(`${mode} mode does not use certificates, they will be ignored`);
      }
    }
    let sources = 0;
    if (serverCert && key) sources++;
    if (cred) sources++;
    if (creds.length > 0) sources++;
    if (certs.length > 0) sources++;
    if (sources > 1) {
      issues.error(
        'only one of credential_name, credential_names, server_certificate/private_key, tls_certificates should be specified',
      );
    }
    const simpleOrMutual = mode === 'SIMPLE' || mode === 'MUTUAL' || mode === 'OPTIONAL_MUTUAL';
    if (simpleOrMutual && (cred || creds.length > 0)) return;
    if (simpleOrMutual) {
      const prefix = mode === 'SIMPLE' ? 'SIMPLE TLS' : 'MUTUAL TLS';
      if (mode !== 'SIMPLE' && ca === '') issues.error(`${prefix} requires a client CA bundle`);
      if (certs.length > 2) issues.warn(`${prefix} can support up to 2 server certificates`);
      const toCheck =
        certs.length > 0
          ? certs.map((c) => obj(c) ?? {})
          : [{ serverCertificate: serverCert, privateKey: key }];
      for (const c of toCheck) {
        if (str(c.serverCertificate) === '') issues.error(`${prefix} requires a server certificate`);
        if (str(c.privateKey) === '') issues.error(`${prefix} requires a private key`);
      }
    }
    if (str(tls.caCrl) !== '') {
      if (cred)
        issues.error('CRL is not supported with credentialName. CRL has to be specified in the credential');
      if (mode === 'SIMPLE') issues.error('CRL is not supported with SIMPLE TLS');
    }
  } finally {
    issues.pop();
  }
}

function checkServer(server: Obj, issues: Issues): void {
  const hosts = strList(server.hosts);
  if (hosts.length === 0) issues.error('server config must contain at least one host', 'hosts');
  hosts.forEach((h, i) => {
    for (const p of namespaceSlashHostProblems(h, true)) issues.error(p, 'hosts', i);
  });
  const bind = str(server.bind);
  const port = obj(server.port);
  let portOK = true;
  if (!port) {
    issues.error('port is required', 'port');
    portOK = false;
  } else {
    issues.push('port');
    if (parseProtocol(port.protocol) === 'Unsupported') {
      issues.error(
        `invalid protocol "${str(port.protocol)}", supported protocols are HTTP, HTTP2, GRPC, GRPC-WEB, MONGO, REDIS, MYSQL, TCP`,
        'protocol',
      );
      portOK = false;
    }
    if (num(port.number) > 0 || !bind.startsWith('unix://')) {
      const e = checkPort(num(port.number));
      if (e) {
        issues.error(e, 'number');
        portOK = false;
      }
    }
    if (num(port.targetPort) > 0) {
      issues.error('targetPort has no impact on Gateways', 'targetPort');
      portOK = false;
    }
    if (str(port.name) === '') {
      issues.error(
        `port name must be set: number:${num(port.number)} protocol:"${str(port.protocol)}"`,
        'name',
      );
      portOK = false;
    }
    issues.pop();
  }
  if (bind.startsWith('unix://')) {
    const e = checkUnixAddress(bind.slice('unix://'.length));
    if (e) issues.error(e, 'bind');
    if (port && num(port.number) !== 0) issues.error('port number must be 0 for unix domain socket', 'bind');
  } else if (bind !== '') {
    const e = checkIPAddress(bind);
    if (e) issues.error(e, 'bind');
  }
  const tls = obj(server.tls);
  if (tls) checkServerTLS(tls, issues);
  if (portOK && port) {
    const p = parseProtocol(port.protocol);
    if (isTLS(p) && !tls) issues.error('server must have TLS settings for HTTPS/TLS protocols', 'tls');
    else if (!isTLS(p) && tls) {
      if (isHTTP(p)) {
        const passThrough = ['', 'PASSTHROUGH', 'AUTO_PASSTHROUGH'].includes(str(tls.mode));
        if (!passThrough || str(tls.caCertificates) || str(tls.privateKey) || str(tls.serverCertificate)) {
          issues.error('server cannot have TLS settings for plain text HTTP ports', 'tls');
        }
      } else issues.error('server cannot have TLS settings for non HTTPS/TLS ports', 'tls');
    }
  }
}

export function validateGateway(spec: Obj, ctx: ResourceContext, issues: Issues): void {
  if (!isDNS1123Label(ctx.name)) issues.errorAt('metadata.name', `invalid gateway name: "${ctx.name}"`);
  const servers = list(spec.servers);
  if (servers.length === 0) issues.error('gateway must have at least one server', 'servers');
  const portNames = new Set<string>();
  servers.forEach((s, i) => {
    issues.push('servers');
    issues.push(i);
    const server = obj(s);
    if (!server) issues.error('server may not be nil');
    else {
      checkServer(server, issues);
      const port = obj(server.port);
      if (port) {
        const name = str(port.name);
        if (portNames.has(name))
          issues.error(`port names in servers must be unique: duplicate name ${name}`, 'port', 'name');
        portNames.add(name);
        if (!isHTTP(parseProtocol(port.protocol)) && obj(server.tls)?.httpsRedirect === true) {
          issues.warn('tls.httpsRedirect should only be used with http servers', 'tls');
        }
      }
    }
    issues.pop();
    issues.pop();
  });
}
