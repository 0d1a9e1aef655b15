import { checkDuration, parseDuration } from './durations';
import { checkHeaderValue, checkMatchHeaderName } from './headers';
import { checkLabelKey, checkLabelValue } from './labels';
import fc from 'fast-check';
import {
  checkDNS1123Labels,
  checkFQDN,
  checkPartialWildcard,
  checkWildcardDomain,
  hostSubsetOf,
  hostsMatch,
  isDNS1123Label,
} from './names';
import { checkIPSubnet, isCIDR } from './net';
import { checkRegex } from './regex';

describe('host names', () => {
  it('accepts DNS-1123 labels up to 63 characters', () => {
    expect(isDNS1123Label('a-b')).toBe(true);
    expect(isDNS1123Label('-a')).toBe(false);
    expect(isDNS1123Label('a'.repeat(64))).toBe(false);
  });

  it('allows a wildcard only in the first label', () => {
    expect(checkWildcardDomain('*.example.com')).toBeUndefined();
    expect(checkWildcardDomain('*x.example.com')).toBeUndefined();
    expect(checkWildcardDomain('a.*.com')).toContain('(label "*" invalid)');
  });

  it('rejects all-numeric top level domains and empty names', () => {
    expect(checkFQDN('foo.123')).toContain('cannot be all-numeric');
    expect(checkFQDN('')).toBe('empty domain name not allowed');
    expect(checkFQDN('istio.io.')).toBeUndefined();
  });

  it('takes the single-pass path only where the label-by-label rule agrees', () => {
    // Istio's rule, label by label: the last label may be empty (a trailing dot) and must not be all digits.
    const reference = (domain: string): boolean => {
      const parts = domain.split('.');
      if (/^[+-]?\d+$/.test(parts[parts.length - 1])) return false;
      return parts.every(
        (p, i) =>
          (i === parts.length - 1 && p === '') || /^[a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?$/.test(p),
      );
    };
    const char = fc.constantFrom('a', 'Z', '0', '7', '-', '.', '*', '_', '+');
    fc.assert(
      fc.property(fc.array(char, { maxLength: 12 }), (chars) => {
        const domain = chars.join('');
        expect(checkDNS1123Labels(domain) === undefined).toBe(reference(domain));
      }),
      { numRuns: 5000 },
    );
    // Wildcard domains: the single-pass path agrees with the label-by-label rule (first label may be `*`, `*x`…).
    const wildcardReference = (domain: string): boolean => {
      if (domain.length === 0) return false;
      const dot = domain.indexOf('.');
      const first = dot < 0 ? domain : domain.slice(0, dot);
      if (!/^(?:\*|(?:\*|\*-)?[a-zA-Z0-9](?:[-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?)$/.test(first)) return false;
      return dot < 0 || reference(domain.slice(dot + 1));
    };
    fc.assert(
      fc.property(fc.array(char, { maxLength: 12 }), (chars) => {
        const domain = chars.join('');
        expect(checkWildcardDomain(domain) === undefined).toBe(wildcardReference(domain));
      }),
      { numRuns: 5000 },
    );
    expect(checkDNS1123Labels('a'.repeat(63) + '.io')).toBeUndefined();
    expect(checkDNS1123Labels('a'.repeat(64) + '.io')).toContain('invalid');
  });

  it('rejects partial wildcards', () => {
    expect(checkPartialWildcard('*x.com')).toBe('partial wildcard "*x.com" not allowed');
    expect(checkPartialWildcard('*.x.com')).toBeUndefined();
  });

  it('matches wildcard hosts both ways and computes subsets', () => {
    expect(hostsMatch('*.foo.com', 'a.foo.com')).toBe(true);
    expect(hostsMatch('*.com', '*.foo.com')).toBe(true);
    expect(hostsMatch('a.com', 'b.com')).toBe(false);
    expect(hostSubsetOf('a.foo.com', '*.foo.com')).toBe(true);
    expect(hostSubsetOf('*.foo.com', 'a.foo.com')).toBe(false);
  });
});

describe('durations', () => {
  it('parses Go duration syntax', () => {
    expect(parseDuration('1h30m')).toBe(5400e9);
    expect(parseDuration('1.5s')).toBe(1.5e9);
    expect(parseDuration('apple')).toBeUndefined();
  });

  it('requires at least 1ms and millisecond precision', () => {
    expect(checkDuration('0s')).toBe('duration must be greater than 1ms');
    expect(checkDuration('1500us')).toBe('only durations to ms precision are supported');
    expect(checkDuration('10s')).toBeUndefined();
  });
});

describe('regular expressions', () => {
  it('rejects syntax RE2 does not support and says so', () => {
    expect(checkRegex('^(?!x).*', 'uri')).toContain('Istio uses RE2 style regex-based match');
    expect(checkRegex('^/api/v[0-9]+', 'uri')).toBeUndefined();
  });

  it('limits the length to 1024', () => {
    expect(checkRegex('a'.repeat(1025), 'uri')).toBe('"uri": regex is too large, max length allowed is 1024');
  });
});

describe('headers, labels and addresses', () => {
  it('accepts header tokens, pseudo headers and JWT claim routes in matches', () => {
    expect(checkMatchHeaderName('x-user')).toBeUndefined();
    expect(checkMatchHeaderName(':authority')).toBeUndefined();
    expect(checkMatchHeaderName('@request.auth.claims.group')).toBeUndefined();
    expect(checkMatchHeaderName('bad header')).toBe('header name bad header is not a valid header name');
  });

  it('checks Envoy header value substitutions', () => {
    expect(checkHeaderValue('100%%')).toBeUndefined();
    expect(checkHeaderValue('%HOSTNAME%')).toBeUndefined();
    expect(checkHeaderValue('abc%')).toContain('Un-escaped %');
  });

  it('validates label keys and values', () => {
    expect(checkLabelKey('app.kubernetes.io/name')).toBeUndefined();
    expect(checkLabelKey('.')).toBe('invalid tag key: "."');
    expect(checkLabelValue('~')).toBe('invalid tag value: "~"');
  });

  it('validates IPs and CIDR blocks', () => {
    expect(isCIDR('10.0.0.0/8')).toBe(true);
    expect(isCIDR('10.0.0.0/33')).toBe(false);
    expect(checkIPSubnet('1.2.3')).toBe('1.2.3 is not a valid IP');
  });
});
