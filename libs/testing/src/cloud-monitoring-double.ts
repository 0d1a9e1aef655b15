import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** One CreateTimeSeries request as the double decoded it (camelCase fields, enums as names, int64 as strings). */
export interface CloudMonitoringRequest {
  name: string;
  timeSeries: CloudMonitoringTimeSeries[];
}

export interface CloudMonitoringTimeSeries {
  metric: { type: string; labels?: Record<string, string> };
  resource: { type: string; labels?: Record<string, string> };
  metricKind: string;
  valueType: string;
  points: {
    interval: {
      startTime?: { seconds: string; nanos?: number };
      endTime: { seconds: string; nanos?: number };
    };
    value: {
      int64Value?: string;
      doubleValue?: number;
      boolValue?: boolean;
      stringValue?: string;
      distributionValue?: CloudMonitoringDistribution;
    };
  }[];
}

/** google.api.Distribution as the double decodes it (int64 fields as strings). */
export interface CloudMonitoringDistribution {
  count?: string;
  mean?: number;
  sumOfSquaredDeviation?: number;
  bucketOptions?: {
    linearBuckets?: { numFiniteBuckets?: number; width?: number; offset?: number };
    exponentialBuckets?: { numFiniteBuckets?: number; growthFactor?: number; scale?: number };
    explicitBuckets?: { bounds?: number[] };
  };
  bucketCounts?: string[];
}

/** One CreateMetricDescriptor request as the double decoded it. */
export interface CloudMonitoringDescriptorRequest {
  name: string;
  metricDescriptor: {
    name?: string;
    type: string;
    metricKind: string;
    valueType: string;
    labels?: { key: string; valueType?: string; description?: string }[];
    description?: string;
    displayName?: string;
  };
}

interface Failure {
  code: grpc.status;
  details: string;
}

/** Where the monitoring protos live: @google-cloud/monitoring ships its own, google-gax the google/api ones. */
function protoDirs(): string[] {
  const monitoring = join(
    dirname(require.resolve('@google-cloud/monitoring/package.json')),
    'build',
    'protos',
  );
  const gax = join(dirname(require.resolve('google-gax')), '..', 'protos'); // build/src/index.js
  return [monitoring, gax];
}

/**
 * A TEST DOUBLE of Google Cloud Monitoring's gRPC google.monitoring.v3.MetricService — not Cloud Monitoring —
 * serving only CreateTimeSeries and CreateMetricDescriptor, on loopback without TLS or authentication. It decodes requests with the protos
 * @google-cloud/monitoring ships, records every request (failed ones too, in `attempts`), and answers with
 * injected failures when told to. It does not enforce Cloud Monitoring's rules (200 series per request, one point
 * per series, write rate); tests assert those on the recorded requests.
 */
export class CloudMonitoringDouble {
  private constructor(
    private readonly server: grpc.Server,
    readonly port: number,
    /** Requests answered OK, in order. */
    readonly requests: CloudMonitoringRequest[],
    /** Every request received, including ones answered with an injected failure. */
    readonly attempts: CloudMonitoringRequest[],
    private readonly failures: Failure[],
    /** CreateMetricDescriptor requests answered OK, in order (an addition: the double once served only writes). */
    readonly descriptorRequests: CloudMonitoringDescriptorRequest[] = [],
    private readonly descriptorFailures: Failure[] = [],
  ) {}

  static async start(host = '127.0.0.1'): Promise<CloudMonitoringDouble> {
    const definition = protoLoader.loadSync('google/monitoring/v3/metric_service.proto', {
      includeDirs: protoDirs(),
      keepCase: false,
      longs: String,
      enums: String,
      defaults: false,
      oneofs: true,
    });
    const pkg = grpc.loadPackageDefinition(definition) as unknown as {
      google: { monitoring: { v3: { MetricService: { service: grpc.ServiceDefinition } } } };
    };
    const server = new grpc.Server();
    const requests: CloudMonitoringRequest[] = [];
    const attempts: CloudMonitoringRequest[] = [];
    const failures: Failure[] = [];
    const notImplemented = (_call: unknown, callback: grpc.sendUnaryData<unknown>) =>
      callback({
        code: grpc.status.UNIMPLEMENTED,
        details: 'the double serves only CreateTimeSeries and CreateMetricDescriptor',
      });
    const service = pkg.google.monitoring.v3.MetricService.service;
    const handlers: grpc.UntypedServiceImplementation = {};
    for (const method of Object.keys(service)) handlers[method] = notImplemented;
    handlers.CreateTimeSeries = (
      call: grpc.ServerUnaryCall<CloudMonitoringRequest, object>,
      callback: grpc.sendUnaryData<object>,
    ) => {
      const request = { name: call.request.name, timeSeries: call.request.timeSeries ?? [] };
      attempts.push(request);
      const failure = failures.shift();
      if (failure) {
        callback({ code: failure.code, details: failure.details });
        return;
      }
      requests.push(request);
      callback(null, {});
    };
    const descriptorRequests: CloudMonitoringDescriptorRequest[] = [];
    const descriptorFailures: Failure[] = [];
    // Like Cloud Monitoring, answers with the descriptor; an existing type is updated, so requests are all kept.
    handlers.CreateMetricDescriptor = (
      call: grpc.ServerUnaryCall<CloudMonitoringDescriptorRequest, object>,
      callback: grpc.sendUnaryData<object>,
    ) => {
      const failure = descriptorFailures.shift();
      if (failure) {
        callback({ code: failure.code, details: failure.details });
        return;
      }
      descriptorRequests.push({ name: call.request.name, metricDescriptor: call.request.metricDescriptor });
      callback(null, call.request.metricDescriptor);
    };
    server.addService(service, handlers);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`${host}:0`, grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    return new CloudMonitoringDouble(
      server,
      port,
      requests,
      attempts,
      failures,
      descriptorRequests,
      descriptorFailures,
    );
  }

  /** The next `count` requests are answered with `code` (e.g. grpc.status.UNAVAILABLE). */
  failNext(code: grpc.status, count = 1, details = 'injected by CloudMonitoringDouble'): void {
    for (let i = 0; i < count; i++) this.failures.push({ code, details });
  }

  /** The next `count` CreateMetricDescriptor requests are answered with `code` (failNext is for CreateTimeSeries). */
  failNextDescriptor(code: grpc.status, count = 1, details = 'injected by CloudMonitoringDouble'): void {
    for (let i = 0; i < count; i++) this.descriptorFailures.push({ code, details });
  }

  /** Every time series received in OK requests, in order. */
  get timeSeries(): CloudMonitoringTimeSeries[] {
    return this.requests.flatMap((r) => r.timeSeries);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.tryShutdown(() => resolve()));
  }
}
