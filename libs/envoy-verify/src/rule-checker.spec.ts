import { create, createFileRegistry, fromBinary, setExtension, toBinary } from '@bufbuild/protobuf';
import type { DescMessage, MessageInitShape } from '@bufbuild/protobuf';
import type { FieldDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import {
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  FieldOptionsSchema,
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
  MessageOptionsSchema,
  OneofOptionsSchema,
} from '@bufbuild/protobuf/wkt';
import {
  cluster,
  httpConnectionManager,
  listener,
  packAny,
  readDescriptorSet,
  route,
  router,
  typeUrlOf,
} from '@flotilla/proto';
import { RuleChecker, envoyRuleChecker } from './rule-checker';

/**
 * A tiny proto of our own, built as a descriptor with the `(validate.*)` options set, so that every rule kind can
 * be shown to fail and to pass on a message of a few fields. Envoy's own messages are checked further below.
 */
const base = fromBinary(FileDescriptorSetSchema, readDescriptorSet());
const baseRegistry = createFileRegistry(base);
const rulesExt = baseRegistry.getExtension('validate.rules')!;
const requiredExt = baseRegistry.getExtension('validate.required')!;
const disabledExt = baseRegistry.getExtension('validate.disabled')!;
const fieldRules = baseRegistry.getMessage('validate.FieldRules')!;

const T = FieldDescriptorProto_Type;
type Rules = Record<string, unknown>;

function field(
  name: string,
  number: number,
  type: FieldDescriptorProto_Type,
  rules?: Rules,
  extra: { label?: FieldDescriptorProto_Label; typeName?: string; oneofIndex?: number } = {},
): MessageInitShape<typeof FieldDescriptorProtoSchema> {
  const options = create(FieldOptionsSchema);
  if (rules)
    setExtension(options, rulesExt, create(fieldRules, rules as MessageInitShape<typeof fieldRules>));
  return {
    name,
    number,
    type,
    label: FieldDescriptorProto_Label.OPTIONAL,
    jsonName: name,
    options,
    ...extra,
  };
}

const repeated = { label: FieldDescriptorProto_Label.REPEATED };
const requiredOneof = create(OneofOptionsSchema);
setExtension(requiredOneof, requiredExt, true);
const disabled = create(MessageOptionsSchema);
setExtension(disabled, disabledExt, true);

const testFile = create(FileDescriptorProtoSchema, {
  name: 'verifytest/sample.proto',
  package: 'verifytest',
  syntax: 'proto3',
  dependency: [
    'validate/validate.proto',
    'google/protobuf/duration.proto',
    'google/protobuf/any.proto',
    'google/protobuf/wrappers.proto',
  ],
  enumType: [
    {
      name: 'Color',
      value: [
        { name: 'RED', number: 0 },
        { name: 'BLUE', number: 1 },
      ],
    },
  ],
  messageType: [
    {
      name: 'Inner',
      field: [field('id', 1, T.STRING, { type: { case: 'string', value: { minBytes: 1n } } })],
    },
    {
      name: 'Off',
      options: disabled,
      field: [field('id', 1, T.STRING, { type: { case: 'string', value: { minLen: 1n } } })],
    },
    {
      name: 'Sample',
      oneofDecl: [{ name: 'choice', options: requiredOneof }],
      nestedType: [
        {
          name: 'WeightsEntry',
          options: { mapEntry: true },
          field: [field('key', 1, T.STRING), field('value', 2, T.UINT32)],
        },
      ],
      field: [
        field('name', 1, T.STRING, { type: { case: 'string', value: { minLen: 1n, maxLen: 5n } } }),
        field('header', 2, T.STRING, {
          type: { case: 'string', value: { wellKnown: { case: 'wellKnownRegex', value: 1 } } },
        }),
        field('prefixed', 3, T.STRING, {
          type: { case: 'string', value: { prefix: '/', ignoreEmpty: true } },
        }),
        field('patterned', 4, T.STRING, { type: { case: 'string', value: { pattern: '^[a-z]*$' } } }),
        field('port', 5, T.UINT32, { type: { case: 'uint32', value: { gte: 1, lte: 65535 } } }),
        field('big', 6, T.INT64, { type: { case: 'int64', value: { gt: 10n } } }),
        field('ratio', 7, T.DOUBLE, { type: { case: 'double', value: { gte: 0, lte: 1 } } }),
        field('odd', 8, T.UINT32, { type: { case: 'uint32', value: { in: [1, 3, 5] } } }),
        field('fixed', 9, T.UINT32, { type: { case: 'uint32', value: { const: 7, notIn: [8] } } }),
        field(
          'color',
          10,
          T.ENUM,
          { type: { case: 'enum', value: { definedOnly: true } } },
          { typeName: '.verifytest.Color' },
        ),
        field(
          'tags',
          11,
          T.STRING,
          {
            type: {
              case: 'repeated',
              value: {
                minItems: 1n,
                maxItems: 2n,
                items: { type: { case: 'string', value: { minLen: 1n } } },
              },
            },
          },
          repeated,
        ),
        field(
          'weights',
          12,
          T.MESSAGE,
          {
            type: {
              case: 'map',
              value: {
                minPairs: 1n,
                keys: { type: { case: 'string', value: { minLen: 1n } } },
                values: { type: { case: 'uint32', value: { gt: 0 } } },
              },
            },
          },
          { ...repeated, typeName: '.verifytest.Sample.WeightsEntry' },
        ),
        field('a', 13, T.STRING, undefined, { oneofIndex: 0 }),
        field('b', 14, T.UINT32, { type: { case: 'uint32', value: { gt: 0 } } }, { oneofIndex: 0 }),
        field(
          'timeout',
          15,
          T.MESSAGE,
          { type: { case: 'duration', value: { required: true, gt: {}, lt: { seconds: 10n } } } },
          { typeName: '.google.protobuf.Duration' },
        ),
        field(
          'config',
          16,
          T.MESSAGE,
          { type: { case: 'any', value: { required: true, in: ['type.googleapis.com/verifytest.Inner'] } } },
          { typeName: '.google.protobuf.Any' },
        ),
        field('inner', 17, T.MESSAGE, { message: { required: true } }, { typeName: '.verifytest.Inner' }),
        field(
          'limit',
          18,
          T.MESSAGE,
          { type: { case: 'uint32', value: { lte: 100 } } },
          { typeName: '.google.protobuf.UInt32Value' },
        ),
        field('outside', 19, T.UINT32, { type: { case: 'uint32', value: { lt: 5, gt: 10 } } }),
        field('blob', 20, T.BYTES, { type: { case: 'bytes', value: { minLen: 2n } } }),
        field('host', 21, T.STRING, {
          type: { case: 'string', value: { wellKnown: { case: 'hostname', value: true } } },
        }),
        field('flag', 22, T.BOOL, { type: { case: 'bool', value: { const: true } } }),
        field('inners', 23, T.MESSAGE, undefined, { ...repeated, typeName: '.verifytest.Inner' }),
        field('skipped', 24, T.MESSAGE, { message: { skip: true } }, { typeName: '.verifytest.Inner' }),
        field('off', 25, T.MESSAGE, undefined, { typeName: '.verifytest.Off' }),
        field('value_header', 26, T.STRING, {
          type: { case: 'string', value: { wellKnown: { case: 'wellKnownRegex', value: 2 } } },
        }),
        field('uri', 27, T.STRING, {
          type: { case: 'string', value: { wellKnown: { case: 'uri', value: true }, ignoreEmpty: true } },
        }),
        field('ip', 28, T.STRING, {
          type: { case: 'string', value: { wellKnown: { case: 'ip', value: true }, ignoreEmpty: true } },
        }),
        field('mode', 29, T.STRING, {
          type: { case: 'string', value: { in: ['', 'fast', 'safe'], maxBytes: 4n } },
        }),
        field(
          'ports',
          30,
          T.UINT32,
          {
            type: {
              case: 'repeated',
              value: { unique: true, items: { type: { case: 'uint32', value: { lte: 65535 } } } },
            },
          },
          repeated,
        ),
        field('count', 31, T.UINT64, { type: { case: 'uint64', value: { lte: 10n } } }),
      ],
    },
  ],
});

const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: [...base.file, testFile] }));
const checker = new RuleChecker(registry);
const Sample = registry.getMessage('verifytest.Sample')!;
const Inner = registry.getMessage('verifytest.Inner')!;
const SAMPLE_URL = 'type.googleapis.com/verifytest.Sample';

