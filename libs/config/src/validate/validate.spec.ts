import { parseText } from '../parse';
import { createRegistry } from '../registry';
import { validateResource } from './resource';

const registry = createRegistry();

function validate(yaml: string): { errors: string[]; warnings: string[]; valid: boolean } {
  const { resources, problems } = parseText(yaml, 't.yaml');
  expect(problems).toEqual([]);
  const r = validateResource(resources[0], registry);
  return {
    valid: r.valid,
    errors: r.errors.map((e) => `${e.path}: ${e.message}`),
    warnings: r.warnings.map((w) => `${w.path}: ${w.message}`),
  };
}

const head = (kind: string, version = 'networking.istio.io/v1'): string =>
  `apiVersion: ${version}\nkind: ${kind}\nmetadata:\n  name: x\n`;

describe('envelope', () => {
  it('rejects unknown top-level fields', () => {
    expect(validate(`${head('DestinationRule')}junk: 1\nspec: {host: a}\n`).errors).toEqual([
      'junk: unknown field "junk"',
    ]);
  });

  it('rejects kinds and versions Istio does not serve', () => {
    expect(validate(`${head('Nope')}spec: {}\n`).errors[0]).toContain('no matches for kind "Nope"');
    expect(validate(`${head('EnvoyFilter', 'networking.istio.io/v1')}spec: {}\n`).valid).toBe(false);
  });

  it('accepts every served version of a kind', () => {
    for (const v of ['v1', 'v1beta1', 'v1alpha3']) {
      expect(validate(`${head('DestinationRule', `networking.istio.io/${v}`)}spec: {host: a}\n`).valid).toBe(
        true,
      );
    }
  });

  it('requires spec where the CRD does', () => {
    expect(validate(head('ServiceEntry')).errors).toEqual(['spec: spec: Required value']);
  });

  it('leaves non-Istio kinds alone', () => {
    expect(validate('apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {anything: 1}\n').valid).toBe(
      true,
    );
  });
});

describe('VirtualService', () => {
  const vs = (spec: string): ReturnType<typeof validate> =>
    validate(`${head('VirtualService')}spec:\n${spec}`);

  it('rejects negative weights with the route path', () => {
    const r = vs(
      '  hosts: [a]\n  http:\n  - route:\n    - destination: {host: a}\n      weight: 75\n    - destination: {host: b}\n      weight: -15\n',
    );
    expect(r.errors).toEqual(['spec.http[0].route[1].weight: weight -15 < 0']);
  });

  it('requires routes and forbids * for mesh-bound services', () => {
    expect(vs('  hosts: [a]\n').errors).toContain(
      'spec: http, tcp or tls must be provided in virtual service',
    );
    expect(vs('  hosts: ["*"]\n  http: [{route: [{destination: {host: a}}]}]\n').errors[0]).toContain(
      'wildcard host * is not allowed',
    );
  });

  it('rejects regular expressions RE2 cannot compile', () => {
    const r = vs(
      '  hosts: [a]\n  http:\n  - match: [{uri: {regex: "(?!x)"}}]\n    route: [{destination: {host: a}}]\n',
    );
    expect(r.errors[0]).toMatch(/^spec\.http\[0\]\.match\[0\]\.uri: "uri": /);
  });

  it('rejects duplicate hosts, including wildcard overlaps', () => {
    expect(
      vs('  hosts: [a.com, "*.com"]\n  gateways: [gw]\n  http: [{route: [{destination: {host: a}}]}]\n')
        .errors,
    ).toContain('spec.hosts[1]: duplicate hosts in virtual service: a.com & *.com');
  });

  it('warns about rules that can never match', () => {
    const r = vs(
      '  hosts: [a]\n  http:\n  - route: [{destination: {host: a}}]\n  - route: [{destination: {host: b}}]\n',
    );
    expect(r.valid).toBe(true);
    expect(r.warnings).toContain(
      'spec.http: virtualService rule #1 not used (only the last rule can have no matches)',
    );
  });

  it('rejects a route with both redirect and route', () => {
    expect(
      vs('  hosts: [a]\n  http:\n  - redirect: {uri: /x}\n    route: [{destination: {host: a}}]\n').errors,
    ).toContain('spec.http[0]: HTTP route cannot contain both route and redirect');
  });
});

