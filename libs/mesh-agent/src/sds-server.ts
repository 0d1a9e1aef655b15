import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import {
  cluster,
  configSource,
  discovery,
  http2ProtocolOptions,
  packAny,
  sds,
  tlsSecret,
  typeUrlOf,
} from '@flotilla/proto';
import type { WorkloadSecret } from './certificate-fetcher';
import type { SecretManager } from './secret-manager';

/** Istio's SDS resource names: the workload certificate and the root bundle. */
export const WORKLOAD_SECRET_NAME = 'default';
export const ROOT_SECRET_NAME = 'ROOTCA';
export const SECRET_TYPE_URL = typeUrlOf(tlsSecret.Secret);
/** Istio's name for the bootstrap cluster through which Envoy reaches the agent's SDS socket. */
export const SDS_CLUSTER = 'sds-grpc';
/** Where Istio's agent serves SDS, relative to Envoy's working directory: the sds-grpc cluster's pipe. */
export const SDS_SOCKET_PATH = './var/run/secrets/workload-spiffe-uds/socket';

/**
 * The bootstrap cluster "sds-grpc": the agent's SDS server on its Unix socket, over HTTP/2 as gRPC needs. It
 * belongs in Envoy's bootstrap (as in Istio's); pilot never sends it over CDS, which cannot replace a static cluster.
 */
export function sdsGrpcCluster(
  socketPath = SDS_SOCKET_PATH,
  connectTimeout = { seconds: 1, nanos: 0 },
): cluster.Cluster {
  return cluster.Cluster.fromPartial({
    name: SDS_CLUSTER,
    type: cluster.Cluster_DiscoveryType.STATIC,
    connectTimeout,
    loadAssignment: {
      clusterName: SDS_CLUSTER,
      endpoints: [{ lbEndpoints: [{ endpoint: { address: { pipe: { path: socketPath } } } }] }],
    },
    typedExtensionProtocolOptions: http2ProtocolOptions(),
  });
}

/**
 * How Envoy asks for the secret `name` (WORKLOAD_SECRET_NAME or ROOT_SECRET_NAME): SDS over the bootstrap's
 * sds-grpc cluster, waiting for it without a timeout. Pilot's generated listeners and clusters and the CLI's Envoy
 * bootstrap both refer to the agent's secrets this way.
 */
export function sdsSecretConfig(name: string) {
  return {
    name,
    sdsConfig: {
      apiConfigSource: {
        apiType: configSource.ApiConfigSource_ApiType.GRPC,
        transportApiVersion: configSource.ApiVersion.V3,
        grpcServices: [{ envoyGrpc: { clusterName: SDS_CLUSTER } }],
        setNodeOnFirstMessageOnly: true,
      },
      initialFetchTimeout: { seconds: 0, nanos: 0 },
      resourceApiVersion: configSource.ApiVersion.V3,
    },
  };
}

/** The SDS Secret for `name` built from the current certificate, or undefined for a name not served. */
export function secretResource(name: string, secret: WorkloadSecret): tlsSecret.Secret | undefined {
  if (name === WORKLOAD_SECRET_NAME) {
    return tlsSecret.Secret.fromPartial({
      name,
      tlsCertificate: {
        certificateChain: { inlineBytes: Buffer.from(secret.chainPem.join('')) },
        privateKey: { inlineBytes: Buffer.from(secret.keyPem) },
      },
    });
  }
  if (name === ROOT_SECRET_NAME) {
    return tlsSecret.Secret.fromPartial({
      name,
      validationContext: { trustedCa: { inlineBytes: Buffer.from(secret.rootPem) } },
    });
  }
  return undefined;
}

type Stream = grpc.ServerDuplexStream<discovery.DiscoveryRequest, discovery.DiscoveryResponse>;

interface StreamState {
  names: string[];
  /** The nonce of the last response sent; a request with another non-empty nonce is stale. */
  nonce: string;
  /** The secret version last sent. */
  version: string;
}

export interface SdsServerOptions {
  secrets: SecretManager;
  /** Unix domain socket path (Istio: ./var/run/secrets/workload-spiffe-uds/socket). */
  socketPath: string;
}

