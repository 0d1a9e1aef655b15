// The samples' stand-in for the sidecar's mixer filter: every call a workload serves is checked with mixer first
// (a denial is answered with mixer's status, e.g. PERMISSION_DENIED for examples/bookinfo's banned user) and
// reported after, in batches, with Istio's attribute names. The caller's identity comes from the mTLS peer
// certificate, never from a header.
import type { PeerCertificate } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { MixerClient, grpcTransport, withMixer } from '@flotilla/mixer-client';
import type { AttributeValue } from '@flotilla/mixer-client';
import { mixerService } from '@flotilla/proto';
import type { Workload } from './bookinfo';
import { BOOKINFO_SERVICE_NAME, serviceHost } from './bookinfo';
import { peerSpiffeId, serviceAccountOf, spiffeIdOf } from './mesh-tls';

/** Istio's principal attributes carry the SPIFFE ID without its scheme: cluster.local/ns/<ns>/sa/<sa>. */
export function principalOf(spiffeId: string): string {
  return spiffeId.replace(/^spiffe:\/\//, '');
}

/** What mixer knows of the workload that serves the call (the same for every call). */
export function destinationAttributes(workload: Workload, namespace: string): Record<string, AttributeValue> {
  return {
    'destination.service.host': serviceHost(workload.app, namespace),
    'destination.service.name': workload.app,
    'destination.service.namespace': namespace,
    'destination.workload.name': `${workload.app}-${workload.version}`,
    'destination.workload.namespace': namespace,
    'destination.labels': { app: workload.app, version: workload.version },
    'destination.principal': principalOf(spiffeIdOf(namespace, serviceAccountOf(workload.app))),
    'destination.port': workload.port,
    'api.service': BOOKINFO_SERVICE_NAME,
    'api.protocol': 'grpc',
    'api.operation': 'Call',
    'context.reporter.kind': 'inbound',
  };
}

/** What mixer knows of the caller: its principal and namespace from the peer certificate, if any. */
export function sourceAttributes(call: {
  getAuthContext(): { sslPeerCertificate?: PeerCertificate };
}): Record<string, AttributeValue | undefined> {
  const spiffeId = peerSpiffeId(call);
  return {
    'source.principal': spiffeId && principalOf(spiffeId),
    'source.namespace': spiffeId && /\/ns\/([^/]+)\//.exec(spiffeId)?.[1],
    'connection.mtls': spiffeId !== undefined,
  };
}

/** A mixer client over gRPC (mixer's port is plaintext) with the library's check cache and report batching. */
export function mixerClient(address: string, onError: (message: string) => void): MixerClient {
  const stub = new mixerService.MixerClient(address, grpc.credentials.createInsecure());
  return new MixerClient(grpcTransport(stub, { newMetadata: () => new grpc.Metadata(), timeoutMs: 2000 }), {
    report: { onError: (err) => onError(`mixer report failed: ${(err as Error).message}`) },
  });
}

type UnaryHandler = grpc.handleUnaryCall<Buffer, Buffer>;

/** Wraps a workload's handler in mixer's check and report. */
export function guardedByMixer(
  client: MixerClient,
  workload: Workload,
  namespace: string,
  handler: UnaryHandler,
): UnaryHandler {
  return withMixer(client, handler, {
    attributes: destinationAttributes(workload, namespace),
    callAttributes: sourceAttributes,
  });
}
