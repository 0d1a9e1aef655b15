import { protobufStruct } from '@flotilla/proto';
import { decodeMcpResource, encodeMcpResource, mcpResourceOf } from './resource';
import { STRUCT_TYPE_URL, jsonFromStruct, packJsonBody, structFromJson, unpackJsonBody } from './struct';

describe('Struct bodies', () => {
  const spec = {
    hosts: ['reviews.default.svc.cluster.local'],
    http: [
      { match: [{ uri: { prefix: '/v1' } }], route: [{ destination: { host: 'reviews' }, weight: 75.5 }] },
    ],
    tls: null,
    enabled: true,
    empty: {},
    list: [],
  };

  it('round-trips JSON through the wire form', () => {
    const body = packJsonBody(spec);
    expect(body.typeUrl).toBe(STRUCT_TYPE_URL);
    expect(unpackJsonBody(body)).toEqual(spec);
    const decoded = protobufStruct.Struct.decode(body.value);
    expect(jsonFromStruct(decoded)).toEqual(spec);
  });

  it('writes exactly the bytes the generated Struct encoder writes', () => {
    const nested = {
      ...spec,
      deep: { '2': [null, false, -0.5, { k: 'v' }], '1': 'integer-like keys first' },
    };
    const generated = protobufStruct.Struct.encode(structFromJson(nested)).finish();
    expect(Buffer.compare(packJsonBody(nested).value, Buffer.from(generated))).toBe(0);
  });

  it('refuses in the packed form what JSON cannot hold, naming where', () => {
    expect(() => packJsonBody({ a: { b: [1, Number.POSITIVE_INFINITY] } })).toThrow(
      '$.a.b[1]: Infinity cannot be represented in JSON',
    );
    expect(() => packJsonBody({ when: new Date() })).toThrow('$.when: a Date cannot be represented in JSON');
    expect(() => packJsonBody({ l: [1, undefined] })).toThrow('$.l[1]: undefined');
    expect(() => packJsonBody({ f: () => 1 })).toThrow('$.f: a function cannot be represented in JSON');
    expect(unpackJsonBody(packJsonBody({ a: 1, b: undefined }))).toEqual({ a: 1 });
  });

  it('drops undefined properties as JSON does, and refuses what JSON cannot hold, naming where', () => {
    expect(jsonFromStruct(structFromJson({ a: 1, b: undefined }))).toEqual({ a: 1 });
    expect(() => structFromJson({ a: { b: [1, Number.NaN] } })).toThrow(
      '$.a.b[1]: NaN cannot be represented in JSON',
    );
    expect(() => structFromJson({ when: new Date() })).toThrow(
      '$.when: a Date cannot be represented in JSON',
    );
    expect(() => structFromJson({ n: 10n })).toThrow('$.n: a bigint cannot be represented in JSON');
    expect(() => structFromJson({ l: [undefined] })).toThrow('$.l[0]: undefined');
  });

  it('encodes and decodes istio.mcp.v1alpha1.Resource with "<namespace>/<name>" names', () => {
    const resource = mcpResourceOf({
      namespace: 'istio-system',
      name: 'gateway',
      version: '7',
      spec: { a: 1 },
    });
    expect(resource.name).toBe('istio-system/gateway');
    const back = decodeMcpResource(encodeMcpResource(resource));
    const { body, ...metadata } = back;
    expect(metadata).toEqual({ name: 'istio-system/gateway', version: '7', labels: {}, annotations: {} });
    expect(body.typeUrl).toBe(resource.body.typeUrl);
    expect(Buffer.compare(body.value, resource.body.value)).toBe(0);
    expect(mcpResourceOf({ name: 'mesh', spec: {} }).name).toBe('/mesh');
    expect(() => mcpResourceOf({ name: 'x' })).toThrow('exactly one of body and spec');
    expect(() => decodeMcpResource(packJsonBody({}))).toThrow(/istio.mcp.v1alpha1.Resource/);
  });
});
