// IP addresses and CIDR blocks as Go's net/netip accepts them.
import { isIPv4, isIPv6 } from 'node:net';

export function isIPAddress(value: string): boolean {
  return isIPv4(value) || isIPv6(value);
}

/** A CIDR block such as `10.0.0.0/8` or `2001:db8::/32`. */
export function isCIDR(value: string): boolean {
  const slash = value.indexOf('/');
  if (slash < 0) return false;
  const addr = value.slice(0, slash);
  const bits = value.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bits) || (bits.length > 1 && bits[0] === '0')) return false;
  const n = Number(bits);
  if (addr.includes('%')) return false;
  if (isIPv4(addr)) return n <= 32;
  if (isIPv6(addr)) return n <= 128;
  return false;
}

/** "CIDR notation" or a plain address. Returns the problem, or undefined. */
export function checkIPSubnet(subnet: string): string | undefined {
  const slashes = subnet.split('/').length - 1;
  if (slashes === 1) return isCIDR(subnet) ? undefined : `${subnet} is not a valid CIDR block`;
  return isIPAddress(subnet) ? undefined : `${subnet} is not a valid IP`;
}

export function checkIPAddress(addr: string): string | undefined {
  return isIPAddress(addr) ? undefined : `${addr} is not a valid IP`;
}

export function checkPort(port: number): string | undefined {
  return Number.isInteger(port) && port >= 1 && port <= 65535
    ? undefined
    : `port number ${port} must be in the range 1..65535`;
}