describe('DestinationRule', () => {
  it('requires host and warns about deprecated outlier settings', () => {
    expect(validate(`${head('DestinationRule')}spec: {}\n`).errors).toContain(
      'spec.host: spec.host: Required value',
    );
    const r = validate(
      `${head('DestinationRule')}spec:\n  host: a\n  trafficPolicy: {outlierDetection: {consecutiveErrors: 7}}\n`,
    );
    expect(r.valid).toBe(true);
    expect(r.warnings[0]).toContain('consecutive errors is deprecated');
  });

  it('checks durations at the CRD level and mutual TLS certificates', () => {
    const r = validate(
      `${head('DestinationRule')}spec:\n  host: a\n  trafficPolicy:\n    connectionPool: {tcp: {connectTimeout: 0s}}\n    tls: {mode: MUTUAL}\n`,
    );
    expect(r.errors).toEqual(
      expect.arrayContaining([
        expect.stringContaining('must be a valid duration greater than 1ms'),
        'spec.trafficPolicy.tls: client certificate required for mutual tls',
      ]),
    );
  });

  it('rejects duplicate subset names', () => {
    const r = validate(`${head('DestinationRule')}spec:\n  host: a\n  subsets: [{name: v1}, {name: v1}]\n`);
    expect(r.errors).toContain('spec.subsets[1].name: duplicate subset names: v1');
  });
});

describe('Gateway', () => {
  it('requires servers and TLS settings for HTTPS', () => {
    expect(validate(`${head('Gateway')}spec: {selector: {istio: ingressgateway}}\n`).errors).toContain(
      'spec.servers: gateway must have at least one server',
    );
    const r = validate(
      `${head('Gateway')}spec:\n  servers:\n  - port: {number: 443, name: https, protocol: HTTPS}\n    hosts: [a.com]\n`,
    );
    expect(r.errors).toContain('spec.servers[0].tls: server must have TLS settings for HTTPS/TLS protocols');
  });

  it('rejects short host names and bad namespaces in hosts', () => {
    const r = validate(
      `${head('Gateway')}spec:\n  servers:\n  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: [a, "Bad_ns/a.com"]\n`,
    );
    expect(r.errors).toEqual(
      expect.arrayContaining([
        'spec.servers[0].hosts[0]: short names (non FQDN) are not allowed',
        'spec.servers[0].hosts[1]: invalid namespace value "Bad_ns" in gateway',
      ]),
    );
  });
});

describe('ServiceEntry', () => {
  const se = (spec: string): ReturnType<typeof validate> => validate(`${head('ServiceEntry')}spec:\n${spec}`);

  it('enforces the resolution rules of the CRD', () => {
    expect(se('  hosts: [a.com]\n  endpoints: [{address: 1.2.3.4}]\n').errors.join()).toContain(
      'NONE mode cannot set endpoints',
    );
    expect(se('  hosts: [a.com]\n  addresses: [1.2.3.0/24]\n  resolution: DNS\n').errors.join()).toContain(
      'CIDR addresses are allowed only for NONE/STATIC resolution types',
    );
  });

  it('rejects duplicate port numbers and out-of-range ports', () => {
    const r = se(
      '  hosts: [a.com]\n  ports: [{name: a, number: 1}, {name: b, number: 1}, {name: c, number: 70000}]\n',
    );
    expect(r.errors.join('\n')).toContain('port number cannot be duplicated');
    expect(r.errors.join('\n')).toContain('port must be between 1-65535');
  });
});

describe('Sidecar', () => {
  it('requires namespace/host egress hosts', () => {
    const r = validate(`${head('Sidecar')}spec:\n  egress: [{hosts: [foo.com, "./*", "~ns/a.com"]}]\n`);
    expect(r.errors).toEqual(['spec.egress[0].hosts[0]: host must be of form namespace/dnsName']);
  });

  it('rejects an empty configuration', () => {
    expect(validate(`${head('Sidecar')}spec: {egress: []}\n`).errors).toEqual([
      'spec: sidecar: empty configuration provided',
    ]);
  });
});

describe('WorkloadEntry and WorkloadGroup', () => {
  it('requires an address or a network and checks unix sockets', () => {
    expect(validate(`${head('WorkloadEntry')}spec: {}\n`).errors.join()).toContain('Address is required');
    expect(validate(`${head('WorkloadEntry')}spec: {network: n}\n`).valid).toBe(true);
    expect(validate(`${head('WorkloadEntry')}spec: {address: "unix:///a/"}\n`).errors.join()).toContain(
      'UDS may not be a dir',
    );
  });

  it('validates group metadata labels', () => {
    const r = validate(`${head('WorkloadGroup')}spec:\n  metadata: {labels: {".": "~"}}\n  template: {}\n`);
    expect(r.errors[0]).toContain('invalid labels');
  });
});

