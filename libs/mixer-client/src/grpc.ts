/**
 * Adapts the generated istio.mixer.v1.Mixer gRPC client (mixerService.MixerClient) to MixerTransport. The lib does
 * not depend on @grpc/grpc-js itself: the caller builds the client and, to get deadlines, passes a Metadata
 * factory (`() => new grpc.Metadata()`).
 */
import type { mixerCheck, mixerReport, mixerService } from '@flotilla/proto';
import type { MixerTransport } from './client';

type CheckArgs = Parameters<mixerService.MixerClient['check']>;
type Metadata = CheckArgs[1];

export interface GrpcTransportOptions {
  /** Makes the Metadata of each call; needed for the deadline to be set. */
  newMetadata?: () => Metadata;
  /** Per-call deadline. Default 5,000 ms. */
  timeoutMs?: number;
}

function unaryCall<Req, Res>(
  call: (...args: never[]) => unknown,
  request: Req,
  options: GrpcTransportOptions,
): Promise<Res> {
  return new Promise<Res>((resolve, reject) => {
    const done = (err: Error | null, res: Res) => (err ? reject(err) : resolve(res));
    const invoke = call as unknown as (...args: unknown[]) => unknown;
    if (options.newMetadata)
      invoke(request, options.newMetadata(), { deadline: Date.now() + (options.timeoutMs ?? 5000) }, done);
    else invoke(request, done);
  });
}

export function grpcTransport(
  client: mixerService.MixerClient,
  options: GrpcTransportOptions = {},
): MixerTransport {
  return {
    check: (request) =>
      unaryCall<mixerCheck.CheckRequest, mixerCheck.CheckResponse>(
        client.check.bind(client),
        request,
        options,
      ),
    report: (request) =>
      unaryCall<mixerReport.ReportRequest, mixerReport.ReportResponse>(
        client.report.bind(client),
        request,
        options,
      ),
  };
}
