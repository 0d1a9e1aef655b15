import fc from 'fast-check';
import { discovery } from '@flotilla/proto';
import { encodeDiscoveryResponse } from './response-encoding';

const generated = (r: discovery.DiscoveryResponse) =>
  Buffer.from(discovery.DiscoveryResponse.encode(r).finish());

const any = fc.record({
  typeUrl: fc.oneof(
    fc.constant(''),
    fc.string(),
    fc.constant('type.googleapis.com/envoy.config.cluster.v3.Cluster'),
  ),
  value: fc
    .oneof(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ minLength: 120, maxLength: 300 }))
    .map((bytes) => Buffer.from(bytes)),
});

const response = fc.record({
  versionInfo: fc.string({ unit: 'grapheme' }),
  resources: fc.array(any, { maxLength: 5 }),
  canary: fc.boolean(),
  typeUrl: fc.string(),
  nonce: fc.oneof(fc.string(), fc.uuid()),
  controlPlane: fc.option(fc.record({ identifier: fc.string({ unit: 'grapheme' }) }), { nil: undefined }),
});

describe('encodeDiscoveryResponse', () => {
  it("writes exactly the generated encoder's bytes for any response", () => {
    fc.assert(
      fc.property(response, (r) => {
        expect(encodeDiscoveryResponse(r).equals(generated(r))).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('re-encodes a shared Any whose fields were replaced, and long lengths take several varint bytes', () => {
    const shared = { typeUrl: 'type.googleapis.com/x', value: Buffer.alloc(200, 7) };
    const r = (): discovery.DiscoveryResponse => ({
      versionInfo: 'v'.repeat(300),
      resources: [shared, shared],
      canary: false,
      typeUrl: 'type.googleapis.com/x',
      nonce: 'n',
      controlPlane: undefined,
    });
    expect(encodeDiscoveryResponse(r()).equals(generated(r()))).toBe(true);
    shared.value = Buffer.alloc(20_000, 9);
    expect(encodeDiscoveryResponse(r()).equals(generated(r()))).toBe(true);
    shared.typeUrl = 'type.googleapis.com/y';
    expect(encodeDiscoveryResponse(r()).equals(generated(r()))).toBe(true);
  });
});