describe('EnvoyFilter', () => {
  it('requires patch operations and values, and warns about the API', () => {
    const r = validate(
      `${head('EnvoyFilter', 'networking.istio.io/v1alpha3')}spec:\n  configPatches: [{applyTo: LISTENER, patch: {}}]\n`,
    );
    expect(r.errors).toEqual([
      'spec.configPatches[0].patch.operation: Envoy filter: missing patch operation',
    ]);
    expect(r.warnings[0]).toContain('EnvoyFilter exposes internal implementation details');
  });

  it('only allows a waypoint match in the WAYPOINT context', () => {
    const r = validate(
      `${head('EnvoyFilter', 'networking.istio.io/v1alpha3')}spec:\n  configPatches: [{applyTo: CLUSTER, match: {context: GATEWAY, waypoint: {}}, patch: {operation: REMOVE}}]\n`,
    );
    expect(r.errors.join()).toContain('only support waypointMatch when context is WAYPOINT');
  });
});

describe('security policies', () => {
  it('checks AuthorizationPolicy when keys and serviceAccounts combinations', () => {
    const r = validate(
      `${head('AuthorizationPolicy', 'security.istio.io/v1')}spec:\n  rules:\n  - from: [{source: {serviceAccounts: [a], namespaces: [b]}}]\n    when: [{values: [x]}]\n`,
    );
    expect(r.errors.join('\n')).toContain('Cannot set serviceAccounts with namespaces or principals');
    expect(r.errors.join('\n')).toContain('spec.rules[0].when[0].key: Required value');
  });

  it('requires a provider for CUSTOM and rules for DENY', () => {
    const r = validate(`${head('AuthorizationPolicy', 'security.istio.io/v1')}spec: {action: DENY}\n`);
    expect(r.errors[0]).toContain('DENY action without `rules` is meaningless');
    const c = validate(
      `${head('AuthorizationPolicy', 'security.istio.io/v1')}spec: {action: CUSTOM, rules: [{}]}\n`,
    );
    expect(c.errors[0]).toContain('`provider.name` must not be empty');
  });

  it('checks JWT rules', () => {
    const r = validate(
      `${head('RequestAuthentication', 'security.istio.io/v1')}spec:\n  jwtRules: [{issuer: a, jwksUri: "ftp://x"}]\n`,
    );
    expect(r.errors.join('\n')).toContain('url must have scheme http:// or https://');
    const e = validate(
      `${head('RequestAuthentication', 'security.istio.io/v1')}spec:\n  jwtRules: [{jwks: "{}"}]\n`,
    );
    expect(e.errors.join('\n')).toContain('issuer or jwksUri must be non-empty string');
  });

  it('requires a selector for port-level mTLS', () => {
    const r = validate(
      `${head('PeerAuthentication', 'security.istio.io/v1')}spec: {portLevelMtls: {"80": {mode: STRICT}}}\n`,
    );
    expect(r.errors.join()).toContain('portLevelMtls requires selector');
  });
});

describe('Telemetry, WasmPlugin, ProxyConfig', () => {
  it('bounds the tracing sampling percentage', () => {
    expect(
      validate(
        `${head('Telemetry', 'telemetry.istio.io/v1')}spec: {tracing: [{randomSamplingPercentage: 101}]}\n`,
      ).valid,
    ).toBe(false);
  });

  it('checks WasmPlugin URL schemes and checksums', () => {
    const r = validate(
      `${head('WasmPlugin', 'extensions.istio.io/v1alpha1')}spec: {url: "ftp://a/b.wasm", sha256: x}\n`,
    );
    expect(r.errors.join('\n')).toContain('url must have schema one of [http, https, file, oci]');
    expect(r.errors.join('\n')).toContain('sha256 field must be 64 characters long');
    expect(
      validate(`${head('WasmPlugin', 'extensions.istio.io/v1alpha1')}spec: {url: oci://r/x:1}\n`).valid,
    ).toBe(true);
  });

  it('rejects negative concurrency', () => {
    expect(
      validate(`${head('ProxyConfig', 'networking.istio.io/v1beta1')}spec: {concurrency: -1}\n`).valid,
    ).toBe(false);
  });
});