function bytesOf(desc: DescMessage, init: Record<string, unknown>): Uint8Array {
  return toBinary(desc, create(desc, init as MessageInitShape<DescMessage>));
}

/** A Sample that passes every rule; each test breaks one thing. */
function validSample(): Record<string, unknown> {
  return {
    name: 'ok',
    header: 'x-user',
    patterned: 'abc',
    port: 80,
    big: 11n,
    ratio: 0.5,
    odd: 3,
    fixed: 7,
    color: 1,
    tags: ['t'],
    weights: { a: 1 },
    choice: { case: 'a', value: 'x' },
    timeout: { seconds: 1n },
    config: { typeUrl: 'type.googleapis.com/verifytest.Inner', value: bytesOf(Inner, { id: 'i' }) },
    inner: { id: 'i' },
    outside: 3,
    blob: new Uint8Array([1, 2]),
    host: 'reviews.bookinfo',
    flag: true,
  };
}

function violations(patch: Record<string, unknown>) {
  return checker
    .checkBytes(SAMPLE_URL, bytesOf(Sample, { ...validSample(), ...patch }))
    .map((v) => `${v.path} [${v.rule}]: ${v.message}`);
}

describe('RuleChecker rule kinds (on a hand-built proto)', () => {
  it('accepts a message that satisfies every rule', () => {
    expect(violations({})).toEqual([]);
  });

  it.each([
    ['string.min_len', { name: '' }, 'name [string.min_len]: string length 0 < min_len 1'],
    ['string.max_len (in code points)', { name: 'ééééé' }, undefined],
    ['string.max_len', { name: 'toolong' }, 'name [string.max_len]: string length 7 > max_len 5'],
    [
      'HTTP_HEADER_NAME',
      { header: 'x user' },
      'header [string.well_known_regex]: "x user" is not a valid HTTP header name',
    ],
    ['HTTP_HEADER_NAME with a pseudo-header', { header: ':authority' }, undefined],
    [
      'HTTP_HEADER_VALUE',
      { valueHeader: 'a\u0001b' },
      'value_header [string.well_known_regex]: "a\\u0001b" is not a valid HTTP header value',
    ],
    ['string.prefix', { prefixed: 'api' }, 'prefixed [string.prefix]: "api" does not start with "/"'],
    ['string.prefix with ignore_empty', { prefixed: '' }, undefined],
    [
      'string.pattern (RE2)',
      { patterned: 'ABC' },
      'patterned [string.pattern]: "ABC" does not match ^[a-z]*$',
    ],
    ['uint32.gte', { port: 0 }, 'port [uint32.gte]: uint32 0 must be >= 1'],
    ['uint32.lte', { port: 70000 }, 'port [uint32.lte]: uint32 70000 must be <= 65535'],
    ['int64.gt', { big: 10n }, 'big [int64.gt]: int64 10 must be > 10'],
    ['double.lte', { ratio: 1.5 }, 'ratio [double.lte]: double 1.5 must be <= 1'],
    ['uint32.in', { odd: 2 }, 'odd [uint32.in]: uint32 2 not in [1, 3, 5]'],
    ['uint32.const', { fixed: 6 }, 'fixed [uint32.const]: uint32 6 must equal 7'],
    [
      'uint32.not_in',
      { fixed: 8 },
      'fixed [uint32.const]: uint32 8 must equal 7|fixed [uint32.not_in]: uint32 8 is not allowed',
    ],
    ['exclusive range (lt < gt)', { outside: 7 }, 'outside [uint32.gt]: uint32 7 must be < 5 or > 10'],
    ['exclusive range, above', { outside: 11 }, undefined],
    [
      'enum.defined_only',
      { color: 7 },
      'color [enum.defined_only]: enum value 7 is not defined in verifytest.Color',
    ],
    ['repeated.min_items', { tags: [] }, 'tags [repeated.min_items]: 0 items < min_items 1'],
    ['repeated.max_items', { tags: ['a', 'b', 'c'] }, 'tags [repeated.max_items]: 3 items > max_items 2'],
    ['repeated.items', { tags: ['a', ''] }, 'tags[1] [string.min_len]: string length 0 < min_len 1'],
    ['map.min_pairs', { weights: {} }, 'weights [map.min_pairs]: 0 pairs < min_pairs 1'],
    ['map.keys', { weights: { '': 1 } }, 'weights[""].key [string.min_len]: string length 0 < min_len 1'],
    ['map.values', { weights: { a: 0 } }, 'weights["a"] [uint32.gt]: uint32 0 must be > 0'],
    ['oneof required', { choice: { case: undefined } }, 'choice [oneof.required]: one of a, b must be set'],
    [
      'rules of the chosen oneof member',
      { choice: { case: 'b', value: 0 } },
      'b [uint32.gt]: uint32 0 must be > 0',
    ],
    ['duration.required', { timeout: undefined }, 'timeout [message.required]: value is required'],
    ['duration.gt', { timeout: {} }, 'timeout [duration.gt]: duration 0ns must be > 0ns'],
    [
      'duration.lt',
      { timeout: { seconds: 10n } },
      'timeout [duration.lt]: duration 10000000000ns must be < 10000000000ns',
    ],
    ['any.required', { config: undefined }, 'config [message.required]: value is required'],
    [
      'any.in',
      { config: { typeUrl: SAMPLE_URL, value: bytesOf(Sample, validSample()) } },
      'config [any.in]: type URL type.googleapis.com/verifytest.Sample not in [type.googleapis.com/verifytest.Inner]',
    ],
    [
      'the rules of the message inside an Any',
      { config: { typeUrl: 'type.googleapis.com/verifytest.Inner', value: bytesOf(Inner, { id: '' }) } },
      'config.id [string.min_bytes]: string bytes 0 < min_bytes 1',
    ],
    ['message.required', { inner: undefined }, 'inner [message.required]: value is required'],
    [
      'embedded message rules',
      { inner: { id: '' } },
      'inner.id [string.min_bytes]: string bytes 0 < min_bytes 1',
    ],
    [
      'repeated embedded messages',
      { inners: [{ id: 'x' }, { id: '' }] },
      'inners[1].id [string.min_bytes]: string bytes 0 < min_bytes 1',
    ],
    ['message.skip', { skipped: { id: '' } }, undefined],
    ['validate.disabled messages', { off: { id: '' } }, undefined],
    ['wrapper values', { limit: 101 }, 'limit [uint32.lte]: uint32 101 must be <= 100'],
    ['unset wrappers', { limit: undefined }, undefined],
    ['bytes.min_len', { blob: new Uint8Array([1]) }, 'blob [bytes.min_len]: bytes length 1 < min_len 2'],
    ['string.hostname', { host: 'bad_host' }, 'host [string.hostname]: "bad_host" is not a host name'],
    ['bool.const', { flag: false }, 'flag [bool.const]: bool false must equal true'],
    ['string.uri', { uri: 'not a uri' }, 'uri [string.uri]: "not a uri" is not an absolute URI'],
    ['string.uri accepts an absolute URI', { uri: 'https://example.com/jwks.json' }, undefined],
    ['string.ip', { ip: '10.0.0.256' }, 'ip [string.ip]: "10.0.0.256" is not an IP address'],
    ['string.ip accepts IPv6', { ip: '::1' }, undefined],
    ['string.in', { mode: 'slow' }, 'mode [string.in]: "slow" not in ["", "fast", "safe"]'],
    [
      'string.max_bytes',
      { mode: 'fast!' },
      'mode [string.max_bytes]: string bytes 5 > max_bytes 4|mode [string.in]: "fast!" not in ["", "fast", "safe"]',
    ],
    ['repeated.unique', { ports: [80, 443, 80] }, 'ports[2] [repeated.unique]: repeated value'],
    ['repeated.items on scalars', { ports: [70000] }, 'ports[0] [uint32.lte]: uint32 70000 must be <= 65535'],
    ['uint64.lte (as bigint)', { count: 11n }, 'count [uint64.lte]: uint64 11 must be <= 10'],
  ])('%s', (_, patch, expected) => {
    expect(violations(patch).join('|')).toBe(expected ?? '');
  });

  it('reports every violation of a message, not just the first', () => {
    expect(violations({ name: '', port: 0, inner: undefined })).toEqual([
      'name [string.min_len]: string length 0 < min_len 1',
      'port [uint32.gte]: uint32 0 must be >= 1',
      'inner [message.required]: value is required',
    ]);
  });

  it('reports an Any of a type the descriptors do not know, and bytes that do not decode', () => {
    const bad = { config: { typeUrl: 'type.googleapis.com/nope.Nope', value: new Uint8Array() } };
    expect(violations(bad)).toEqual([
      'config [any.in]: type URL type.googleapis.com/nope.Nope not in [type.googleapis.com/verifytest.Inner]',
      'config [any.resolvable]: unknown message type type.googleapis.com/nope.Nope',
    ]);
    expect(checker.checkBytes(SAMPLE_URL, new Uint8Array([0xff, 0xff]))[0].rule).toBe('wire');
  });
});

