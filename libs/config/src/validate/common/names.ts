// Host names, DNS-1123 labels and wildcards, with the rules Istio applies to them.

const DNS1123_LABEL = /^[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?$/;
const WILDCARD_LABEL = /^(?:\*|(?:\*|\*-)?[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?)$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$/;
const ALL_DIGITS = /^[+-]?\d+$/;

export function isDNS1123Label(value: string): boolean {
  return value.length <= 63 && DNS1123_LABEL.test(value);
}

/** A DNS label that may start with `*` or `*-` (only meaningful as the first label of a host). */
export function isWildcardDNS1123Label(value: string): boolean {
  return value.length <= 63 && WILDCARD_LABEL.test(value);
}

/** Kubernetes object names: lower-case DNS-1123 subdomain, at most 253 characters. */
export function isDNS1123Subdomain(value: string): boolean {
  return value.length <= 253 && DNS1123_SUBDOMAIN.test(value);
}

function preconditions(name: string): string | undefined {
  if (name.length > 255) return `domain name "${name}" too long (max 255)`;
  if (name.length === 0) return 'empty domain name not allowed';
  return undefined;
}

/**
 * A single pass over the common case — letters, digits and inner hyphens in labels of 1–63 characters, a top-level
 * label that is not all digits, an optional trailing dot. Anything else goes to the slow path, which finds the
 * offending label for the message. Hosts are checked on every resource, so this shows in validation throughput.
 */
function plainDNS1123Labels(domain: string): boolean {
  let start = 0;
  let digitsOnly = true;
  for (let i = 0; i <= domain.length; i++) {
    const c = i < domain.length ? domain.charCodeAt(i) : 46; // end of input closes the last label like a dot
    if (c === 46 /* . */) {
      const length = i - start;
      if (length === 0) return i === domain.length && i > 0; // only a trailing dot may leave an empty label
      if (length > 63 || domain.charCodeAt(i - 1) === 45 /* - */) return false;
      if (i === domain.length && digitsOnly) return false;
      start = i + 1;
      digitsOnly = true;
    } else if (c >= 48 && c <= 57) {
      // digit
    } else if ((c >= 97 && c <= 122) || (c >= 65 && c <= 90)) {
      digitsOnly = false;
    } else if (c === 45 && i !== start) {
      digitsOnly = false;
    } else {
      return false;
    }
  }
  return true;
}

/** Every label of the domain is a DNS-1123 label; the top-level domain is not all digits; a trailing dot is allowed. */
export function checkDNS1123Labels(domain: string): string | undefined {
  if (plainDNS1123Labels(domain)) return undefined;
  const parts = domain.split('.');
  const tld = parts[parts.length - 1];
  if (ALL_DIGITS.test(tld))
    return `domain name "${domain}" invalid (top level domain "${tld}" cannot be all-numeric)`;
  for (let i = 0; i < parts.length; i++) {
    if (i === parts.length - 1 && parts[i] === '') return undefined;
    if (!isDNS1123Label(parts[i])) return `domain name "${domain}" invalid (label "${parts[i]}" invalid)`;
  }
  return undefined;
}

/** A fully qualified domain name (no wildcards). Returns the problem, or undefined when valid. */
export function checkFQDN(fqdn: string): string | undefined {
  return preconditions(fqdn) ?? checkDNS1123Labels(fqdn);
}

/** A domain name that may carry a wildcard in its first label (`*`, `*.example.com`, `*x.example.com`). */
export function checkWildcardDomain(domain: string): string | undefined {
  // The common cases in one pass: a plain domain, or `*.` before one. Anything else takes the path below.
  if (domain.length <= 255) {
    if (plainDNS1123Labels(domain)) return undefined;
    if (domain.startsWith('*.') && plainDNS1123Labels(domain.slice(2))) return undefined;
  }
  const pre = preconditions(domain);
  if (pre) return pre;
  const dot = domain.indexOf('.');
  const first = dot < 0 ? domain : domain.slice(0, dot);
  if (!isWildcardDNS1123Label(first)) return `domain name "${domain}" invalid (label "${first}" invalid)`;
  if (dot >= 0) return checkDNS1123Labels(domain.slice(dot + 1));
  return undefined;
}

/** A wildcard is only accepted as `*` alone or as a `*.` prefix. */
export function checkPartialWildcard(host: string): string | undefined {
  if (host.includes('*') && host.length !== 1 && !host.startsWith('*.'))
    return `partial wildcard "${host}" not allowed`;
  return undefined;
}

const OUTBOUND_SNI_FORMAT = 'outbound_.<PORT>_._.<HOSTNAME>';

/** Hosts of a VirtualService bound to gateways; SNI hosts may use the auto-generated `outbound_.80_._.host` form. */
export function checkGatewayBoundDomain(sni: boolean, domain: string): string | undefined {
  const pre = preconditions(domain);
  if (pre) return pre;
  if (sni && domain.startsWith('outbound_')) {
    const parts = domain.split('_');
    if (parts.length < 4)
      return `domain name ${domain} invalid, should follow '${OUTBOUND_SNI_FORMAT}' format`;
    const port = parts[1].replace(/^\.+|\.+$/g, '');
    const hostname = parts[3].replace(/^\.+|\.+$/g, '');
    if (!/[0-9]/.test(port)) {
      return `domain name "${domain}" invalid (label "${port}" invalid). should follow ${OUTBOUND_SNI_FORMAT} format`;
    }
    if (!/[a-zA-Z]/.test(hostname)) {
      return `domain name "${domain}" invalid (label "${hostname}" invalid). should follow ${OUTBOUND_SNI_FORMAT} format`;
    }
    return undefined;
  }
  return checkWildcardDomain(domain);
}

/** True when the host is `*` or starts with `*`. */
export function isWildcarded(host: string): boolean {
  return host.length > 0 && host[0] === '*';
}

/**
 * Istio's host matching: does host `a` match host `b`, where either may be wildcarded
 * (`*.foo.com` matches `bar.foo.com` and `*.bar.foo.com` matches `*.foo.com`'s range).
 */
export function hostsMatch(a: string, b: string): boolean {
  const aw = isWildcarded(a);
  const bw = isWildcarded(b);
  if (aw) {
    if (bw) return a.length > b.length ? a.endsWith(b.slice(1)) : b.endsWith(a.slice(1));
    return b.endsWith(a.slice(1));
  }
  if (bw) return a.endsWith(b.slice(1));
  return a === b;
}

/** True when every host `a` matches is also matched by `b`. */
export function hostSubsetOf(a: string, b: string): boolean {
  const aw = isWildcarded(a);
  const bw = isWildcarded(b);
  if (bw) {
    if (b.length === 1) return true;
    if (!aw) return a.endsWith(b.slice(1));
    return a.length >= b.length && a.endsWith(b.slice(1));
  }
  if (aw) return false;
  return a === b;
}