/**
 * envoy.service.secret.v3.SecretDiscoveryService, state of the world, on a Unix domain socket: answers each
 * StreamSecrets request for "default" and "ROOTCA" and pushes both again whenever the SecretManager rotates.
 * Envoy ACKs by echoing the nonce; a NACK (error_detail) is recorded in `nacks` and not answered.
 */
export class SdsServer {
  private readonly server = new grpc.Server();
  private readonly streams = new Map<Stream, StreamState>();
  private readonly onSecret = () => {
    for (const [stream, state] of this.streams) this.push(stream, state);
  };
  /** NACKs received, newest last (for diagnostics). */
  readonly nacks: string[] = [];

  constructor(private readonly options: SdsServerOptions) {
    this.server.addService(sds.SecretDiscoveryServiceService, {
      streamSecrets: (stream: Stream) => this.streamSecrets(stream),
      fetchSecrets: (
        call: grpc.ServerUnaryCall<discovery.DiscoveryRequest, discovery.DiscoveryResponse>,
        callback: grpc.sendUnaryData<discovery.DiscoveryResponse>,
      ) => {
        const secret = this.options.secrets.secret;
        if (!secret) return callback({ code: grpc.status.UNAVAILABLE, details: 'no certificate yet' });
        callback(null, this.response(call.request.resourceNames, secret));
      },
      deltaSecrets: (stream: grpc.ServerDuplexStream<unknown, unknown>) =>
        stream.emit('error', { code: grpc.status.UNIMPLEMENTED, details: 'delta SDS is not supported' }),
    } as sds.SecretDiscoveryServiceServer);
  }

  async start(): Promise<void> {
    await rm(this.options.socketPath, { force: true });
    await new Promise<number>((resolve, reject) =>
      this.server.bindAsync(
        `unix:${this.options.socketPath}`,
        grpc.ServerCredentials.createInsecure(),
        (err, port) => (err ? reject(err) : resolve(port)),
      ),
    );
    this.options.secrets.on('secret', this.onSecret);
  }

  async stop(): Promise<void> {
    this.options.secrets.off('secret', this.onSecret);
    for (const stream of this.streams.keys()) stream.end();
    this.streams.clear();
    await new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
    await rm(this.options.socketPath, { force: true });
  }

  private streamSecrets(stream: Stream): void {
    const state: StreamState = { names: [], nonce: '', version: '' };
    this.streams.set(stream, state);
    const forget = () => this.streams.delete(stream);
    stream.on('end', () => {
      forget();
      stream.end();
    });
    stream.on('error', forget);
    stream.on('cancelled', forget);
    stream.on('data', (request: discovery.DiscoveryRequest) => {
      if (request.typeUrl && request.typeUrl !== SECRET_TYPE_URL) {
        stream.emit('error', {
          code: grpc.status.INVALID_ARGUMENT,
          details: `unexpected type ${request.typeUrl}`,
        });
        return;
      }
      if (request.responseNonce && request.responseNonce !== state.nonce) return; // stale
      if (request.errorDetail) {
        this.nacks.push(request.errorDetail.message);
        return;
      }
      const namesChanged = request.resourceNames.join('\0') !== state.names.join('\0');
      state.names = [...request.resourceNames];
      // An ACK of what we sent needs no answer; a new subscription or a first request does.
      if (namesChanged || !request.responseNonce) {
        state.version = '';
        this.push(stream, state);
      }
    });
  }

  private push(stream: Stream, state: StreamState): void {
    const secret = this.options.secrets.secret;
    if (!secret || state.names.length === 0 || state.version === secret.serial) return;
    const response = this.response(state.names, secret);
    state.nonce = response.nonce;
    state.version = secret.serial;
    stream.write(response);
  }

  private response(names: string[], secret: WorkloadSecret): discovery.DiscoveryResponse {
    const resources = names
      .map((name) => secretResource(name, secret))
      .filter((s): s is tlsSecret.Secret => s !== undefined)
      .map((s) => packAny(tlsSecret.Secret, s));
    return discovery.DiscoveryResponse.fromPartial({
      versionInfo: secret.serial,
      typeUrl: SECRET_TYPE_URL,
      resources,
      nonce: randomBytes(8).toString('hex'),
    });
  }
}