describe('RuleChecker on Envoy protos', () => {
  const envoy = envoyRuleChecker();
  const router_ = packAny(router.Router, router.Router.fromPartial({}));

  function hcm(init: Parameters<typeof httpConnectionManager.HttpConnectionManager.fromPartial>[0]) {
    return packAny(
      httpConnectionManager.HttpConnectionManager,
      httpConnectionManager.HttpConnectionManager.fromPartial(init),
    );
  }

  it('names the full path through typed_config to an HTTP filter with no name', () => {
    const l = listener.Listener.fromPartial({
      name: 'l',
      address: { socketAddress: { address: '0.0.0.0', portValue: 80 } },
      filterChains: [
        { filters: [{ name: 'a', typedConfig: router_ }] },
        {
          filters: [
            {
              name: 'envoy.filters.network.http_connection_manager',
              typedConfig: hcm({
                statPrefix: 's',
                rds: { routeConfigName: '80', configSource: { ads: {} } },
                httpFilters: [{ name: 'envoy.filters.http.router', typedConfig: router_ }, { name: '' }],
              }),
            },
          ],
        },
      ],
    });
    expect(envoy.checkAny(packAny(listener.Listener, l), 'listener[0]')).toEqual([
      {
        path: 'listener[0].filter_chains[1].filters[0].typed_config.http_filters[1].name',
        rule: 'string.min_len',
        message: 'string length 0 < min_len 1',
      },
    ]);
  });

  it("enforces HttpConnectionManager's required route_specifier oneof and stat_prefix", () => {
    const violations = envoy.checkAny(hcm({}));
    // A message decoded by the generated code is checked the same way as its encoding.
    const decoded = httpConnectionManager.HttpConnectionManager.fromPartial({});
    expect(envoy.checkMessage(typeUrlOf(httpConnectionManager.HttpConnectionManager), decoded)).toEqual(
      violations,
    );
    expect(violations.map((v) => `${v.path} ${v.rule}`)).toEqual([
      'route_specifier oneof.required',
      'stat_prefix string.min_len',
    ]);
  });

  it('enforces RouteMatch being required on a route and the header name syntax', () => {
    const rc = route.RouteConfiguration.fromPartial({
      name: 'r',
      virtualHosts: [
        {
          name: 'vh',
          domains: ['*'],
          routes: [
            { route: { cluster: 'c' } },
            {
              match: { prefix: '/', headers: [{ name: 'bad\nname', presentMatch: true }] },
              route: { cluster: 'c' },
            },
          ],
        },
      ],
    });
    expect(envoy.checkAny(packAny(route.RouteConfiguration, rc)).map((v) => `${v.path} ${v.rule}`)).toEqual([
      'virtual_hosts[0].routes[0].match message.required',
      'virtual_hosts[0].routes[1].match.headers[0].name string.well_known_regex',
    ]);
  });

  it('enforces a positive connect_timeout and a defined lb_policy on clusters', () => {
    const c = cluster.Cluster.fromPartial({
      name: 'c',
      connectTimeout: { seconds: 0, nanos: 0 },
      lbPolicy: 42 as cluster.Cluster_LbPolicy,
    });
    expect(envoy.checkAny(packAny(cluster.Cluster, c)).map((v) => `${v.path} ${v.rule}`)).toEqual([
      'connect_timeout duration.gt',
      'lb_policy enum.defined_only',
    ]);
    const ok = cluster.Cluster.fromPartial({ name: 'c', connectTimeout: { seconds: 1, nanos: 0 } });
    expect(envoy.checkAny(packAny(cluster.Cluster, ok))).toEqual([]);
  });
});
