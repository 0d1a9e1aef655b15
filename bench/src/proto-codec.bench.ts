// Encoding and decoding an EDS DiscoveryResponse (50 ClusterLoadAssignments of 20 endpoints each), the hot path
// of every xDS push: Flotilla's generated ts-proto code against protobufjs's reflection codecs (what
// @grpc/proto-loader users get), both measured in this run.
import * as protobuf from 'protobufjs';
import 'protobufjs/ext/descriptor';
import { discovery, endpoint, packAny, readDescriptorSet, typeUrlOf } from '@flotilla/proto';
import { bench, formatResults } from './harness';

const CLUSTERS = 50;
const ENDPOINTS = 20;

function assignment(c: number): endpoint.ClusterLoadAssignment {
  return endpoint.ClusterLoadAssignment.fromPartial({
    clusterName: `outbound|9080|v${c % 3}|svc-${c}.default.svc.cluster.local`,
    endpoints: [
      {
        locality: { region: 'local', zone: 'zone-a' },
        loadBalancingWeight: ENDPOINTS,
        lbEndpoints: Array.from({ length: ENDPOINTS }, (_, e) => ({
          endpoint: { address: { socketAddress: { address: `10.0.${c}.${e}`, portValue: 9080 } } },
          healthStatus: 1,
          loadBalancingWeight: 1,
        })),
      },
    ],
  });
}

const assignments = Array.from({ length: CLUSTERS }, (_, c) => assignment(c));
const typeUrl = typeUrlOf(endpoint.ClusterLoadAssignment);

// ts-proto: the generated encode/decode Flotilla uses.
/** Returns the number of endpoints decoded, and the response's size, so both codecs can be checked alike. */
function tsProtoRoundTrip(): number {
  const response = discovery.DiscoveryResponse.encode(
    discovery.DiscoveryResponse.fromPartial({
      versionInfo: '42',
      resources: assignments.map((a) => packAny(endpoint.ClusterLoadAssignment, a)),
      typeUrl,
      nonce: '7',
    }),
  ).finish();
  const decoded = discovery.DiscoveryResponse.decode(response);
  let n = 0;
  for (const any of decoded.resources) {
    n += endpoint.ClusterLoadAssignment.decode(any.value).endpoints[0].lbEndpoints.length;
  }
  return n * 1e7 + response.length;
}

// protobufjs reflection types built from the same descriptors.
type ReflectedRoot = protobuf.Root & { lookupType(name: string): protobuf.Type };
const root = (protobuf.Root as unknown as { fromDescriptor(b: Uint8Array): ReflectedRoot }).fromDescriptor(
  readDescriptorSet(),
);
const ClaType = root.lookupType('envoy.config.endpoint.v3.ClusterLoadAssignment');
const ResponseType = root.lookupType('envoy.service.discovery.v3.DiscoveryResponse');
// The same content as protobufjs message objects (decoded from ts-proto's bytes, so nothing is lost between).
const reflectedAssignments = assignments.map((a) =>
  ClaType.decode(endpoint.ClusterLoadAssignment.encode(a).finish()),
);

function protobufjsRoundTrip(): number {
  const response = ResponseType.encode(
    ResponseType.create({
      // Types built from descriptors keep the proto field names (snake_case).
      version_info: '42',
      resources: reflectedAssignments.map((a) => ({ type_url: typeUrl, value: ClaType.encode(a).finish() })),
      type_url: typeUrl,
      nonce: '7',
    }),
  ).finish();
  const decoded = ResponseType.decode(response) as unknown as { resources: { value: Uint8Array }[] };
  let n = 0;
  for (const any of decoded.resources) {
    const cla = ClaType.decode(any.value) as unknown as { endpoints: { lb_endpoints: unknown[] }[] };
    n += cla.endpoints[0].lb_endpoints.length;
  }
  return n * 1e7 + response.length;
}

const expected = tsProtoRoundTrip();
if (Math.floor(expected / 1e7) !== CLUSTERS * ENDPOINTS || protobufjsRoundTrip() !== expected) {
  throw new Error(`the two codecs disagree on the round trip: ${expected} vs ${protobufjsRoundTrip()}`);
}
const results = bench({ name: 'protobufjs reflection', run: protobufjsRoundTrip }, [
  { name: 'ts-proto generated', run: tsProtoRoundTrip },
]);
console.log(
  formatResults(
    `EDS DiscoveryResponse encode+decode (${CLUSTERS} ClusterLoadAssignments × ${ENDPOINTS} endpoints)`,
    results,
  ),
);
